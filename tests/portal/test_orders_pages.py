"""Orders and refunds (订单与退费): the list, one order's breakdown and policy, the estimate."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from orders.models import CourseType, Order, OrderStatus
from portal import selectors
from refunds.models import RefundPolicy, RefundRequest
from refunds.services import refund_approve, refund_cancel, refund_quote, refund_submit
from tests import factories
from tests.refunds.helpers import make_policy

PAGES = ["portal:order", "portal:estimate"]


def _page(client, name: str, *args, **query) -> str:
    response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200
    return response.content.decode()


def _submit(order, *, reason: str = "time_conflict") -> RefundRequest:
    return refund_submit(student=order.student, order_no=order.order_no, reason=reason, details="上班时间调整。")


# --- Who may see what -------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_order_page_loads_for_its_student(logged_in, order, name):
    assert order.course.name in _page(logged_in, name, order.order_no)


@pytest.mark.parametrize("name", PAGES)
def test_another_students_order_answers_404_on_every_page(logged_in, other_student, course, homeroom, name):
    foreign = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    assert logged_in.get(reverse(name, args=[foreign.order_no])).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_an_unknown_order_number_answers_404_on_every_page(logged_in, name):
    assert logged_in.get(reverse(name, args=["NO404"])).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitor_is_sent_to_login_from_every_order_page(client, order, name):
    response = client.get(reverse(name, args=[order.order_no]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", PAGES)
def test_staff_are_sent_to_the_admin_from_every_order_page(client, order, homeroom, name):
    client.force_login(homeroom.user)
    response = client.get(reverse(name, args=[order.order_no]))
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


@pytest.mark.parametrize("name", PAGES)
def test_a_user_who_is_not_a_student_is_refused_every_order_page(client, order, outsider, name):
    client.force_login(outsider)
    assert client.get(reverse(name, args=[order.order_no])).status_code == 403


# --- The list ---------------------------------------------------------------------------------


def test_list_shows_what_is_refundable_now_with_a_link_to_the_breakdown(logged_in, order):
    page = _page(logged_in, "portal:home")
    assert "当前可退" in page
    assert "¥2,700.00" in page  # day 4 of the course, inside the cooling-off window: 3000 less the 10% fee
    assert reverse("portal:order", args=[order.order_no]) in page


def test_list_offers_to_apply_when_something_is_refundable(logged_in, order):
    assert reverse("portal:apply", args=[order.order_no]) in _page(logged_in, "portal:home")


def test_contract_course_says_the_approver_sets_the_amount(logged_in, student, campus, homeroom):
    premium = factories.make_course(campus=campus, course_type=CourseType.PREMIUM)
    factories.make_order(student=student, course=premium, homeroom_teacher=homeroom)
    assert "由审批人按合同确定" in _page(logged_in, "portal:home")


def test_list_shows_the_open_request_and_no_apply_link(logged_in, order):
    request = _submit(order)
    page = _page(logged_in, "portal:home")
    assert request.request_no in page
    assert reverse("portal:request", args=[request.request_no]) in page
    assert "待班主任审核" in page
    assert reverse("portal:apply", args=[order.order_no]) not in page


def test_after_a_cancelled_request_she_may_apply_again(logged_in, order, student):
    request = _submit(order)
    refund_cancel(request_id=request.pk, student=student)
    page = _page(logged_in, "portal:home")
    assert "已撤销" in page
    assert reverse("portal:apply", args=[order.order_no]) in page


def test_nothing_refundable_means_no_apply_link(logged_in, student, campus, homeroom):
    done = factories.make_order(student=student, course=factories.make_course(campus=campus), homeroom_teacher=homeroom)
    Order.objects.filter(pk=done.pk).update(refunded_total=done.amount_paid, status=OrderStatus.REFUNDED)
    page = _page(logged_in, "portal:home")
    assert "¥0.00" in page
    assert reverse("portal:apply", args=[done.order_no]) not in page


def test_a_special_reason_still_offers_the_apply_link_after_the_window(logged_in, student, campus, homeroom):
    """A trial after its start refunds nothing for the generic reason, but its quality rule still would."""
    trial = factories.make_course(campus=campus, course_type=CourseType.TRIAL)  # started 3 days ago
    late = factories.make_order(student=student, course=trial, homeroom_teacher=homeroom)
    page = _page(logged_in, "portal:home")
    assert "¥0.00" in page
    assert reverse("portal:apply", args=[late.order_no]) in page


def test_list_query_count_does_not_grow_with_orders_policies_and_requests(
    logged_in, student, campus, homeroom, django_assert_max_num_queries
):
    factories.make_order(student=student, course=factories.make_course(campus=campus), homeroom_teacher=homeroom)
    # 9 for the orders and their refunds, 1 for the first-lesson questions waiting for her answer.
    with django_assert_max_num_queries(10):
        assert len(logged_in.get(reverse("portal:home")).context["orders"]) == 1
    for index in range(9):
        course_type = list(CourseType.values)[index % len(CourseType.values)]
        course = factories.make_course(campus=campus, course_type=course_type, price="1000.00")
        more = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
        if index % 3 == 0 and course_type != CourseType.TRIAL:
            _submit(more)
    with django_assert_max_num_queries(10):
        response = logged_in.get(reverse("portal:home"))
    assert len(response.context["orders"]) == 10


def test_a_courses_own_policy_wins_over_its_types_on_the_list(logged_in, order):
    make_policy(course=order.course, name="本课程专属规则", tiers=((1, None, "100"),))
    response = logged_in.get(reverse("portal:home"))
    assert response.context["orders"][0].summary.quote.total == Decimal("3000.00")
    assert "本课程专属规则" in _page(logged_in, "portal:order", order.order_no)


def test_a_course_no_policy_covers_says_to_contact_the_service_desk(logged_in, order):
    RefundPolicy.objects.filter(course_type=CourseType.RECORDED).update(is_active=False)
    page = _page(logged_in, "portal:home")
    assert "暂无适用的退费规则，请联系客服。" in page
    assert reverse("portal:apply", args=[order.order_no]) not in page
    assert "暂无适用的退费规则" in _page(logged_in, "portal:order", order.order_no)


def test_list_quotes_are_those_of_the_quoting_service(student, campus, homeroom, order):
    """The list computes its quotes in Python from preloaded policies; they must be the service's own."""
    live = factories.make_course(campus=campus, course_type=CourseType.LIVE, lessons=20)
    factories.make_order(student=student, course=live, homeroom_teacher=homeroom, live_sessions_attended=9)
    small = factories.make_order(
        student=student, course=factories.make_course(campus=campus, price="300.00"), homeroom_teacher=homeroom
    )
    approved = _submit(small)  # below 500: homeroom, the automatic check, then money in flight
    refund_approve(request_id=approved.pk, actor=homeroom.user)
    premium = factories.make_course(campus=campus, course_type=CourseType.PREMIUM)
    factories.make_order(student=student, course=premium, homeroom_teacher=homeroom)
    at = timezone.now()
    for reason in ["time_conflict", "illness"]:
        summaries = selectors.order_summaries_for_student(student=student, reason=reason, at=at)
        assert len(summaries) == 4
        assert any(summary.quote.in_flight > 0 for summary in summaries)
        for summary in summaries:
            loaded = selectors.order_get_for_student(student=student, order_no=summary.order.order_no)
            assert summary.quote == refund_quote(order=loaded, reason=reason, at=at)


