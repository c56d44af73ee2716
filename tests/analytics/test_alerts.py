"""The alert rules at their boundaries, once per occurrence, kept to their campus, told through
the outbox, and acted on (acknowledged, closed; the student's flag cleared; the review closed).

The spike, course and teacher rules read the daily facts: the tests write fact rows by hand (the
facts' own correctness against the raw tables is the rebuild tests' business). The student rule
reads the requests: the tests write requests and their approvals at exact moments.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.alerts import (
    alert_acknowledge,
    alert_close,
    alert_rule_preview,
    alert_rules_run,
    alert_spikes_today,
    course_review_update,
    rule_firings,
)
from analytics.models import (
    Alert,
    AlertKind,
    AlertRule,
    AlertScope,
    AlertStatus,
    CourseReview,
    CourseReviewStatus,
    RefundFact,
    RevenueFact,
)
from notifications.models import Notification, StaffWebhook
from schoolops.errors import ActionRefused
from schoolops.models import StaffRole
from students.models import Student
from students.risk import student_clear_high_risk
from tests import factories

from .helpers import move, raw_request, sh

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

D = datetime.date(2026, 11, 20)  # the day under test
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def no_shipped_rules():
    """Each test makes the rules it tests."""
    AlertRule.objects.all().delete()


def rule(kind: str, **fields) -> AlertRule:
    defaults = {
        AlertKind.SPIKE: {"threshold": Decimal("150"), "window_days": 10, "minimum": 1},
        AlertKind.HIGH_RISK_STUDENT: {"threshold": Decimal("3"), "window_days": 365},
        AlertKind.COURSE_REFUND_RATE: {"threshold": Decimal("10"), "window_days": 1, "streak_days": 30, "minimum": 1},
        AlertKind.TEACHER_REFUND_RATE: {"threshold": Decimal("2"), "window_days": 30, "minimum": 1},
    }[kind]
    return AlertRule.objects.create(name=f"rule {kind}", kind=kind, **{**defaults, **fields})


@pytest.fixture
def courses(campus, other_campus):
    return {
        "north": factories.make_course(campus=campus, price="1000.00"),
        "south": factories.make_course(campus=other_campus, price="1000.00"),
    }


def _fact(model, course, day: datetime.date, teacher=None):
    """The day's one fact row of the course (and teacher): the helpers below add to it."""
    key = {"day": day, "campus_id": course.campus_id, "course": course, "teacher": teacher, "channel": "wechat"}
    if model is RefundFact:
        key["reason"] = "other"
    return model.objects.get_or_create(**key)[0]


def applications(course, day: datetime.date, count: int) -> None:
    fact = _fact(RefundFact, course, day)
    fact.applications += count
    fact.save()


def refunded(course, day: datetime.date, amount: str, *, teacher=None) -> None:
    fact = _fact(RefundFact, course, day, teacher)
    fact.refunded_count += 1
    fact.refunded_amount += Decimal(amount)
    fact.save()


def revenue(course, day: datetime.date, amount: str, *, orders: int = 1, teacher=None) -> None:
    fact = _fact(RevenueFact, course, day, teacher)
    fact.orders += orders
    fact.revenue += Decimal(amount)
    fact.save()


# --- Spike -----------------------------------------------------------------------------------------


def trailing(course, per_day: int, window: int = 10) -> None:
    for n in range(1, window + 1):
        applications(course, D - n * DAY, per_day)


@pytest.mark.parametrize(("count", "fires"), [(1499, False), (1501, True)])
def test_spike_fires_above_150_percent_of_the_trailing_average(courses, count, fires):
    # 10 days of 1,000 applications: average 1,000. 1,499 = 149.9% (quiet); 1,501 = 150.1% (fires).
    trailing(courses["north"], 1000)
    applications(courses["north"], D, count)
    firings = rule_firings(rule(AlertKind.SPIKE), D, D)
    assert bool(firings) is fires
    if fires:
        assert firings[0].condition.figures["percent"] == "150.1"
        assert firings[0].condition.figures["average"] == "1000.00"


