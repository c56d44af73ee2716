"""Alert rules: evaluate them on the facts, raise each occurrence once, tell the people, preview.

A rule (``AlertRule``, data edited by operations) says for each day and subject whether its
condition held (``_conditions``). A rule fires when the condition has held ``streak_days`` days in
a row for a subject; the run of days is one occurrence, keyed by the subject and the run's first
day, so a condition that goes on holding fires once and a dip starts a new run. The same engine
answers the nightly run (the days since the rule was last evaluated, at most ``CATCH_UP_DAYS``)
and the preview (the last ``PREVIEW_DAYS`` days, nothing written).

Where the figures come from (all from the daily facts, bounded by the days evaluated, except the
student rule, which reads the requests of the few students approved on those days):

- spike: a day's applications (``RefundFact.applications``) against the average of the
  ``window_days`` days before it, per campus or for the whole school; above ``threshold`` % with
  at least ``minimum`` applications (no applications at all before: any day with ``minimum``);
- high-risk student: on a day a request of hers is approved, her refunds (requests approved,
  being paid or refunded, submitted in the ``window_days`` days up to that day, as the automatic
  check counts them) number more than ``threshold``; since a supervisor cleared her flag, only
  approvals after the clearing count. Raising it flags her (``students.risk``);
- course refund rate: refunded amount ÷ revenue of the ``window_days`` days up to each day, above
  ``threshold`` % with at least ``minimum`` orders in that window, ``streak_days`` days in a row
  (one day at or below resets the streak). Raising it opens a course quality review;
- homeroom teacher's refund rate: the same rate over ``window_days`` for the students of one
  homeroom teacher, more than ``threshold`` times the campus's, with at least ``minimum`` orders.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from notifications.services.outbox import notify
from notifications.services.recipients import campus_robots, recipient_for_user, school_contact, site_url
from orders.models import Course
from refunds.models import MONEY_STATES, RefundRequest, RefundStatus, RefundTransition, RequestKind
from schoolops.errors import ActionRefused
from schoolops.history import history_note
from schoolops.models import Campus, Staff, StaffRole, User
from schoolops.scoping import visible_campus_ids
from students.models import Student
from students.risk import student_flag_high_risk

from .events import ALERT_RAISED
from .models import (
    Alert,
    AlertKind,
    AlertRule,
    AlertScope,
    AlertStatus,
    CourseReview,
    CourseReviewStatus,
    RefundFact,
    RevenueFact,
    ReviewOutcome,
)
from .services import SHANGHAI, local_day

logger = logging.getLogger(__name__)

CATCH_UP_DAYS = 7  # a missed night is caught up; older days are left to the preview
PREVIEW_DAYS = 90
REVIEW_DAYS = 14  # a course quality review's deadline, from the day it is opened
ONE_DAY = datetime.timedelta(days=1)
STAFF_CHANNELS = ("inbox", "email")


@dataclass(frozen=True)
class Condition:
    """A rule's condition held for one subject on one day, with the figures that show it."""

    subject: str  # "campus:3", "school", "student:9", "course:5", "teacher:7"
    figures: dict[str, Any]
    campus_id: int | None = None
    course_id: int | None = None
    teacher_id: int | None = None
    student_id: int | None = None
    occurrence: str = ""  # when set, what makes the occurrence one (else subject + first day)


@dataclass(frozen=True)
class Firing:
    """A rule fired: the condition held ``streak_days`` days in a row, ending on ``day``."""

    rule: AlertRule
    day: datetime.date
    since: datetime.date
    condition: Condition

    @property
    def occurrence(self) -> str:
        return (self.condition.occurrence or f"{self.condition.subject}:{self.since.isoformat()}")[:120]


# --- The engine ----------------------------------------------------------------------------------


