"""Every model is in the admin; staff see their own campus only, everywhere in it."""

import pytest
from django.contrib import admin
from django.urls import reverse

from schoolops.models import StaffRole
from tests import factories


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


MODELS = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_superuser_can_open_every_models_list(admin_client, order, model):
    assert admin_client.get(_admin_url(model, "changelist")).status_code == 200


def test_every_project_model_is_registered(db):
    from django.apps import apps

    ours = {"schoolops", "orders", "students", "refunds", "notifications"}
    missing = [
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in ours
        and not m._meta.label.split(".")[1].startswith("Historical")
        and m._meta.model_name not in {"ingestionnonce"}
        and m not in admin.site._registry
    ]
    assert missing == []


def test_object_pages_show_history(admin_client, order):
    response = admin_client.get(_admin_url(type(order), "history", order.pk))
    assert response.status_code == 200
    assert order.order_no in response.content.decode()


def test_staff_list_shows_only_their_campus(client, order, other_campus, other_campus_homeroom):
    foreign_student = factories.make_student(campus=other_campus)
    foreign_course = factories.make_course(campus=other_campus)
    foreign = factories.make_order(
        student=foreign_student, course=foreign_course, homeroom_teacher=other_campus_homeroom
    )
    teacher = order.enrollment.homeroom_teacher
    client.force_login(teacher.user)
    page = client.get(_admin_url(type(order), "changelist")).content.decode()
    assert order.order_no in page
    assert foreign.order_no not in page


@pytest.mark.parametrize(("view", "status"), [("change", 404), ("history", 404), ("delete", 403)])
def test_another_campus_order_is_out_of_reach_for_staff(client, order, other_campus_homeroom, view, status):
    client.force_login(other_campus_homeroom.user)
    assert client.get(_admin_url(type(order), view, order.pk)).status_code == status


def test_another_campus_student_history_answers_404(client, student, other_campus_homeroom):
    client.force_login(other_campus_homeroom.user)
    assert client.get(_admin_url(type(student), "history", student.pk)).status_code == 404


def test_operations_see_every_campus(client, order, other_campus, operations):
    foreign_course = factories.make_course(campus=other_campus)
    client.force_login(operations.user)
    page = client.get(_admin_url(type(foreign_course), "changelist")).content.decode()
    assert foreign_course.name in page


def test_teacher_cannot_change_an_order(client, order):
    client.force_login(order.enrollment.homeroom_teacher.user)
    response = client.post(_admin_url(type(order), "change", order.pk), {"amount_paid": "1.00"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.amount_paid == order.course.price


def test_a_student_cannot_enter_the_admin(client, student):
    client.force_login(student.user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302


def test_staff_form_offers_only_visible_campuses(client, campus, other_campus):
    head_office_less = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus)
    head_office_less.user.user_permissions.add(
        *__import__("django.contrib.auth.models", fromlist=["Permission"]).Permission.objects.filter(
            codename__in=["add_staff", "view_staff", "change_staff_role"]
        )
    )
    client.force_login(head_office_less.user)
    response = client.get(_admin_url(type(head_office_less), "add"))
    assert response.status_code == 200
    choices = [c[1] for c in response.context["adminform"].form.fields["campus"].choices]
    assert campus.name in [str(c) for c in choices]
    assert other_campus.name not in [str(c) for c in choices]