def test_spike_counts_each_campus_alone_or_the_school_together(courses):
    # North: average 10, today 12 (120%). South: average 10, today 20 (200%).
    # School: average 20, today 32 (160%).
    trailing(courses["north"], 10)
    trailing(courses["south"], 10)
    applications(courses["north"], D, 12)
    applications(courses["south"], D, 20)
    per_campus = rule_firings(rule(AlertKind.SPIKE), D, D)
    assert [f.condition.campus_id for f in per_campus] == [courses["south"].campus_id]
    school = rule_firings(rule(AlertKind.SPIKE, scope=AlertScope.SCHOOL), D, D)
    assert [(f.condition.subject, f.condition.figures["percent"]) for f in school] == [("school", "160.0")]
    only_north = rule_firings(rule(AlertKind.SPIKE, campus=courses["north"].campus), D, D)
    assert only_north == []


def test_spike_below_the_minimum_stays_quiet(courses):
    applications(courses["north"], D, 4)  # nothing before: any day with the minimum would fire
    assert rule_firings(rule(AlertKind.SPIKE, minimum=5), D, D) == []
    applications(courses["north"], D, 1)
    assert len(rule_firings(rule(AlertKind.SPIKE, minimum=5), D, D)) == 1


def test_a_spike_is_raised_once_stored_with_its_figures_and_told(courses, campus, campus_head, supervisor):
    ops = factories.make_staff(role=StaffRole.OPERATIONS, campus=campus, name="运营")
    factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=courses["south"].campus, name="南校长")
    for person in (ops, campus_head, supervisor):
        person.user.email = f"{person.user.username}@school.example"
        person.user.save()
    robot = StaffWebhook.objects.create(campus=campus, name="北校区群", kind="wecom", url="https://robot.example/x")
    trailing(courses["north"], 2)
    applications(courses["north"], D, 6)  # 300%
    applications(courses["north"], D + DAY, 6)  # the next day too: the same occurrence
    spike = rule(AlertKind.SPIKE)
    assert alert_rules_run(today=D + 2 * DAY) == 1
    assert alert_rules_run(today=D + 2 * DAY) == 0  # fires once, however often it runs
    assert alert_spikes_today(today=D + DAY) == 0
    alert = Alert.objects.get()
    assert (alert.rule, alert.day, alert.since, alert.campus) == (spike, D, D, campus)
    assert alert.figures == {
        "applications": 6,
        "average": "2.00",
        "percent": "300.0",
        "window_days": 10,
        "threshold": "150.00",
    }
    told = Notification.objects.filter(event="analytics.alert", dedupe_key=f"alert:{alert.pk}")
    # The campus's head and supervisor and operations (inbox + e-mail), not the other campus's head; the robot.
    assert {(n.recipient_id, n.channel) for n in told if n.recipient_id} == {
        (person.user_id, channel) for person in (ops, campus_head, supervisor) for channel in ("inbox", "email")
    }
    assert [n.recipient_name for n in told if n.channel == "webhook"] == [robot.name]
    inbox = told.get(recipient_id=campus_head.user_id, channel="inbox")
    assert "300.0%" in inbox.body and "北京海淀校区" in inbox.body
    assert AlertRule.objects.get(pk=spike.pk).evaluated_through == D + DAY


def test_the_hourly_look_tells_a_spike_the_same_day_and_the_night_does_not_repeat_it(courses, campus_head):
    trailing(courses["north"], 2)
    applications(courses["north"], D, 6)
    rule(AlertKind.SPIKE)
    assert alert_spikes_today(today=D) == 1
    assert alert_rules_run(today=D + DAY) == 0
    assert Alert.objects.count() == 1


# --- High-risk student -------------------------------------------------------------------------------


def refunds_of(student, course, homeroom, count: int, *, first: datetime.datetime) -> list:
    """``count`` requests of the student, each approved a day after it was submitted, a week apart."""
    made = []
    for n in range(count):
        order = factories.make_order(
            student=student, course=course, homeroom_teacher=homeroom, amount_paid="1000.00", paid_at=first
        )
        submitted = first + datetime.timedelta(days=7 * n)
        request = raw_request(order, reason="other", submitted_at=submitted, amount="100.00")
        move(request, "pending_homeroom", "approved", submitted + DAY)
        made.append(request)
    return made