def rule_firings(rule: AlertRule, first: datetime.date, last: datetime.date) -> list[Firing]:
    """The occurrences of ``rule`` whose firing day falls in [first, last] (reads, writes nothing).

    The condition is evaluated from ``streak_days`` days before ``first``: a run that reaches its
    length on a day in range has then started on a known day, and a run that was already long
    enough before ``first`` (and has fired then) does not fire again."""
    streak = max(rule.streak_days, 1)
    start = first - datetime.timedelta(days=streak)
    held = _conditions(rule, start, last)
    runs: dict[str, tuple[datetime.date, int]] = {}
    firings: list[Firing] = []
    day = start
    while day <= last:
        today: dict[str, tuple[datetime.date, int]] = {}
        for condition in held.get(day, ()):
            previous = runs.get(condition.subject)
            since, length = (previous[0], previous[1] + 1) if previous else (day, 1)
            today[condition.subject] = (since, length)
            if length == streak and day >= first:
                firings.append(Firing(rule=rule, day=day, since=since, condition=condition))
        runs = today  # a subject whose condition did not hold today starts again
        day += ONE_DAY
    return firings


def _conditions(rule: AlertRule, start: datetime.date, last: datetime.date) -> dict[datetime.date, list[Condition]]:
    evaluate: dict[str, Callable[[AlertRule, datetime.date, datetime.date], dict[datetime.date, list[Condition]]]] = {
        AlertKind.SPIKE: _spike_conditions,
        AlertKind.HIGH_RISK_STUDENT: _high_risk_conditions,
        AlertKind.COURSE_REFUND_RATE: _course_rate_conditions,
        AlertKind.TEACHER_REFUND_RATE: _teacher_rate_conditions,
    }
    return evaluate[rule.kind](rule, start, last)


