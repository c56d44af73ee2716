"""The alert pages in the admin: each kept to the user's campus, acknowledged and closed through
the form, the rules' preview, the course quality review closed, the student's flag cleared, and
the high-risk flag's who / when / why on the approval page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.alerts import alert_rules_run
from analytics.models import Alert, AlertKind, AlertRule, AlertStatus, CourseReview, CourseReviewStatus
from schoolops.models import StaffRole
from students.models import Student
from tests import factories
from tests.refunds.helpers import zh

from .helpers import paid_order, raw_request, sh
from .test_alerts import DAY, D, applications, daily_rate, trailing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

ALERTS = reverse("admin:analytics_alert_changelist")
PREVIEW = reverse("admin:analytics_alertrule_preview")


@pytest.fixture(autouse=True)
def no_shipped_rules():
    AlertRule.objects.all().delete()


@pytest.fixture
def alerts(campus, other_campus, campus_head, supervisor):
    """A course alert at each campus (with its review) and a school-wide spike."""
    north = factories.make_course(campus=campus, price="1000.00")
    south = factories.make_course(campus=other_campus, price="1000.00")
    factories.make_staff(role=StaffRole.SUPERVISOR, campus=other_campus)
    for course in (north, south):
        daily_rate(course, D - 29 * DAY, 30, refunded_amount="300.00")
    trailing(north, 1)
    applications(north, D, 9)
    AlertRule.objects.create(
        name="课程", kind=AlertKind.COURSE_REFUND_RATE, threshold=Decimal("10"), window_days=1, streak_days=30
    )
    AlertRule.objects.create(
        name="全校激增", kind=AlertKind.SPIKE, scope="school", threshold=Decimal("150"), window_days=10, minimum=1
    )
    assert alert_rules_run(today=D + DAY) == 3
    return {
        "north": Alert.objects.get(course=north),
        "south": Alert.objects.get(course=south),
        "school": Alert.objects.get(kind=AlertKind.SPIKE),
    }


def test_a_campus_head_sees_only_her_campus_alerts(client, alerts, campus_head):
    client.force_login(campus_head.user)
    response = client.get(ALERTS)
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {alerts["north"]}
    for other in ("south", "school"):
        url = reverse("admin:analytics_alert_change", args=[alerts[other].pk])
        assert client.get(url).status_code == 404


def test_operations_see_every_alert_and_the_open_counts_on_the_dashboard(client, alerts, campus):
    ops = factories.make_head_office(role=StaffRole.OPERATIONS, campus=campus)
    client.force_login(ops.user)
    assert set(client.get(ALERTS).context["cl"].result_list) == set(alerts.values())
    page = client.get(reverse("admin:analytics_dashboard"))
    assert page.context["risk_counts"] == (3, 2)
    listed = client.get(ALERTS + "?status__in=open,acknowledged")
    assert listed.status_code == 200 and len(listed.context["cl"].result_list) == 3


def test_acknowledge_then_close_through_the_page(client, alerts, campus_head):
    client.force_login(campus_head.user)
    url = reverse("admin:analytics_alert_change", args=[alerts["north"].pk])
    page = client.get(url)
    assert zh("Acknowledge: I am on it") in page.content.decode()
    assert client.post(url, {"action": "acknowledge", "note": "质检已介入"}).status_code == 302
    alert = Alert.objects.get(pk=alerts["north"].pk)
    assert (alert.status, alert.acknowledged_by, alert.note) == (
        AlertStatus.ACKNOWLEDGED,
        campus_head.user,
        "质检已介入",
    )
    refused = client.post(url, {"action": "close", "note": ""})
    assert refused.status_code == 200 and "note" in refused.context["adminform"].form.errors
    assert client.post(url, {"action": "close", "note": "已更换主讲"}).status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.closed_by) == (AlertStatus.CLOSED, campus_head.user)
    # Closed: read-only for everyone.
    assert 'name="action"' not in client.get(url).content.decode()


def test_a_homeroom_teacher_cannot_see_alerts(client, alerts, homeroom):
    client.force_login(homeroom.user)
    assert client.get(ALERTS).status_code == 403


def test_the_review_is_closed_by_its_owner_with_findings_and_an_outcome(client, alerts, supervisor):
    review = CourseReview.objects.get(alert=alerts["north"])
    assert review.owner == supervisor
    client.force_login(supervisor.user)
    url = reverse("admin:analytics_coursereview_change", args=[review.pk])
    data = {
        "owner": supervisor.pk,
        "deadline": review.deadline.isoformat(),
        "findings": "",
        "outcome": "",
        "close": "on",
    }
    refused = client.post(url, data)
    assert refused.status_code == 200
    assert {"findings", "outcome"} <= set(refused.context["adminform"].form.errors)
    data.update(findings="第 3 讲起直播卡顿，讲师迟到。", outcome="teacher_changed", outcome_note="更换讲师")
    assert client.post(url, data).status_code == 302
    review.refresh_from_db()
    assert (review.status, review.closed_by, review.outcome) == (
        CourseReviewStatus.CLOSED,
        supervisor.user,
        "teacher_changed",
    )
    other = CourseReview.objects.get(alert=alerts["south"])
    assert client.get(reverse("admin:analytics_coursereview_change", args=[other.pk])).status_code == 404


def test_operations_preview_a_rule_as_edited_without_saving(client, campus):
    north = factories.make_course(campus=campus)
    today = timezone.localdate()
    trailing_day = today - 10 * DAY
    for n in range(1, 11):
        applications(north, trailing_day - n * DAY, 1)
    applications(north, trailing_day, 6)
    ops = factories.make_head_office(role=StaffRole.OPERATIONS, campus=campus)
    client.force_login(ops.user)
    form = {
        "name": "试算",
        "kind": "spike",
        "scope": "campus",
        "threshold": "150",
        "window_days": "10",
        "streak_days": "1",
        "minimum": "2",
        "is_active": "on",
    }
    response = client.post(PREVIEW, form)
    assert response.status_code == 200
    rows = response.context["preview"].rows
    assert [row.day for row in rows] == [trailing_day]
    assert not AlertRule.objects.exists() and not Alert.objects.exists()
    invalid = client.post(PREVIEW, {**form, "threshold": "-1"})
    assert invalid.context["preview"] is None and "threshold" in invalid.context["form"].errors
    assert client.get(PREVIEW).status_code == 403


def test_a_campus_head_cannot_preview_or_edit_rules(client, campus_head):
    client.force_login(campus_head.user)
    assert client.post(PREVIEW, {"kind": "spike"}).status_code == 403
    assert client.get(reverse("admin:analytics_alertrule_add")).status_code == 403


def test_a_supervisor_flags_and_clears_on_the_student_page(client, student, supervisor, homeroom):
    url = reverse("admin:students_student_high_risk", args=[student.pk])
    client.force_login(homeroom.user)
    assert client.post(url, {"reason": "x"}).status_code == 403
    client.force_login(supervisor.user)
    page = client.get(reverse("admin:students_student_change", args=[student.pk]))
    assert url in page.content.decode() and zh("Flag as high-risk") in page.content.decode()
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert client.post(url, {"reason": "多次恶意退费，已核实"}).status_code == 302
    student.refresh_from_db()
    assert (student.high_risk, student.high_risk_by, student.high_risk_note) == (
        True,
        supervisor.user,
        "多次恶意退费，已核实",
    )
    page = client.get(reverse("admin:students_student_change", args=[student.pk]))
    assert zh("Clear the high-risk flag") in page.content.decode()
    assert "多次恶意退费，已核实" in page.content.decode()
    assert client.post(url, {"reason": "已电话核实，家庭原因"}).status_code == 302
    student.refresh_from_db()
    assert not student.high_risk and student.high_risk_cleared_by == supervisor.user
    assert student.high_risk_cleared_reason == "已电话核实，家庭原因"


def test_the_approval_page_says_who_flagged_the_student_when_and_why(client, campus, homeroom, supervisor):
    course = factories.make_course(campus=campus)
    order = paid_order(course=course, homeroom=homeroom, amount="1000.00", paid_at=sh(2026, 11, 1, 9))
    request = raw_request(order, reason="other", submitted_at=sh(2026, 11, 2, 9), amount="100.00")
    Student.objects.filter(pk=request.student_id).update(
        high_risk=True, high_risk_note="一年内 4 次退费", high_risk_at=sh(2026, 11, 1, 8)
    )
    client.force_login(supervisor.user)
    body = client.get(reverse("admin:refunds_refundrequest_change", args=[request.pk])).content.decode()
    assert "一年内 4 次退费" in body and "2026-11-01 08:00" in body