@pytest.mark.parametrize(("count", "fires"), [(3, False), (4, True)])
def test_a_student_with_more_than_3_refunds_in_a_year_is_flagged(courses, student, homeroom, supervisor, count, fires):
    refunds_of(student, courses["north"], homeroom, count, first=sh(2026, 10, 1, 10))
    rule(AlertKind.HIGH_RISK_STUDENT)
    assert alert_rules_run(today=datetime.date(2026, 10, 25)) == (1 if fires else 0)
    student.refresh_from_db()
    assert student.high_risk is fires
    if fires:
        alert = Alert.objects.get()
        assert (alert.student, alert.figures["refunds"]) == (student, 4)
        assert student.high_risk_by is None and student.high_risk_at is not None
        assert "4" in student.high_risk_note
        assert "4" in student.high_risk_summary()
        # The supervisor who may clear it is told.
        assert Notification.objects.filter(event="analytics.alert", recipient_id=supervisor.user_id).exists()


def test_refunds_older_than_the_window_do_not_count(courses, student, homeroom):
    # Four refunds, but the first was submitted in August 2025: more than 365 days before the
    # others' approvals (October 2026), so at most 3 count on any day.
    old = refunds_of(student, courses["north"], homeroom, 1, first=sh(2025, 8, 1, 10))
    refunds_of(student, courses["north"], homeroom, 3, first=sh(2026, 10, 1, 10))
    assert old[0].submitted_at < sh(2026, 10, 16, 11) - datetime.timedelta(days=365)
    assert rule_firings(rule(AlertKind.HIGH_RISK_STUDENT), datetime.date(2026, 10, 1), datetime.date(2026, 11, 5)) == []


def test_a_cleared_student_is_flagged_again_only_by_a_later_refund(courses, student, homeroom, supervisor):
    refunds_of(student, courses["north"], homeroom, 4, first=sh(2026, 10, 1, 10))
    rule(AlertKind.HIGH_RISK_STUDENT)
    alert_rules_run(today=datetime.date(2026, 10, 25))
    with pytest.raises(ActionRefused):
        student_clear_high_risk(student_id=student.pk, actor=homeroom.user, reason="核实无误")
    with pytest.raises(ActionRefused):
        student_clear_high_risk(student_id=student.pk, actor=supervisor.user, reason="  ")
    student_clear_high_risk(student_id=student.pk, actor=supervisor.user, reason="家庭原因，已核实")
    student.refresh_from_db()
    assert (student.high_risk, student.high_risk_cleared_by, student.high_risk_cleared_reason) == (
        False,
        supervisor.user,
        "家庭原因，已核实",
    )
    assert student.history.first().history_change_reason == "家庭原因，已核实"
    # The nights after: the same refunds do not flag her again.
    AlertRule.objects.update(evaluated_through=None)
    assert alert_rules_run(today=datetime.date(2026, 10, 25)) == 0
    # A fifth refund, approved after the clearing, does.
    Student.objects.filter(pk=student.pk).update(high_risk_cleared_at=sh(2026, 11, 6, 9))
    later = refunds_of(student, courses["north"], homeroom, 1, first=sh(2026, 11, 6, 10))[0]
    assert later.submitted_at > sh(2026, 11, 6, 9)
    assert alert_rules_run(today=datetime.date(2026, 11, 8)) == 1
    assert Alert.objects.filter(student=student).count() == 2


def test_a_supervisor_of_another_campus_cannot_clear_the_flag(student, other_campus):
    Student.objects.filter(pk=student.pk).update(high_risk=True, high_risk_note="人工标记")
    elsewhere = factories.make_staff(role=StaffRole.SUPERVISOR, campus=other_campus)
    with pytest.raises(ActionRefused):
        student_clear_high_risk(student_id=student.pk, actor=elsewhere.user, reason="x")


# --- Course refund rate ------------------------------------------------------------------------------


def daily_rate(course, first: datetime.date, days: int, *, refunded_amount: str, revenue_amount: str = "1000.00"):
    for n in range(days):
        day = first + n * DAY
        revenue(course, day, revenue_amount)
        if Decimal(refunded_amount):
            refunded(course, day, refunded_amount)


