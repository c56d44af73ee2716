"""The service metrics (seed 003's service data board, reviewed every week): per homeroom teacher,
per campus and for the campuses in view, for a week from Monday 00:00 to the next Monday 00:00 on
the school's clock (Asia/Shanghai).

Definitions (a task closed because the student left counts nowhere):

- tasks done on time: tasks due in the week; on time = done at or before ``due_at``; late = done
  after it, or still open at ``now`` past it. Rate = on time ÷ (on time + late); a task of the week
  not yet due at ``now`` is left out (only the current week has those);
- first contact in time: the first-contact tasks of orders paid in the week; in time = done within
  the campus's ``first_contact_hours`` (24 by default) of the payment, whatever the task was moved
  to; late = done later, or still open past that at ``now``;
- inactive students followed up: the inactive-student tasks made in the week; in time = done within
  ``FOLLOW_UP_DAYS`` (2) days of being made; late likewise;
- satisfaction: the first-lesson answers given in the week (good / okay / bad and their shares),
  the course ratings sent by the learning platform in the week (their average, 1–5), and the
  service desk's ratings given in the week (of the teacher as the staff member rated; of the
  campus, every one);
- renewal rate: the renewal talks due in the week that ended "renewed" ÷ those due;
- referral rate: the referrals recorded in the week ÷ the active students: those with an order
  that stands now (paid or partly refunded), paid before the week ended, whose course had not
  ended when it began. A campus's referrals and students are by the student's campus; a
  teacher's, the referrals recorded with her as the referrer's homeroom teacher ÷ her students.

Every source is one grouped query whatever the number of teachers: ``service_metrics`` costs 10
queries, ``service_trend`` 7 for any number of weeks (one aggregate column per week and figure);
both take their definitions from the same ``_sums_*`` functions, so a week of the trend is the
week of the table. Rates are computed from the counts, so a campus is exactly the sum of its rows.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Case, Count, DurationField, F, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from orders.models import ACTIVE_ORDER_STATUSES
from schoolops.models import Campus, Staff, StaffRole
from servicedesk.metrics import SATISFIED_FROM
from servicedesk.models import Rating
from students.models import Enrollment, LearningEvent, LearningEventKind

from .models import (
    FeedbackAnswer,
    LessonFeedback,
    Referral,
    RenewalOutcome,
    ServiceSettings,
    ServiceTask,
    TaskKind,
    TaskStatus,
)

FOLLOW_UP_DAYS = 2  # an inactive student is followed up in time within this many days
TREND_WEEKS = 8
ONE_PLACE = Decimal("0.1")
TWO_PLACES = Decimal("0.01")


def _rate(part: int, whole: int) -> Decimal | None:
    """part ÷ whole × 100, 1 place; None when there is nothing to divide by."""
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def _average(total: int, count: int) -> Decimal | None:
    if not count:
        return None
    return (Decimal(total) / count).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ServiceFigures:
    """The counts of a week for a teacher, a campus or the whole view; the rates derive from them."""

    on_time: int = 0
    late: int = 0
    first_contact_in_time: int = 0
    first_contact_late: int = 0
    inactive_in_time: int = 0
    inactive_late: int = 0
    feedback_good: int = 0
    feedback_okay: int = 0
    feedback_bad: int = 0
    course_ratings: int = 0
    course_rating_total: int = 0
    desk_ratings: int = 0
    desk_score_total: int = 0
    desk_satisfied: int = 0
    renewals_due: int = 0
    renewed: int = 0
    referrals: int = 0
    students: int = 0

    @classmethod
    def of(cls, counts: dict[str, Any]) -> ServiceFigures:
        return cls(**{f.name: int(counts.get(f.name) or 0) for f in fields(cls)})

    def __add__(self, other: ServiceFigures) -> ServiceFigures:
        return ServiceFigures(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @property
    def on_time_rate(self) -> Decimal | None:
        return _rate(self.on_time, self.on_time + self.late)

    @property
    def first_contact_rate(self) -> Decimal | None:
        return _rate(self.first_contact_in_time, self.first_contact_in_time + self.first_contact_late)

    @property
    def inactive_rate(self) -> Decimal | None:
        return _rate(self.inactive_in_time, self.inactive_in_time + self.inactive_late)

    @property
    def feedback_answers(self) -> int:
        return self.feedback_good + self.feedback_okay + self.feedback_bad

    @property
    def good_share(self) -> Decimal | None:
        return _rate(self.feedback_good, self.feedback_answers)

    @property
    def okay_share(self) -> Decimal | None:
        return _rate(self.feedback_okay, self.feedback_answers)

    @property
    def bad_share(self) -> Decimal | None:
        return _rate(self.feedback_bad, self.feedback_answers)

    @property
    def course_rating(self) -> Decimal | None:
        """The average course rating (1–5), 2 places."""
        return _average(self.course_rating_total, self.course_ratings)

    @property
    def desk_average(self) -> Decimal | None:
        return _average(self.desk_score_total, self.desk_ratings)

    @property
    def desk_satisfied_rate(self) -> Decimal | None:
        return _rate(self.desk_satisfied, self.desk_ratings)

    @property
    def renewal_rate(self) -> Decimal | None:
        return _rate(self.renewed, self.renewals_due)

    @property
    def referral_rate(self) -> Decimal | None:
        return _rate(self.referrals, self.students)


@dataclass(frozen=True)
class ServiceRow:
    """A teacher or a campus and its figures of the week."""

    pk: int
    label: str
    campus: str  # a teacher's campus; a campus's own name
    figures: ServiceFigures


@dataclass(frozen=True)
class ServiceMetrics:
    week_start: datetime.date  # a Monday
    week_end: datetime.date  # its Sunday
    complete: bool  # the week was over at ``now``
    first_contact_hours: tuple[int, ...]  # the campuses' settings in view (one value: all alike)
    total: ServiceFigures
    by_campus: list[ServiceRow]  # by campus code
    by_teacher: list[ServiceRow]  # by campus code, then name


@dataclass(frozen=True)
class TrendPoint:
    week_start: datetime.date
    figures: ServiceFigures


# --- Weeks --------------------------------------------------------------------------------------


def week_start_of(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - datetime.timedelta(days=day.weekday())


def week_bounds(week_start: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """Monday 00:00 and the next Monday 00:00 of the week, on the school's clock."""
    if week_start.weekday() != 0:
        raise ValueError(f"A service week starts on a Monday; {week_start} is not one.")
    first = timezone.make_aware(datetime.datetime.combine(week_start, datetime.time.min))
    after = timezone.make_aware(datetime.datetime.combine(week_start + datetime.timedelta(days=7), datetime.time.min))
    return first, after


