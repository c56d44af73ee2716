"""Homeroom assignment rules in the admin: operations edit every campus's, a campus head her own,
the other roles neither; a rule names a homeroom teacher of its campus, one per course and one
for the campus."""

from __future__ import annotations

import pytest
from django.urls import reverse

from schoolops.models import StaffRole
from students.models import HomeroomAssignment
from tests import factories

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:students_homeroomassignment_changelist")
ADD_URL = reverse("admin:students_homeroomassignment_add")


def form(campus, teacher, course=None) -> dict:
    return {"campus": str(campus.pk), "course": str(course.pk) if course else "", "teacher": str(teacher.pk)}


def test_a_campus_head_adds_a_rule_for_a_course_of_her_campus(client, campus_head, campus, course, homeroom):
    client.force_login(campus_head.user)

    response = client.post(ADD_URL, form(campus, homeroom, course))

    assert response.status_code == 302
    rule = HomeroomAssignment.objects.get()
    assert (rule.campus, rule.course, rule.teacher) == (campus, course, homeroom)


def test_a_campus_head_sees_and_picks_only_her_campus(
    client, campus_head, homeroom, other_campus, other_campus_homeroom
):
    HomeroomAssignment.objects.create(campus=other_campus, teacher=other_campus_homeroom)
    client.force_login(campus_head.user)

    assert list(client.get(LIST_URL).context["cl"].result_list) == []
    response = client.post(ADD_URL, form(other_campus, other_campus_homeroom))

    assert response.status_code == 200  # the other campus is no choice
    assert HomeroomAssignment.objects.count() == 1


def test_operations_edit_every_campus(client, operations, other_campus, other_campus_homeroom):
    client.force_login(operations.user)

    assert client.post(ADD_URL, form(other_campus, other_campus_homeroom)).status_code == 302
    assert HomeroomAssignment.objects.get().campus == other_campus


@pytest.mark.parametrize("role", [StaffRole.HOMEROOM, StaffRole.FINANCE, StaffRole.SERVICE])
def test_other_roles_cannot_open_the_rules(client, campus, role):
    staff = factories.make_staff(role=role, campus=campus)
    client.force_login(staff.user)

    assert client.get(LIST_URL).status_code == 403
    assert client.get(ADD_URL).status_code == 403


def test_a_supervisor_reads_the_rules_but_adds_none(client, supervisor, campus, homeroom):
    HomeroomAssignment.objects.create(campus=campus, teacher=homeroom)
    client.force_login(supervisor.user)

    assert client.get(LIST_URL).status_code == 200
    assert client.get(ADD_URL).status_code == 403


@pytest.mark.parametrize("case", ["teacher-elsewhere", "not-homeroom", "course-elsewhere"])
def test_a_rule_names_a_homeroom_teacher_and_a_course_of_its_own_campus(
    client, operations, campus, supervisor, other_campus, other_campus_homeroom, homeroom, case
):
    client.force_login(operations.user)
    data = {
        "teacher-elsewhere": form(campus, other_campus_homeroom),
        "not-homeroom": form(campus, supervisor),
        "course-elsewhere": form(campus, homeroom, factories.make_course(campus=other_campus)),
    }[case]

    response = client.post(ADD_URL, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not HomeroomAssignment.objects.exists()


def test_one_rule_per_course_and_one_for_the_campus(client, operations, campus, course, homeroom, supervisor):
    other = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor)
    HomeroomAssignment.objects.create(campus=campus, teacher=homeroom)
    HomeroomAssignment.objects.create(campus=campus, course=course, teacher=homeroom)
    client.force_login(operations.user)

    for data in (form(campus, other), form(campus, other, course)):
        response = client.post(ADD_URL, data)
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
    assert HomeroomAssignment.objects.count() == 2