@pytest.mark.parametrize(("days", "fires"), [(29, False), (30, True)])
def test_a_course_above_10_percent_for_30_days_opens_a_review(courses, campus, supervisor, days, fires):
    quality = factories.make_staff(role=StaffRole.QUALITY, campus=campus, name="质检")
    # Each day: revenue 1,000.00, refunds 101.00 = 10.1% (the window is one day here).
    daily_rate(courses["north"], D - (days - 1) * DAY, days, refunded_amount="101.00")
    rule(AlertKind.COURSE_REFUND_RATE)
    raised = alert_rules_run(today=D + DAY)
    assert raised == (1 if fires else 0)
    if fires:
        alert = Alert.objects.get()
        assert (alert.course, alert.since, alert.day, alert.figures["rate"]) == (
            courses["north"],
            D - 29 * DAY,
            D,
            "10.1",
        )
        review = CourseReview.objects.get()
        assert (review.alert, review.owner, review.status, review.deadline) == (
            alert,
            quality,
            CourseReviewStatus.OPEN,
            timezone.localdate() + 14 * DAY,
        )
        assert Notification.objects.filter(event="analytics.alert", recipient_id=quality.user_id).exists()


def test_exactly_10_percent_does_not_count(courses):
    daily_rate(courses["north"], D - 29 * DAY, 30, refunded_amount="100.00")
    assert rule_firings(rule(AlertKind.COURSE_REFUND_RATE), D, D) == []


def test_a_one_day_dip_resets_the_streak(courses):
    # 15 days above, one day at 5%, 29 days above: the longest run is 29 days.
    first = D - 44 * DAY
    daily_rate(courses["north"], first, 15, refunded_amount="200.00")
    daily_rate(courses["north"], first + 15 * DAY, 1, refunded_amount="50.00")
    daily_rate(courses["north"], first + 16 * DAY, 29, refunded_amount="200.00")
    course_rule = rule(AlertKind.COURSE_REFUND_RATE)
    assert rule_firings(course_rule, first, D) == []
    daily_rate(courses["north"], D + DAY, 1, refunded_amount="200.00")  # the 30th day
    firings = rule_firings(course_rule, first, D + DAY)
    assert [(f.day, f.since) for f in firings] == [(D + DAY, first + 16 * DAY)]


def test_a_streak_that_goes_on_fires_once_and_a_new_streak_fires_again(courses):
    course_rule = rule(AlertKind.COURSE_REFUND_RATE, streak_days=3)
    daily_rate(courses["north"], D, 10, refunded_amount="200.00")  # D … D+9 above
    daily_rate(courses["north"], D + 10 * DAY, 1, refunded_amount="0")  # D+10 at 0%
    daily_rate(courses["north"], D + 11 * DAY, 3, refunded_amount="200.00")  # D+11 … D+13
    assert alert_rules_run(today=D + 6 * DAY) == 1  # D … D+5: fired on D+2
    assert alert_rules_run(today=D + 14 * DAY) == 1  # D+6 … D+13: only the new run (on D+13)
    assert list(Alert.objects.order_by("day").values_list("since", "day")) == [
        (D, D + 2 * DAY),
        (D + 11 * DAY, D + 13 * DAY),
    ]
    assert AlertRule.objects.get(pk=course_rule.pk).evaluated_through == D + 13 * DAY


def test_a_new_streak_while_the_course_review_is_open_adds_the_alert_not_a_second_review(courses, supervisor):
    rule(AlertKind.COURSE_REFUND_RATE, streak_days=3)
    daily_rate(courses["north"], D, 10, refunded_amount="200.00")
    daily_rate(courses["north"], D + 10 * DAY, 1, refunded_amount="0")
    daily_rate(courses["north"], D + 11 * DAY, 3, refunded_amount="200.00")
    alert_rules_run(today=D + 6 * DAY)
    first = CourseReview.objects.get()
    alert_rules_run(today=D + 14 * DAY)
    assert Alert.objects.count() == 2
    assert list(CourseReview.objects.all()) == [first]
    # Once its review is closed, the course's next streak opens a new one.
    CourseReview.objects.filter(pk=first.pk).update(status=CourseReviewStatus.CLOSED)
    daily_rate(courses["north"], D + 14 * DAY, 1, refunded_amount="0")
    daily_rate(courses["north"], D + 15 * DAY, 3, refunded_amount="200.00")
    alert_rules_run(today=D + 18 * DAY)
    assert CourseReview.objects.count() == 2