# --- One order --------------------------------------------------------------------------------


def test_order_page_explains_every_line_of_the_quote(logged_in, order):
    page = _page(logged_in, "portal:order", order.order_no)
    assert "冷静期全额退费" in page
    assert "3000.00 × 10% = 300.00" in page  # the formula, on demand (查看计算公式)
    assert "¥2,700.00" in page


def test_order_page_describes_the_policy_in_plain_words(logged_in, order):
    page = _page(logged_in, "portal:order", order.order_no)
    assert "录播正价课默认退款规则" in page
    assert "冷静期：开课后 7 天内" in page
    assert "二级及以上医院出具的诊断证明" in page  # the illness rule's evidence


def test_order_page_shows_progress_refunded_and_request_history(logged_in, order, student):
    order.enrollment.lessons_consumed = 4
    order.enrollment.lessons_watched = 4
    order.enrollment.save()
    first = _submit(order)
    refund_cancel(request_id=first.pk, student=student)
    second = _submit(order)
    page = _page(logged_in, "portal:order", order.order_no)
    # One measure, the one the refund counts (a recorded course: lessons watched), in its own unit.
    with translation.override("zh-hans"):
        counted = gettext("Lessons watched: %(used)s of %(lessons)s (%(percent)s%%)") % {
            "used": 4,
            "lessons": 30,
            "percent": "13.33",
        }
    assert counted in page
    assert "已消耗 4 / 30 课时" not in page  # not a second measure beside it
    assert "已退金额" in page
    assert first.request_no in page and second.request_no in page
    assert page.index(second.request_no) < page.index(first.request_no)  # newest first