# --- The sums of a week, one per source (the same for the table and the trend) --------------------

Sums = dict[str, Any]


def _within(path: str, first: datetime.datetime, after: datetime.datetime) -> Q:
    return Q(**{f"{path}__gte": first, f"{path}__lt": after})


def _in_time(*, now: datetime.datetime, deadline: str) -> tuple[Q, Q]:
    """(in time, late) for tasks whose deadline is the annotation or field ``deadline``."""
    done = Q(status=TaskStatus.DONE)
    met = done & Q(done_at__lte=F(deadline))
    late = (done & Q(done_at__gt=F(deadline))) | Q(status=TaskStatus.OPEN, **{f"{deadline}__lte": now})
    return met, late


def _sums_tasks(first: datetime.datetime, after: datetime.datetime, now: datetime.datetime) -> Sums:
    due = _within("due_at", first, after)
    paid = Q(kind=TaskKind.FIRST_CONTACT) & _within("enrollment__order__paid_at", first, after)
    made = Q(kind=TaskKind.INACTIVE) & _within("created_at", first, after)
    on_time, late = _in_time(now=now, deadline="due_at")
    contact_met, contact_late = _in_time(now=now, deadline="contact_deadline")
    follow_met, follow_late = _in_time(now=now, deadline="follow_up_deadline")
    renewal = due & Q(kind=TaskKind.RENEWAL)
    return {
        "on_time": Count("pk", filter=due & on_time),
        "late": Count("pk", filter=due & late),
        "first_contact_in_time": Count("pk", filter=paid & contact_met),
        "first_contact_late": Count("pk", filter=paid & contact_late),
        "inactive_in_time": Count("pk", filter=made & follow_met),
        "inactive_late": Count("pk", filter=made & follow_late),
        "renewals_due": Count("pk", filter=renewal),
        "renewed": Count("pk", filter=renewal & Q(renewal_outcome=RenewalOutcome.RENEWED)),
    }


def _sums_feedback(first: datetime.datetime, after: datetime.datetime, now: datetime.datetime) -> Sums:
    answered = _within("answered_at", first, after)
    return {
        f"feedback_{answer}": Count("pk", filter=answered & Q(answer=answer))
        for answer in (FeedbackAnswer.GOOD, FeedbackAnswer.OKAY, FeedbackAnswer.BAD)
    }


def _sums_course_ratings(first: datetime.datetime, after: datetime.datetime, now: datetime.datetime) -> Sums:
    rated = _within("occurred_at", first, after) & Q(kind=LearningEventKind.RATING, rating__isnull=False)
    return {"course_ratings": Count("pk", filter=rated), "course_rating_total": Sum("rating", filter=rated)}