def _days(first: datetime.date, last: datetime.date) -> Iterable[datetime.date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


def _narrow(queryset: Any, rule: AlertRule) -> Any:
    return queryset.filter(campus_id=rule.campus_id) if rule.campus_id else queryset


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    return (part * 100 / whole).quantize(Decimal("0.1"))


def _spike_conditions(
    rule: AlertRule, start: datetime.date, last: datetime.date
) -> dict[datetime.date, list[Condition]]:
    window = max(rule.window_days, 1)
    facts = _narrow(RefundFact.objects.filter(day__gte=start - datetime.timedelta(days=window), day__lte=last), rule)
    by_campus = rule.scope == AlertScope.CAMPUS
    counts: dict[int | None, dict[datetime.date, int]] = defaultdict(dict)
    if by_campus:
        for row in facts.values("campus_id", "day").annotate(n=Sum("applications")).order_by():
            counts[row["campus_id"]][row["day"]] = row["n"] or 0
    else:
        for row in facts.values("day").annotate(n=Sum("applications")).order_by():
            counts[None][row["day"]] = row["n"] or 0
    held: dict[datetime.date, list[Condition]] = defaultdict(list)
    floor = max(rule.minimum, 1)
    for campus_id, per_day in counts.items():
        for day in _days(start, last):
            count = per_day.get(day, 0)
            if count < floor:
                continue
            trailing = sum(per_day.get(day - datetime.timedelta(days=n), 0) for n in range(1, window + 1))
            average = Decimal(trailing) / window
            percent = _percent(Decimal(count), average) if trailing else None
            if percent is not None and percent <= rule.threshold:
                continue
            held[day].append(
                Condition(
                    subject=f"campus:{campus_id}" if campus_id else "school",
                    campus_id=campus_id,
                    figures={
                        "applications": count,
                        "average": str(average.quantize(Decimal("0.01"))),
                        "percent": str(percent) if percent is not None else None,
                        "window_days": window,
                        "threshold": str(rule.threshold),
                    },
                )
            )
    return held


def _rolling_rates(
    refunded: dict[Any, dict[datetime.date, Decimal]],
    revenue: dict[Any, dict[datetime.date, tuple[Decimal, int]]],
    start: datetime.date,
    last: datetime.date,
    window: int,
) -> dict[Any, dict[datetime.date, tuple[Decimal, Decimal, int]]]:
    """Per key and day in [start, last]: (refunded, revenue, orders) summed over the ``window``
    days ending that day."""
    result: dict[Any, dict[datetime.date, tuple[Decimal, Decimal, int]]] = {}
    for key in set(refunded) | set(revenue):
        amounts, sales = refunded.get(key, {}), revenue.get(key, {})
        sums: dict[datetime.date, tuple[Decimal, Decimal, int]] = {}
        for day in _days(start, last):
            money, paid, orders = Decimal("0"), Decimal("0"), 0
            for n in range(window):
                moment = day - datetime.timedelta(days=n)
                money += amounts.get(moment, Decimal("0"))
                sold = sales.get(moment)
                if sold:
                    paid += sold[0]
                    orders += sold[1]
            sums[day] = (money, paid, orders)
        result[key] = sums
    return result


def _rate_inputs(
    rule: AlertRule, start: datetime.date, last: datetime.date, keys: tuple[str, ...]
) -> tuple[dict[Any, dict[datetime.date, Decimal]], dict[Any, dict[datetime.date, tuple[Decimal, int]]]]:
    """Refunded amounts and (revenue, orders) per day, grouped by ``keys`` (one query each)."""
    first = start - datetime.timedelta(days=max(rule.window_days, 1) - 1)
    refunds = _narrow(RefundFact.objects.filter(day__gte=first, day__lte=last), rule)
    sales = _narrow(RevenueFact.objects.filter(day__gte=first, day__lte=last), rule)
    refunded: dict[Any, dict[datetime.date, Decimal]] = defaultdict(dict)
    for row in refunds.filter(refunded_count__gt=0).values(*keys, "day").annotate(a=Sum("refunded_amount")).order_by():
        refunded[tuple(row[k] for k in keys)][row["day"]] = row["a"] or Decimal("0")
    revenue: dict[Any, dict[datetime.date, tuple[Decimal, int]]] = defaultdict(dict)
    for row in sales.values(*keys, "day").annotate(r=Sum("revenue"), n=Sum("orders")).order_by():
        revenue[tuple(row[k] for k in keys)][row["day"]] = (row["r"] or Decimal("0"), row["n"] or 0)
    return refunded, revenue


def _course_rate_conditions(
    rule: AlertRule, start: datetime.date, last: datetime.date
) -> dict[datetime.date, list[Condition]]:
    window = max(rule.window_days, 1)
    refunded, revenue = _rate_inputs(rule, start, last, ("campus_id", "course_id"))
    held: dict[datetime.date, list[Condition]] = defaultdict(list)
    for (campus_id, course_id), per_day in _rolling_rates(refunded, revenue, start, last, window).items():
        for day, (money, paid, orders) in per_day.items():
            if orders < rule.minimum or paid <= 0:
                continue
            rate = _percent(money, paid)
            if rate <= rule.threshold:
                continue
            held[day].append(
                Condition(
                    subject=f"course:{course_id}",
                    campus_id=campus_id,
                    course_id=course_id,
                    figures={
                        "rate": str(rate),
                        "refunded": str(money),
                        "revenue": str(paid),
                        "orders": orders,
                        "window_days": window,
                        "threshold": str(rule.threshold),
                        "streak_days": rule.streak_days,
                    },
                )
            )
    return held


def _teacher_rate_conditions(
    rule: AlertRule, start: datetime.date, last: datetime.date
) -> dict[datetime.date, list[Condition]]:
    window = max(rule.window_days, 1)
    refunded, revenue = _rate_inputs(rule, start, last, ("campus_id", "teacher_id"))
    teachers = _rolling_rates(refunded, revenue, start, last, window)
    # The campus's own figures are the sums of its teachers' (and of orders without a teacher).
    campus_refunded: dict[Any, dict[datetime.date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    campus_revenue: dict[Any, dict[datetime.date, tuple[Decimal, int]]] = defaultdict(dict)
    for (campus_id, _teacher), amounts in refunded.items():
        for day, amount in amounts.items():
            campus_refunded[campus_id][day] += amount
    for (campus_id, _teacher), sales in revenue.items():
        for day, (paid, orders) in sales.items():
            before = campus_revenue[campus_id].get(day, (Decimal("0"), 0))
            campus_revenue[campus_id][day] = (before[0] + paid, before[1] + orders)
    campuses = _rolling_rates(campus_refunded, campus_revenue, start, last, window)
    held: dict[datetime.date, list[Condition]] = defaultdict(list)
    for (campus_id, teacher_id), sums in teachers.items():
        if teacher_id is None:
            continue
        for day, (money, paid, orders) in sums.items():
            campus_money, campus_paid, _orders = campuses[campus_id][day]
            if orders < rule.minimum or paid <= 0 or campus_paid <= 0 or campus_money <= 0:
                continue
            rate, campus_rate = money / paid, campus_money / campus_paid
            multiple = (rate / campus_rate).quantize(Decimal("0.01"))
            if multiple <= rule.threshold:
                continue
            held[day].append(
                Condition(
                    subject=f"teacher:{teacher_id}",
                    campus_id=campus_id,
                    teacher_id=teacher_id,
                    figures={
                        "rate": str(_percent(money, paid)),
                        "campus_rate": str(_percent(campus_money, campus_paid)),
                        "multiple": str(multiple),
                        "refunded": str(money),
                        "revenue": str(paid),
                        "orders": orders,
                        "window_days": window,
                        "threshold": str(rule.threshold),
                    },
                )
            )
    return held


def _day_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _high_risk_conditions(
    rule: AlertRule, start: datetime.date, last: datetime.date
) -> dict[datetime.date, list[Condition]]:
    window = datetime.timedelta(days=max(rule.window_days, 1))
    approvals = RefundTransition.objects.filter(
        request__kind=RequestKind.REFUND,
        to_status=RefundStatus.APPROVED,
        created_at__gte=_day_start(start),
        created_at__lt=_day_start(last + ONE_DAY),
    )
    if rule.campus_id:
        approvals = approvals.filter(request__campus_id=rule.campus_id)
    approved: dict[int, list[datetime.datetime]] = defaultdict(list)
    for student_id, at in approvals.values_list("request__student_id", "created_at"):
        approved[student_id].append(at)
    if not approved:
        return {}
    students = {
        s.pk: s for s in Student.objects.filter(pk__in=list(approved)).only("pk", "campus_id", "high_risk_cleared_at")
    }
    submitted: dict[int, list[datetime.datetime]] = defaultdict(list)
    requests = RefundRequest.objects.filter(
        kind=RequestKind.REFUND,
        student_id__in=list(approved),
        status__in=[*MONEY_STATES, RefundStatus.REFUNDED],
        submitted_at__gte=_day_start(start) - window,
        submitted_at__lt=_day_start(last + ONE_DAY),
    )
    for student_id, at in requests.values_list("student_id", "submitted_at"):
        submitted[student_id].append(at)
    held: dict[datetime.date, list[Condition]] = defaultdict(list)
    for student_id, moments in approved.items():
        student = students[student_id]
        cleared = student.high_risk_cleared_at
        for day in sorted({local_day(at) for at in moments if cleared is None or at > cleared}):
            end = _day_start(day + ONE_DAY)
            count = sum(1 for at in submitted[student_id] if end - window <= at < end)
            if count <= rule.threshold:
                continue
            held[day].append(
                Condition(
                    subject=f"student:{student_id}",
                    campus_id=student.campus_id,
                    student_id=student_id,
                    figures={"refunds": count, "window_days": rule.window_days, "threshold": str(rule.threshold)},
                    # Once per student until a supervisor clears the flag; then once more.
                    occurrence=f"student:{student_id}:{cleared.isoformat() if cleared else 'never'}",
                )
            )
    return held


# --- Running the rules ---------------------------------------------------------------------------


def alert_rules_run(
    *, today: datetime.date | None = None, kinds: Iterable[str] | None = None, since: datetime.date | None = None
) -> int:
    """The nightly run: every active rule over the whole days since it last ran (yesterday at the
    latest, at most ``CATCH_UP_DAYS`` back); the number of alerts raised. ``since``: from that day
    instead (a backfill after installing or editing rules; what was raised is not raised again)."""
    today = today or local_day(timezone.now())
    through = today - ONE_DAY
    raised = 0
    rules = AlertRule.objects.filter(is_active=True)
    if kinds is not None:
        rules = rules.filter(kind__in=list(kinds))
    for rule in rules:
        first = through - datetime.timedelta(days=CATCH_UP_DAYS - 1)
        if since is not None:
            first = since
        elif rule.evaluated_through is not None:
            first = max(first, rule.evaluated_through + ONE_DAY)
        done = through
        if first <= through:
            count, failed = _raise_all(rule_firings(rule, first, through))
            raised += count
            if failed is not None:  # the next run evaluates that day again (what was raised stays once)
                done = failed - ONE_DAY
        AlertRule.objects.filter(pk=rule.pk).update(evaluated_through=done)
    return raised


def alert_spikes_today(*, today: datetime.date | None = None) -> int:
    """The hourly look at today's applications so far: a spike is told the day it happens."""
    today = today or local_day(timezone.now())
    raised = 0
    for rule in AlertRule.objects.filter(is_active=True, kind=AlertKind.SPIKE):
        raised += _raise_all(rule_firings(rule, today, today))[0]
    return raised


def _raise_all(firings: list[Firing]) -> tuple[int, datetime.date | None]:
    """Raise each firing; the number raised and the first day one could not be (or None)."""
    raised, failed = 0, None
    for firing in firings:
        try:
            if alert_raise(firing) is not None:
                raised += 1
        except Exception:  # one bad occurrence must not stop the others
            logger.exception("Could not raise the alert %s of rule %s.", firing.occurrence, firing.rule.pk)
            failed = firing.day if failed is None else min(failed, firing.day)
    return raised, failed


def alert_raise(firing: Firing, *, now: datetime.datetime | None = None) -> Alert | None:
    """Store the occurrence once, do what its kind does, and tell the people (one transaction).
    None when it was already raised (or the student is already flagged)."""
    now = now or timezone.now()
    condition = firing.condition
    with transaction.atomic():
        if Alert.objects.filter(rule=firing.rule, occurrence=firing.occurrence).exists():
            return None
        if condition.student_id and Student.objects.filter(pk=condition.student_id, high_risk=True).exists():
            return None  # flagged already (by a person, or an earlier rule): nothing new to say
        try:
            with transaction.atomic():  # two runs at once: the second finds the first's row
                alert = Alert.objects.create(
                    rule=firing.rule,
                    kind=firing.rule.kind,
                    occurrence=firing.occurrence,
                    campus_id=condition.campus_id,
                    course_id=condition.course_id,
                    teacher_id=condition.teacher_id,
                    student_id=condition.student_id,
                    day=firing.day,
                    since=firing.since,
                    figures=condition.figures,
                    created_at=now,
                )
        except IntegrityError:
            return None
        if alert.kind == AlertKind.HIGH_RISK_STUDENT and alert.student_id:
            with_note = _("%(count)s refunds in %(days)s days (alert rule “%(rule)s”)") % {
                "count": condition.figures["refunds"],
                "days": condition.figures["window_days"],
                "rule": firing.rule.name,
            }
            student_flag_high_risk(student_id=alert.student_id, note=with_note, at=now)
        if (
            alert.kind == AlertKind.COURSE_REFUND_RATE
            and alert.course_id
            and alert.campus_id
            # One open quality review per course: a course crossing the line again while its
            # review is still open adds the alert, not a second review of the same course.
            and not CourseReview.objects.filter(
                course_id=alert.course_id, campus_id=alert.campus_id, status=CourseReviewStatus.OPEN
            ).exists()
        ):
            _review_open(alert, course_id=alert.course_id, campus_id=alert.campus_id, now=now)
        _tell(alert)
    logger.info("Alert %s raised: %s", alert.pk, alert.occurrence)
    return alert


def _review_open(alert: Alert, *, course_id: int, campus_id: int, now: datetime.datetime) -> CourseReview:
    """A course quality review for the alert, owned by the campus's quality reviewer with the
    fewest open reviews (else its teaching supervisor, else its head)."""
    owner = None
    for role in (StaffRole.QUALITY, StaffRole.SUPERVISOR, StaffRole.CAMPUS_HEAD):
        candidates = list(Staff.objects.active().filter(campus_id=campus_id, role=role).order_by("pk"))
        if candidates:
            open_counts: dict[int, int] = defaultdict(int)
            for owner_id in CourseReview.objects.filter(
                owner__in=candidates, status=CourseReviewStatus.OPEN
            ).values_list("owner_id", flat=True):
                open_counts[owner_id] += 1
            owner = min(candidates, key=lambda staff: (open_counts[staff.pk], staff.pk))
            break
    return CourseReview.objects.create(
        course_id=course_id,
        campus_id=campus_id,
        alert=alert,
        owner=owner,
        deadline=local_day(now) + datetime.timedelta(days=REVIEW_DAYS),
        opened_at=now,
    )


# --- Telling -------------------------------------------------------------------------------------


def alert_audience(alert: Alert) -> list[Staff]:
    """Who is told of an alert (active staff):

    - spike at a campus: its campus heads and teaching supervisors, and operations;
      school-wide: operations and every campus head;
    - high-risk student: the teaching supervisors of her campus (they may clear the flag);
    - course refund rate: the review's owner, the campus heads, and operations;
    - homeroom teacher: the teacher's manager when a supervisor, else the campus's supervisors;
      and the campus heads.
    """
    staff = Staff.objects.active()
    operations = Q(role=StaffRole.OPERATIONS)
    campus = Q(campus_id=alert.campus_id)
    query: Q
    match alert.kind:
        case AlertKind.SPIKE if alert.campus_id is None:
            query = operations | Q(role=StaffRole.CAMPUS_HEAD)
        case AlertKind.SPIKE:
            query = operations | (campus & Q(role__in=[StaffRole.CAMPUS_HEAD, StaffRole.SUPERVISOR]))
        case AlertKind.HIGH_RISK_STUDENT:
            query = campus & Q(role=StaffRole.SUPERVISOR)
        case AlertKind.COURSE_REFUND_RATE:
            review = course_review_of(alert)
            query = operations | (campus & Q(role=StaffRole.CAMPUS_HEAD))
            if review is not None and review.owner_id:
                query |= Q(pk=review.owner_id)
        case _:
            manager = Staff.objects.filter(pk=alert.teacher_id or 0).values_list("manager_id", "manager__role").first()
            if manager and manager[0] and manager[1] == StaffRole.SUPERVISOR:
                query = Q(pk=manager[0])
            else:
                query = campus & Q(role=StaffRole.SUPERVISOR)
            query |= campus & Q(role=StaffRole.CAMPUS_HEAD)
    return list(staff.filter(query).select_related("user").order_by("pk"))


def _tell(alert: Alert) -> None:
    link = site_url(reverse("admin:analytics_alert_change", args=[alert.pk]))

    def context() -> dict[str, str]:  # in each recipient's language
        return {
            "title": str(AlertKind(alert.kind).label),
            "summary": alert_summary(alert),
            "campus": alert.campus.name if alert.campus else _("the whole school"),
            "date": alert.day.isoformat(),
            "link": link,
            "contact": school_contact(),
        }

    key = f"alert:{alert.pk}"
    people = [recipient_for_user(staff.user) for staff in alert_audience(alert)]
    notify(key=key, event=ALERT_RAISED, recipients=people, context=context, channels=STAFF_CHANNELS)
    robots = campus_robots(event=ALERT_RAISED, campus_ids=[alert.campus_id] if alert.campus_id else None)
    notify(key=key, event=ALERT_RAISED, recipients=robots, context=context, channels=("webhook",))


def course_review_of(alert: Alert) -> CourseReview | None:
    """The review the alert opened (read through the relation, so a list that selected it with
    its owner asks nothing more); None for an alert not saved (a preview) or without one."""
    if alert.pk is None:
        return None
    review: CourseReview | None = getattr(alert, "course_review", None)  # the missing relation is an AttributeError
    return review


def alert_summary(alert: Alert) -> str:
    """The alert in one sentence, in the active language, from its stored figures."""
    figures = alert.figures or {}
    scope = alert.campus.name if alert.campus_id and alert.campus else _("the whole school")
    match alert.kind:
        case AlertKind.SPIKE:
            if figures.get("percent") is None:
                return _(
                    "%(scope)s, %(day)s: %(count)s refund applications, with none in the %(window)s days before."
                ) % {
                    "scope": scope,
                    "day": alert.day,
                    "count": figures.get("applications"),
                    "window": figures.get("window_days"),
                }
            return _(
                "%(scope)s, %(day)s: %(count)s refund applications, %(percent)s%% of the daily average of the "
                "%(window)s days before (%(average)s; the rule fires above %(threshold)s%%)."
            ) % {
                "scope": scope,
                "day": alert.day,
                "count": figures.get("applications"),
                "percent": figures.get("percent"),
                "window": figures.get("window_days"),
                "average": figures.get("average"),
                "threshold": _number(figures.get("threshold")),
            }
        case AlertKind.HIGH_RISK_STUDENT:
            return _(
                "%(student)s: %(count)s refunds in %(window)s days (more than %(threshold)s). She is flagged "
                "high-risk: a person decides her refund requests."
            ) % {
                "student": alert.student if alert.student_id else "-",
                "count": figures.get("refunds"),
                "window": figures.get("window_days"),
                "threshold": _number(figures.get("threshold")),
            }
        case AlertKind.COURSE_REFUND_RATE:
            text = _(
                "%(course)s (%(scope)s): refunds were %(rate)s%% of revenue over %(window)s days (¥%(refunded)s ÷ "
                "¥%(revenue)s), above %(threshold)s%% every day for %(days)s days since %(since)s."
            ) % {
                "course": alert.course.name if alert.course_id and alert.course else "-",
                "scope": scope,
                "rate": figures.get("rate"),
                "window": figures.get("window_days"),
                "refunded": figures.get("refunded"),
                "revenue": figures.get("revenue"),
                "threshold": _number(figures.get("threshold")),
                "days": figures.get("streak_days"),
                "since": alert.since,
            }
            review = course_review_of(alert)
            if review is not None:
                # Chinese sentences end in "。" and take no space after it; English ones do.
                text += ("" if text.endswith("。") else " ") + _(
                    "A course quality review is opened for %(owner)s, due %(deadline)s."
                ) % {
                    "owner": review.owner.user if review.owner else _("the campus"),
                    "deadline": review.deadline,
                }
            return text
        case _:
            return _(
                "%(teacher)s (%(scope)s): refunds were %(rate)s%% of her students' revenue over %(window)s days, "
                "%(multiple)s times the campus's %(campus_rate)s%% (the rule fires above %(threshold)s times)."
            ) % {
                "teacher": alert.teacher.user if alert.teacher_id and alert.teacher else "-",
                "scope": scope,
                "rate": figures.get("rate"),
                "window": figures.get("window_days"),
                "multiple": figures.get("multiple"),
                "campus_rate": figures.get("campus_rate"),
                "threshold": _number(figures.get("threshold")),
            }


def _number(value: object) -> str:
    """``"3.00"`` → ``"3"``, ``"2.50"`` → ``"2.5"``: thresholds as people write them."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return f"{number.normalize():f}"


# --- Preview -------------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    day: datetime.date
    since: datetime.date
    subject: str
    summary: str
    already: bool  # this occurrence was raised already


@dataclass
class Preview:
    rule: AlertRule
    first: datetime.date
    last: datetime.date
    rows: list[PreviewRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)


def alert_rule_preview(rule: AlertRule, *, today: datetime.date | None = None, days: int = PREVIEW_DAYS) -> Preview:
    """What ``rule`` (saved or not) would have fired on the last ``days`` whole days; nothing is
    written. The student rule is deduplicated per student, as it fires."""
    today = today or local_day(timezone.now())
    first, last = today - datetime.timedelta(days=days), today - ONE_DAY
    preview = Preview(rule=rule, first=first, last=last)
    raised = set()
    if rule.pk:
        raised = set(Alert.objects.filter(rule_id=rule.pk).values_list("occurrence", flat=True))
    seen: set[str] = set()
    names = _Names()
    for firing in rule_firings(rule, first, last):
        if firing.occurrence in seen:
            continue
        seen.add(firing.occurrence)
        condition = firing.condition
        alert = Alert(
            rule=rule,
            kind=rule.kind,
            occurrence=firing.occurrence,
            campus=names.campus(condition.campus_id),
            course=names.course(condition.course_id),
            teacher=names.teacher(condition.teacher_id),
            student=names.student(condition.student_id),
            day=firing.day,
            since=firing.since,
            figures=condition.figures,
        )
        preview.rows.append(
            PreviewRow(
                day=firing.day,
                since=firing.since,
                subject=str(alert.student or alert.teacher or alert.course or alert.campus or _("the whole school")),
                summary=alert_summary(alert),
                already=firing.occurrence in raised,
            )
        )
    preview.rows.sort(key=lambda row: (row.day, row.subject), reverse=True)
    return preview


class _Names:
    """The objects a preview names, each loaded once."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], Any] = {}

    def _get(self, model: Any, pk: int | None, related: tuple[str, ...] = ()) -> Any:
        if pk is None:
            return None
        key = (model.__name__, pk)
        if key not in self._cache:
            self._cache[key] = model.objects.select_related(*related).filter(pk=pk).first()
        return self._cache[key]

    def campus(self, pk: int | None) -> Campus | None:
        return self._get(Campus, pk)

    def course(self, pk: int | None) -> Course | None:
        return self._get(Course, pk)

    def teacher(self, pk: int | None) -> Staff | None:
        return self._get(Staff, pk, ("user",))

    def student(self, pk: int | None) -> Student | None:
        return self._get(Student, pk, ("user",))


# --- Acting on an alert --------------------------------------------------------------------------

HANDLE_PERMISSION = "analytics.handle_alert"


class AlertRefused(ActionRefused):
    """An alert or review action refused; nothing was changed."""


def alert_acknowledge(*, alert_id: int, actor: User, note: str = "") -> Alert:
    """Someone has seen it and is on it (open → acknowledged)."""
    with transaction.atomic():
        alert = _alert_for(alert_id, actor)
        if alert.status != AlertStatus.OPEN:
            raise AlertRefused(_("Only an open alert can be acknowledged."))
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor
        if note.strip():
            alert.note = note.strip()
        alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "note"])
    return alert


def alert_close(*, alert_id: int, actor: User, note: str) -> Alert:
    """Closed with what was done about it (acknowledged on the way if it was still open)."""
    note = note.strip()
    if not note:
        raise AlertRefused(_("Say what was done about the alert before closing it."))
    with transaction.atomic():
        alert = _alert_for(alert_id, actor)
        if alert.status == AlertStatus.CLOSED:
            raise AlertRefused(_("The alert is already closed."))
        now = timezone.now()
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = now, actor
        alert.status = AlertStatus.CLOSED
        alert.closed_at, alert.closed_by, alert.note = now, actor, note
        alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "note"])
    return alert


