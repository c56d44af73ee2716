"""The referral list in the admin (service.admin.referrals): read-only, kept to the referrer's
campus, with the referrals per student and per homeroom teacher of the rows it shows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from schoolops.models import StaffRole
from service.models import Referral, ServiceSettings
from service.selectors import referral_counts
from service.services import referral_code_for, referral_record
from tests import factories

pytestmark = pytest.mark.django_db

LIST = reverse("admin:service_referral_changelist")


def change(referral: Referral) -> str:
    return reverse("admin:service_referral_change", args=[referral.pk])


@pytest.fixture
def referrals(campus, other_campus, course, homeroom, other_campus_homeroom, supervisor):
    """北京海淀校区: 王小明 (孙老师's student) brought two friends, 陈小红 (周老师's) one;
    上海徐汇校区: 赵南南 (吴老师's) brought one."""
    ServiceSettings.objects.create(campus=campus, referrer_reward=Decimal("300.00"), referee_reward=Decimal("150.00"))
    colleague = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="周老师")
    south_course = factories.make_course(campus=other_campus)

    def student_of(teacher, course, name):
        student = factories.make_student(campus=course.campus, name=name)
        factories.make_order(student=student, course=course, homeroom_teacher=teacher)
        return student

    wang = student_of(homeroom, course, "王小明")
    chen = student_of(colleague, course, "陈小红")
    zhao = student_of(other_campus_homeroom, south_course, "赵南南")

    def refer(referrer, name, course, teacher):
        friend = factories.make_student(campus=course.campus, name=name)
        order = factories.make_order(student=friend, course=course, homeroom_teacher=teacher)
        return referral_record(order=order, code=referral_code_for(student=referrer).code, at=timezone.now())

    made = {
        "wang1": refer(wang, "新生甲", course, homeroom),
        "wang2": refer(wang, "新生乙", course, colleague),
        "chen": refer(chen, "新生丙", course, homeroom),
        "zhao": refer(zhao, "新生丁", south_course, other_campus_homeroom),
    }
    return {**made, "wang_student": wang, "chen_student": chen, "zhao_student": zhao, "colleague": colleague}


def test_a_campus_head_lists_her_campuss_referrals_with_both_sides_teacher_and_rewards(
    client, campus_head, referrals, homeroom
):
    client.force_login(campus_head.user)
    response = client.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("王小明", "陈小红", "新生甲", "新生乙", "新生丙", homeroom.name, "周老师", "300.00", "150.00"):
        assert name in page
    assert "赵南南" not in page and "新生丁" not in page
    assert client.get(change(referrals["zhao"])).status_code == 404


def test_the_summary_counts_per_student_and_per_teacher(client, campus_head, referrals, homeroom):
    client.force_login(campus_head.user)
    counts = client.get(LIST).context["referral_counts"]
    assert [(row.label, row.referrals, row.rewards) for row in counts.by_student] == [
        (f"王小明 ({referrals['wang_student'].student_no})", 2, Decimal("600.00")),
        (f"陈小红 ({referrals['chen_student'].student_no})", 1, Decimal("300.00")),
    ]
    # The referrer's homeroom teacher: 孙老师 for 王小明's two, 周老师 for 陈小红's one.
    assert [(row.label, row.referrals, row.rewards) for row in counts.by_teacher] == [
        (homeroom.name, 2, Decimal("900.00")),
        ("周老师", 1, Decimal("450.00")),
    ]


def test_the_summary_follows_the_lists_filters(client, campus_head, referrals, homeroom):
    client.force_login(campus_head.user)
    response = client.get(LIST, {"teacher__id__exact": referrals["colleague"].pk})
    counts = response.context["referral_counts"]
    assert [(row.referrals, row.label) for row in counts.by_teacher] == [(1, "周老师")]
    assert "新生甲" not in response.content.decode()


def test_operations_see_every_campus_and_may_filter_by_campus(client, operations, referrals, other_campus):
    client.force_login(operations.user)
    page = client.get(LIST).content.decode()
    assert "新生丁" in page and "新生甲" in page
    narrowed = client.get(LIST, {"campus": other_campus.pk}).content.decode()
    assert "新生丁" in narrowed and "新生甲" not in narrowed


def test_the_teacher_filter_offers_only_the_teachers_in_view(client, campus_head, referrals, other_campus_homeroom):
    client.force_login(campus_head.user)
    page = client.get(LIST).content.decode()
    assert f"teacher__id__exact={referrals['colleague'].pk}" in page
    assert f"teacher__id__exact={other_campus_homeroom.pk}" not in page


def test_the_list_is_read_only(client, campus_head, referrals):
    client.force_login(campus_head.user)
    page = client.get(LIST).content.decode()
    assert reverse("admin:service_referral_add") not in page
    assert client.get(reverse("admin:service_referral_add")).status_code == 403
    referral = referrals["wang1"]
    assert client.get(change(referral)).status_code == 200
    assert client.post(change(referral), {"code": "HACKED"}).status_code == 403
    referral.refresh_from_db()
    assert referral.code != "HACKED"


def test_a_homeroom_teacher_sees_the_list_and_finance_does_not(client, homeroom, finance, referrals):
    client.force_login(homeroom.user)
    assert client.get(LIST).status_code == 200
    client.force_login(finance.user)
    assert client.get(LIST).status_code == 403


def test_the_counts_cost_two_queries(referrals, django_assert_num_queries):
    with django_assert_num_queries(2):
        counts = referral_counts(referrals=Referral.objects.all())
    assert sum(row.referrals for row in counts.by_student) == 4


def test_the_list_page_costs_the_same_however_many_referrals(client, campus_head, referrals, course, homeroom):
    client.force_login(campus_head.user)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    for n in range(5):
        friend = factories.make_student(campus=course.campus, name=f"又一位{n}")
        order = factories.make_order(student=friend, course=course, homeroom_teacher=homeroom)
        referral_record(order=order, code=referral_code_for(student=referrals["wang_student"]).code, at=timezone.now())
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)
    assert len(many) == len(few)