def _sums_desk(first: datetime.datetime, after: datetime.datetime, now: datetime.datetime) -> Sums:
    rated = _within("created_at", first, after)
    return {
        "desk_ratings": Count("pk", filter=rated),
        "desk_score_total": Sum("score", filter=rated),
        "desk_satisfied": Count("pk", filter=rated & Q(score__gte=SATISFIED_FROM)),
    }


def _sums_referrals(first: datetime.datetime, after: datetime.datetime, now: datetime.datetime) -> Sums:
    return {"referrals": Count("pk", filter=_within("recorded_at", first, after))}


def _sums_students(first: datetime.datetime, after: datetime.datetime, now: datetime.datetime) -> Sums:
    active = Q(order__status__in=ACTIVE_ORDER_STATUSES, order__paid_at__lt=after, order__course__ends_at__gte=first)
    return {"students": Count("order__student_id", distinct=True, filter=active)}


# --- The rows each sum reads --------------------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """What the rows are read for: from ``first`` to ``after`` (one week or several), in the
    campuses ``campus_ids`` (None: every one); ``contact_hours``: the campuses whose first-contact
    time is not the default, and theirs."""

    first: datetime.datetime
    after: datetime.datetime
    campus_ids: list[int] | None
    contact_hours: dict[int, int]

    def scoped(self, queryset: QuerySet[Any], path: str) -> QuerySet[Any]:
        return queryset if self.campus_ids is None else queryset.filter(**{f"{path}__in": self.campus_ids})

    def within(self, path: str) -> Q:
        return _within(path, self.first, self.after)


def _first_contact_default() -> int:
    default: int = ServiceSettings._meta.get_field("first_contact_hours").get_default()
    return default


def _span(first: datetime.datetime, after: datetime.datetime, campus_ids: list[int] | None) -> _Span:
    default = _first_contact_default()
    hours = ServiceSettings.objects.exclude(first_contact_hours=default).values_list("campus_id", "first_contact_hours")
    return _Span(first, after, campus_ids, dict(hours))


def _contact_window(hours: dict[int, int]) -> Case | Value:
    """Each campus's first-contact time (``hours``, else the default) as a duration."""
    fallback = Value(datetime.timedelta(hours=_first_contact_default()), output_field=DurationField())
    whens = [When(campus_id=pk, then=Value(datetime.timedelta(hours=h))) for pk, h in sorted(hours.items())]
    if not whens:
        return fallback
    return Case(*whens, default=fallback, output_field=DurationField())


def _tasks(span: _Span) -> QuerySet[Any]:
    """The tasks any week of the span counts, with their two deadlines."""
    rows = span.scoped(ServiceTask.objects.order_by().exclude(status=TaskStatus.CLOSED), "campus_id").filter(
        span.within("due_at")
        | (Q(kind=TaskKind.FIRST_CONTACT) & span.within("enrollment__order__paid_at"))
        | (Q(kind=TaskKind.INACTIVE) & span.within("created_at"))
    )
    return rows.annotate(
        contact_deadline=F("enrollment__order__paid_at") + _contact_window(span.contact_hours),
        follow_up_deadline=F("created_at") + Value(datetime.timedelta(days=FOLLOW_UP_DAYS)),
    )


def _feedback(span: _Span) -> QuerySet[Any]:
    rows = LessonFeedback.objects.order_by().filter(span.within("answered_at"))
    return span.scoped(rows, "enrollment__order__course__campus_id")


def _course_ratings(span: _Span) -> QuerySet[Any]:
    rows = LearningEvent.objects.order_by().filter(span.within("occurred_at"), kind=LearningEventKind.RATING)
    return span.scoped(rows, "enrollment__order__course__campus_id")


def _desk(span: _Span) -> QuerySet[Any]:
    return span.scoped(Rating.objects.order_by().filter(span.within("created_at")), "campus_id")


def _referrals(span: _Span) -> QuerySet[Any]:
    return span.scoped(Referral.objects.order_by().filter(span.within("recorded_at")), "referrer__campus_id")


def _enrollments(span: _Span) -> QuerySet[Any]:
    rows = Enrollment.objects.order_by().filter(
        order__status__in=ACTIVE_ORDER_STATUSES, order__paid_at__lt=span.after, order__course__ends_at__gte=span.first
    )
    return span.scoped(rows, "order__student__campus_id")


@dataclass(frozen=True)
class _Source:
    """One table the figures are read from: its rows in a span, its sums of a week, and the paths
    to the campus and the teacher a row counts for."""

    rows: Callable[[_Span], QuerySet[Any]]
    sums: Callable[[datetime.datetime, datetime.datetime, datetime.datetime], Sums]
    campus: str
    teacher: str