def test_order_page_query_count_does_not_grow_with_requests(logged_in, order, student, django_assert_max_num_queries):
    # 9 for the order and its refunds, 1 for its first-lesson question if it waits for her answer,
    # 2 for the exchange card (the course type's exchange policy, this order's exchanges).
    with django_assert_max_num_queries(12):
        logged_in.get(reverse("portal:order", args=[order.order_no]))
    for _ in range(4):
        refund_cancel(request_id=_submit(order).pk, student=student)
    with django_assert_max_num_queries(12):
        response = logged_in.get(reverse("portal:order", args=[order.order_no]))
    assert len(response.context["history"]) == 4


# --- The estimate -----------------------------------------------------------------------------


def test_estimate_with_lessons_changes_the_consumption_line(logged_in, order):
    page = _page(logged_in, "portal:estimate", order.order_no, lessons=12)
    assert "已消耗课时扣除" in page
    assert "3000.00 × 12 ÷ 30 = 1200.00" in page
    assert "¥1,620.00" in page  # (3000 − 1200) less 10 %
    assert "¥2,700.00" in page  # the real quote stays next to it


def test_estimate_with_another_number_gives_another_line(logged_in, order):
    page = _page(logged_in, "portal:estimate", order.order_no, lessons=24)
    assert "3000.00 × 24 ÷ 30 = 2400.00" in page
    assert "1200.00" not in page


def test_estimate_for_a_special_reason_names_its_evidence(logged_in, order):
    page = _page(logged_in, "portal:estimate", order.order_no, lessons=12, reason="illness")
    assert "二级及以上医院出具的诊断证明" in page


@pytest.mark.parametrize("lessons", ["31", "-1", "abc", ""])
def test_invalid_lessons_show_the_error_and_no_estimate(logged_in, order, lessons):
    response = logged_in.get(reverse("portal:estimate", args=[order.order_no]), {"lessons": lessons})
    assert response.status_code == 200
    assert "请输入 0 到 30 之间的课时数。" in response.content.decode()
    assert response.context["what_if"] is None


def test_an_unknown_reason_is_a_form_error(logged_in, order):
    response = logged_in.get(reverse("portal:estimate", args=[order.order_no]), {"lessons": 3, "reason": "bored"})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert response.context["what_if"] is None


def test_estimate_form_starts_from_her_recorded_progress(logged_in, order):
    order.enrollment.lessons_watched = 5
    order.enrollment.save()
    response = logged_in.get(reverse("portal:estimate", args=[order.order_no]))
    assert response.context["form"]["lessons"].value() == 5
    assert response.context["what_if"] is None


def test_estimate_query_count_is_bounded(logged_in, order, django_assert_max_num_queries):
    # session, user, student, order, requests, policy ×3 for the real quote, policy ×3 for the estimate, unread
    with django_assert_max_num_queries(12):
        _page(logged_in, "portal:estimate", order.order_no, lessons=12)


# --- Language and navigation ------------------------------------------------------------------


def test_pages_speak_chinese_by_default_with_the_main_menu(logged_in, order):
    page = _page(logged_in, "portal:order", order.order_no)
    for text in ["订单与退费", "站内信", "帮助中心", "现在申请能退多少", "本课程的退费规则"]:
        assert text in page


def test_pages_speak_english_when_chosen(logged_in, order):
    logged_in.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = _page(logged_in, "portal:order", order.order_no)
    assert "Orders and refunds" in page
    assert "What you would get back now" in page


@pytest.mark.django_db
def test_my_requests_lists_every_request_of_hers_only(logged_in, student, other_student, course, homeroom):
    from refunds.services import refund_cancel, refund_submit
    from tests import factories

    first = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    second = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    withdrawn = refund_submit(student=student, order_no=first.order_no, reason="time_conflict", details="冲突")
    refund_cancel(request_id=withdrawn.pk, student=student)
    again = refund_submit(student=student, order_no=first.order_no, reason="time_conflict", details="还是冲突")
    other = refund_submit(student=student, order_no=second.order_no, reason="time_conflict", details="冲突")
    hidden = refund_submit(student=other_student, order_no=theirs.order_no, reason="time_conflict", details="冲突")
    assert reverse("portal:requests") in logged_in.get(reverse("portal:home")).content.decode()
    page = logged_in.get(reverse("portal:requests")).content.decode()
    for mine in (withdrawn, again, other):
        assert reverse("portal:request", args=[mine.request_no]) in page
    assert hidden.request_no not in page
    assert page.index(other.request_no) < page.index(withdrawn.request_no)  # newest first