def test_a_course_with_too_few_orders_stays_quiet(courses):
    daily_rate(courses["north"], D - 29 * DAY, 30, refunded_amount="500.00")
    assert rule_firings(rule(AlertKind.COURSE_REFUND_RATE, minimum=2), D, D) == []


# --- Homeroom teacher's rate ---------------------------------------------------------------------------


def test_a_teacher_far_above_the_campus_is_told_to_the_supervisor(courses, campus, campus_head, supervisor, homeroom):
    quiet = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="周老师")
    course = courses["north"]
    # 30 days: homeroom's students 3,000.00 revenue, 900.00 refunded (30%); quiet's 7,000.00, 100.00.
    # Campus: 1,000.00 ÷ 10,000.00 = 10%: homeroom is 3 times it (above 2); quiet 1.43% is not.
    revenue(course, D - 5 * DAY, "3000.00", orders=3, teacher=homeroom)
    refunded(course, D - 2 * DAY, "900.00", teacher=homeroom)
    revenue(course, D - 5 * DAY, "7000.00", orders=7, teacher=quiet)
    refunded(course, D - 2 * DAY, "100.00", teacher=quiet)
    teacher_rule = rule(AlertKind.TEACHER_REFUND_RATE)
    firings = rule_firings(teacher_rule, D - 5 * DAY, D)
    # From the day of the refunds on; it goes on holding, which is the same occurrence.
    assert [(f.day, f.condition.teacher_id, f.condition.figures["multiple"]) for f in firings] == [
        (D - 2 * DAY, homeroom.pk, "3.00")
    ]
    assert firings[0].condition.figures["campus_rate"] == "10.0"
    alert_rules_run(today=D + DAY)
    alert = Alert.objects.get()
    told = set(Notification.objects.filter(dedupe_key=f"alert:{alert.pk}").values_list("recipient_id", flat=True))
    assert told == {supervisor.user_id, campus_head.user_id}  # the teacher's manager and the head


def test_a_teacher_at_exactly_the_multiple_is_not_told(courses, campus, homeroom, supervisor):
    other = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor)
    course = courses["north"]
    # homeroom 200 / 1,000 = 20%; other 0 / 1,000. Campus 200 / 2,000 = 10%: exactly 2 times.
    revenue(course, D - 1 * DAY, "1000.00", teacher=homeroom)
    refunded(course, D - 1 * DAY, "200.00", teacher=homeroom)
    revenue(course, D - 1 * DAY, "1000.00", teacher=other)
    assert rule_firings(rule(AlertKind.TEACHER_REFUND_RATE), D, D) == []


# --- Acting on alerts and reviews ------------------------------------------------------------------------


@pytest.fixture
def raised(courses, campus, supervisor, campus_head):
    daily_rate(courses["north"], D - 29 * DAY, 30, refunded_amount="300.00")
    rule(AlertKind.COURSE_REFUND_RATE)
    alert_rules_run(today=D + DAY)
    return Alert.objects.get()


def test_an_alert_is_acknowledged_then_closed_with_what_was_done(raised, campus_head, other_campus):
    elsewhere = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=other_campus)
    with pytest.raises(ActionRefused):
        alert_acknowledge(alert_id=raised.pk, actor=elsewhere.user)
    alert_acknowledge(alert_id=raised.pk, actor=campus_head.user, note="已安排质检")
    with pytest.raises(ActionRefused):
        alert_close(alert_id=raised.pk, actor=campus_head.user, note=" ")
    alert_close(alert_id=raised.pk, actor=campus_head.user, note="已更换主讲老师")
    raised.refresh_from_db()
    assert (raised.status, raised.acknowledged_by, raised.closed_by, raised.note) == (
        AlertStatus.CLOSED,
        campus_head.user,
        campus_head.user,
        "已更换主讲老师",
    )
    with pytest.raises(ActionRefused):
        alert_close(alert_id=raised.pk, actor=campus_head.user, note="again")