def _alert_for(alert_id: int, actor: User) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert_id)
    if not actor.has_perm(HANDLE_PERMISSION) or not can_see_campus(actor, alert.campus_id):
        raise AlertRefused(_("You may not act on alerts of this campus."))
    return alert


def can_see_campus(user: User, campus_id: int | None) -> bool:
    """Staff act on their own campus's alerts; school-wide ones need every campus."""
    ids = visible_campus_ids(user)
    return ids is None or (campus_id is not None and campus_id in ids)


# --- Course quality reviews ----------------------------------------------------------------------

REVIEW_PERMISSION = "analytics.change_coursereview"


def course_review_update(
    *,
    review_id: int,
    actor: User,
    findings: str,
    outcome: str = "",
    outcome_note: str = "",
    owner: Staff | None = None,
    deadline: datetime.date | None = None,
    close: bool = False,
) -> CourseReview:
    """Record the review's findings and outcome (and its owner and deadline); ``close``: the case
    is done, which needs findings and an outcome."""
    with transaction.atomic():
        review = CourseReview.objects.select_for_update().get(pk=review_id)
        if not actor.has_perm(REVIEW_PERMISSION) or not can_see_campus(actor, review.campus_id):
            raise AlertRefused(_("You may not work on reviews of this campus."))
        if review.status == CourseReviewStatus.CLOSED:
            raise AlertRefused(_("The review is closed."))
        if owner is not None and owner.campus_id != review.campus_id:
            raise AlertRefused(_("The owner must work at the course's campus."))
        review.findings, review.outcome, review.outcome_note = findings.strip(), outcome, outcome_note.strip()
        if outcome and outcome not in ReviewOutcome.values:
            raise AlertRefused(_("Unknown outcome: %(outcome)s") % {"outcome": outcome})
        if owner is not None:
            review.owner = owner
        if deadline is not None:
            review.deadline = deadline
        if close:
            missing = [
                str(label) for label, value in ((_("findings"), review.findings), (_("outcome"), outcome)) if not value
            ]
            if missing:
                raise AlertRefused(_("A review closes with its %(missing)s.") % {"missing": _(" and ").join(missing)})
            review.status = CourseReviewStatus.CLOSED
            review.closed_at, review.closed_by = timezone.now(), actor
        history_note(review, user=actor)
        review.save()
    return review