_SOURCES = (
    _Source(_tasks, _sums_tasks, "campus_id", "teacher_id"),
    _Source(_feedback, _sums_feedback, "enrollment__order__course__campus_id", "enrollment__homeroom_teacher_id"),
    _Source(
        _course_ratings, _sums_course_ratings, "enrollment__order__course__campus_id", "enrollment__homeroom_teacher_id"
    ),
    _Source(_desk, _sums_desk, "campus_id", "staff_id"),
    _Source(_referrals, _sums_referrals, "referrer__campus_id", "teacher_id"),
)
# Students are counted apart, distinct per campus and per teacher: a student with two teachers
# is one student of her campus.
_STUDENTS = _Source(_enrollments, _sums_students, "order__student__campus_id", "homeroom_teacher_id")


# --- The week, and the trend ----------------------------------------------------------------------


def service_metrics(
    *, week_start: datetime.date, campus_ids: list[int] | None, now: datetime.datetime | None = None
) -> ServiceMetrics:
    """The week from ``week_start`` (a Monday) in the campuses ``campus_ids`` (None: every one),
    per campus and per homeroom teacher (10 queries)."""
    now = now or timezone.now()
    first, after = week_bounds(week_start)
    span = _span(first, after, campus_ids)
    by_campus: dict[int, Counter[str]] = defaultdict(Counter)
    by_teacher: dict[int, Counter[str]] = defaultdict(Counter)
    for source in _SOURCES:
        rows = source.rows(span).values(group_campus=F(source.campus), group_teacher=F(source.teacher))
        for row in rows.annotate(**source.sums(first, after, now)):
            counts = {k: v or 0 for k, v in row.items() if not k.startswith("group_")}
            if row["group_campus"] is not None:
                by_campus[row["group_campus"]].update(counts)
            if row["group_teacher"] is not None:
                by_teacher[row["group_teacher"]].update(counts)
    for path, tally in ((_STUDENTS.campus, by_campus), (_STUDENTS.teacher, by_teacher)):
        for row in _STUDENTS.rows(span).values(group_key=F(path)).annotate(**_STUDENTS.sums(first, after, now)):
            tally[row["group_key"]]["students"] += row["students"]

    campuses = list(Campus.objects.filter(pk__in=list(by_campus)).order_by("code"))
    teachers = (
        Staff.objects.filter(pk__in=list(by_teacher), role=StaffRole.HOMEROOM)
        .select_related("user", "campus")
        .order_by("campus__code", "user__name", "pk")
    )
    campus_rows = [ServiceRow(c.pk, c.name, c.name, ServiceFigures.of(by_campus[c.pk])) for c in campuses]
    teacher_rows = [ServiceRow(t.pk, t.name, t.campus.name, ServiceFigures.of(by_teacher[t.pk])) for t in teachers]
    default = _first_contact_default()
    hours = {span.contact_hours.get(c.pk, default) for c in campuses} or {default}
    return ServiceMetrics(
        week_start=week_start,
        week_end=week_start + datetime.timedelta(days=6),
        complete=after <= now,
        first_contact_hours=tuple(sorted(hours)),
        total=sum((row.figures for row in campus_rows), ServiceFigures()),
        by_campus=campus_rows,
        by_teacher=teacher_rows,
    )


def service_trend(
    *,
    last_week_start: datetime.date,
    campus_ids: list[int] | None,
    weeks: int = TREND_WEEKS,
    now: datetime.datetime | None = None,
) -> list[TrendPoint]:
    """The ``weeks`` weeks ending with the one from ``last_week_start``, oldest first, for the
    campuses in view together: one query per source (7), a column per week and figure."""
    now = now or timezone.now()
    starts = [last_week_start - datetime.timedelta(days=7 * back) for back in range(weeks - 1, -1, -1)]
    weeks_bounds = [week_bounds(start) for start in starts]
    span = _span(weeks_bounds[0][0], weeks_bounds[-1][1], campus_ids)
    counts: list[Counter[str]] = [Counter() for _start in starts]
    for source in (*_SOURCES, _STUDENTS):
        columns: dict[str, Any] = {}
        for index, (first, after) in enumerate(weeks_bounds):
            for name, aggregate in source.sums(first, after, now).items():
                columns[f"{name}_w{index}"] = aggregate
        for column, value in source.rows(span).aggregate(**columns).items():
            name, week = column.rsplit("_w", 1)
            counts[int(week)][name] += value or 0
    return [TrendPoint(start, ServiceFigures.of(c)) for start, c in zip(starts, counts, strict=True)]


def service_figures_plain(figures: ServiceFigures) -> dict[str, int]:
    """The counts as JSON (the weekly review keeps them; ``ServiceFigures.of`` reads them back)."""
    return {f.name: getattr(figures, f.name) for f in fields(figures)}
