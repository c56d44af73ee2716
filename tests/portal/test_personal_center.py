"""The personal-center landing page: her own orders, in Chinese by default."""

from django.urls import reverse

from tests import factories


def test_anonymous_visitor_is_sent_to_login(client, db):
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_student_sees_her_orders_with_progress(client, student, order):
    order.enrollment.lessons_consumed = 12
    order.enrollment.save()
    client.force_login(student.user)
    page = client.get(reverse("portal:home")).content.decode()
    assert order.order_no in page
    assert order.course.name in page
    assert "12" in page and "30" in page


def test_student_never_sees_another_students_order(client, student, order, other_student, course, homeroom):
    foreign = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    client.force_login(student.user)
    page = client.get(reverse("portal:home")).content.decode()
    assert order.order_no in page
    assert foreign.order_no not in page


def test_page_speaks_chinese_by_default_and_english_when_chosen(client, student, order):
    client.force_login(student.user)
    assert "我的订单" in client.get(reverse("portal:home")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": reverse("portal:home")})
    assert "My orders" in client.get(reverse("portal:home")).content.decode()


def test_staff_are_sent_to_the_admin(client, homeroom):
    client.force_login(homeroom.user)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_a_user_who_is_neither_student_nor_staff_is_refused(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("portal:home")).status_code == 403


def test_query_count_does_not_grow_with_orders(client, student, course, homeroom, django_assert_max_num_queries):
    # session, user, student, orders, their refund requests, policies, tiers, special rules, unread count,
    # the first-lesson questions waiting for her answer
    client.force_login(student.user)
    factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    with django_assert_max_num_queries(10):
        client.get(reverse("portal:home"))
    for _ in range(10):
        factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("portal:home"))
    assert len(response.context["orders"]) == 11


def test_health_check_answers(client, db):
    assert client.get("/healthz").content == b"ok"