def test_a_review_closes_only_with_findings_and_an_outcome(raised, supervisor, other_campus):
    review = CourseReview.objects.get()
    assert review.owner == supervisor  # no quality reviewer at the campus: the supervisor owns it
    with pytest.raises(ActionRefused):
        course_review_update(review_id=review.pk, actor=supervisor.user, findings="", close=True)
    with pytest.raises(ActionRefused):
        elsewhere = factories.make_staff(role=StaffRole.SUPERVISOR, campus=other_campus)
        course_review_update(review_id=review.pk, actor=elsewhere.user, findings="x")
    course_review_update(
        review_id=review.pk,
        actor=supervisor.user,
        findings="第 3–5 讲直播频繁卡顿，讲师迟到两次。",
        outcome="teacher_changed",
        outcome_note="更换主讲，补课两节。",
        close=True,
    )
    review.refresh_from_db()
    assert (review.status, review.outcome, review.closed_by) == (
        CourseReviewStatus.CLOSED,
        "teacher_changed",
        supervisor.user,
    )
    with pytest.raises(ActionRefused):
        course_review_update(review_id=review.pk, actor=supervisor.user, findings="改")


# --- Preview ----------------------------------------------------------------------------------------------


def test_the_preview_shows_the_last_90_days_and_writes_nothing(courses, campus_head):
    trailing(courses["north"], 2)
    applications(courses["north"], D, 6)
    applications(courses["north"], D - 100 * DAY, 50)  # older than 90 days: not shown
    # (minimum 3: the first of the trailing days, with nothing before them, would fire too)
    unsaved = AlertRule(name="试算", kind=AlertKind.SPIKE, threshold=Decimal("150"), window_days=10, minimum=3)
    preview = alert_rule_preview(unsaved, today=D + 5 * DAY)
    assert [(row.day, row.already) for row in preview.rows] == [(D, False)]
    assert "300.0%" in preview.rows[0].summary
    assert not Alert.objects.exists() and not Notification.objects.filter(event="analytics.alert").exists()
    lower = AlertRule(name="试算", kind=AlertKind.SPIKE, threshold=Decimal("300"), window_days=10, minimum=3)
    assert alert_rule_preview(lower, today=D + 5 * DAY).count == 0  # 300% is not above 300%


def test_the_rule_form_refuses_a_school_wide_rule_of_another_kind():
    from analytics.admin.alerts import AlertRuleForm

    form = AlertRuleForm(
        data={
            "name": "x",
            "kind": "course_refund_rate",
            "scope": "school",
            "threshold": "10",
            "window_days": "30",
            "streak_days": "30",
            "minimum": "0",
            "is_active": "on",
        }
    )
    assert not form.is_valid()
    assert "scope" in form.errors
    zero = AlertRuleForm(
        data={
            "name": "x",
            "kind": "spike",
            "scope": "campus",
            "threshold": "0",
            "window_days": "0",
            "streak_days": "1",
            "minimum": "0",
        }
    )
    assert not zero.is_valid()
    assert {"threshold", "window_days"} <= set(zero.errors)


def test_an_alert_that_could_not_be_raised_is_raised_by_the_next_run(courses, campus_head, monkeypatch):
    from analytics import alerts

    trailing(courses["north"], 2)
    applications(courses["north"], D, 6)
    spike = rule(AlertKind.SPIKE)
    told = alerts._tell

    def down(alert):
        raise ConnectionError("the outbox's database is gone")

    monkeypatch.setattr(alerts, "_tell", down)
    assert alert_rules_run(today=D + 2 * DAY) == 0
    assert not Alert.objects.exists()  # rolled back with the message that could not be written
    assert AlertRule.objects.get(pk=spike.pk).evaluated_through == D - DAY
    monkeypatch.setattr(alerts, "_tell", told)
    assert alert_rules_run(today=D + 2 * DAY) == 1
    assert AlertRule.objects.get(pk=spike.pk).evaluated_through == D + DAY
