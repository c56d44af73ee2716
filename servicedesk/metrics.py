"""The service desk's hot spots and figures (seed 002, dispute data analysis): pure reads for the
analytics dashboard, over the tickets registered (``created_at``) and the ratings given
(``Rating.created_at``) from ``start`` to ``end`` (school days, Asia/Shanghai, inclusive), in the
campuses ``campus_ids`` (None: every campus; the caller scopes them to its user).

Definitions:

- complaints: complaints and refund disputes (``COMPLAINT_CATEGORIES``);
- by root cause: the tickets reviewed with one (archived complaints always have one);
- course of a ticket: the course concerned noted at the review (``root_course``, which the review
  fills from the order when left empty), else the order's course; teacher: the teacher concerned
  (``root_teacher``), else the homeroom teacher of the order's enrollment. A ticket with neither
  counts in no course (teacher) row, but in the period's totals;
- hot spots: the 10 courses (teachers) with the most complaints, then the most tickets; share =
  their complaints / all the period's complaints × 100;
- first response time: ``first_response_seconds`` (business seconds from the contact to our first
  public reply, on the campus's desk clock) of the period's answered tickets; resolution time:
  ``resolution_seconds`` (contact to solution, less the time spent waiting for the student) of those
  resolved. Median and p90 interpolate linearly between the closest ranks (as PostgreSQL's
  ``percentile_cont``): position (n − 1) × p of the sorted values, counted from 0;
- SLA met: judged against the campus's targets (``DeskSettings``, else its defaults) in business
  seconds, the same arithmetic as the deadline itself (``response_due_at`` is the contact plus the
  target on the desk clock), so "answered by the deadline" is exactly ``first_response_seconds <=
  target``. The deadline cannot be read back (it is cleared once answered), and the escalation
  rows exist only where the beat ran; the targets can. Reply: 30 min for urgent tickets, else 4 h
  (settings); resolution: 48 h for complaints, else 72 h. Late: answered (resolved) after the
  target, or still waiting for it past its deadline at ``now`` (a resolution clock paused for the
  student is not late). Met % = met / (met + late) × 100; tickets not yet due are left out. The
  targets are today's settings and the ticket's current priority: a changed setting judges the
  past by the new target;
- CSAT: ratings (of tickets and of refunds) given in the period: average score (1–5), satisfied
  (满意率) = scores 4 and 5 / ratings × 100, per campus and per staff member rated.

Every figure is one aggregate query (a grouping at most), whatever the number of tickets: a
period costs 8 queries (``desk_metrics``) or 4 (``desk_indicators``). The percentiles count first,
then read only the one or two middle rows around each position with a row-number window, which
PostgreSQL and SQLite (``make run``) both run; no ticket list is brought into Python.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.db.models import (
    Case,
    Count,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce, NullIf, RowNumber
from django.utils import timezone

from .models import (
    ACTIVE_STATUSES,
    COMPLAINT_CATEGORIES,
    DeskSettings,
    Rating,
    RootCause,
    Ticket,
    TicketCategory,
    TicketPriority,
)

TOP = 10
MEDIAN = Decimal("0.5")
P90 = Decimal("0.9")
SATISFIED_FROM = 4  # scores 4 and 5 count as satisfied
ONE_PLACE = Decimal("0.1")
TWO_PLACES = Decimal("0.01")


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Clock:
    """One SLA clock (first response or resolution) over a period's tickets."""

    measured: int  # tickets with the time (answered / resolved)
    median_seconds: Decimal | None  # business seconds; None when nothing was measured
    p90_seconds: Decimal | None
    met: int
    late: int  # after the target, or still open past the deadline

    @property
    def met_rate(self) -> Decimal | None:
        """met / (met + late) × 100, 1 place."""
        return _percent(self.met, self.met + self.late)


@dataclass(frozen=True)
class Satisfaction:
    ratings: int
    score_total: int
    satisfied: int  # scores 4–5

    @property
    def average(self) -> Decimal | None:
        """The average score, 2 places."""
        if not self.ratings:
            return None
        return (Decimal(self.score_total) / self.ratings).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)

    @property
    def satisfied_rate(self) -> Decimal | None:
        """满意率: scores 4–5 / ratings × 100, 1 place."""
        return _percent(self.satisfied, self.ratings)


@dataclass(frozen=True)
class DeskIndicators:
    tickets: int  # registered in the period
    complaints: int  # of which complaints and refund disputes
    response: Clock
    resolution: Clock
    satisfaction: Satisfaction


@dataclass(frozen=True)
class CountRow:
    key: str  # the TicketCategory / RootCause value
    label: str
    count: int
    share: Decimal | None  # of the rows' total, %, 1 place


@dataclass(frozen=True)
class HotSpot:
    """A course or a teacher and the tickets it gave rise to."""

    pk: int
    label: str
    tickets: int
    complaints: int
    share: Decimal | None  # of the period's complaints, %, 1 place


@dataclass(frozen=True)
class RatedRow:
    """A campus or a staff member and the ratings they were given."""

    pk: int
    label: str
    satisfaction: Satisfaction


@dataclass(frozen=True)
class DeskMetrics:
    start: datetime.date
    end: datetime.date
    indicators: DeskIndicators
    by_category: list[CountRow]
    by_root_cause: list[CountRow]
    reviewed: int  # tickets with a root cause (the root-cause rows' total)
    courses: list[HotSpot]  # at most TOP
    teachers: list[HotSpot]
    by_campus: list[RatedRow]  # by average score, best first
    by_staff: list[RatedRow]  # every staff member rated, best first


# --- the rows read ----------------------------------------------------------------------------


def _moment(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def period_bounds(start: datetime.date, end: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The first moment of ``start`` and the first moment after ``end``, on the school's clock."""
    return _moment(start), _moment(end + datetime.timedelta(days=1))


def _scoped(queryset: QuerySet[Any], start: datetime.date, end: datetime.date, campus_ids: list[int] | None) -> Any:
    first, after = period_bounds(start, end)
    queryset = queryset.filter(created_at__gte=first, created_at__lt=after)
    if campus_ids is not None:
        queryset = queryset.filter(campus_id__in=campus_ids)
    return queryset


def period_tickets(*, start: datetime.date, end: datetime.date, campus_ids: list[int] | None) -> QuerySet[Ticket]:
    result: QuerySet[Ticket] = _scoped(Ticket.objects.order_by(), start, end, campus_ids)
    return result


def period_ratings(*, start: datetime.date, end: datetime.date, campus_ids: list[int] | None) -> QuerySet[Rating]:
    result: QuerySet[Rating] = _scoped(Rating.objects.order_by(), start, end, campus_ids)
    return result


# --- the clocks ---------------------------------------------------------------------------------


def _default(field: str) -> int:
    """The setting of a campus without a settings row (as ``desk_settings_for`` gives it)."""
    return int(getattr(DeskSettings(), field))


def _setting(field: str) -> Coalesce:
    """The ticket's campus's setting, or its default where the campus has no settings row."""
    return Coalesce(F(f"campus__desk_settings__{field}"), Value(_default(field)), output_field=IntegerField())


def _response_target() -> ExpressionWrapper[CombinedExpression]:
    minutes = Case(
        When(priority=TicketPriority.URGENT, then=_setting("urgent_response_minutes")),
        default=_setting("response_minutes"),
        output_field=IntegerField(),
    )
    return ExpressionWrapper(minutes * 60, output_field=IntegerField())


def _resolution_target() -> ExpressionWrapper[CombinedExpression]:
    hours = Case(
        When(category__in=COMPLAINT_CATEGORIES, then=_setting("complaint_resolution_hours")),
        default=_setting("resolution_hours"),
        output_field=IntegerField(),
    )
    return ExpressionWrapper(hours * 3600, output_field=IntegerField())


def _quantiles(tickets: QuerySet[Ticket], field: str, count: int) -> tuple[Decimal | None, Decimal | None]:
    """The median and p90 of ``field`` over ``tickets`` (``count`` of them have it), reading only
    the rows at the ranks needed."""
    if not count:
        return None, None
    places = []
    for quantile in (MEDIAN, P90):
        position = (count - 1) * quantile
        low = int(position)
        places.append((low, position - low))
    ranks = {low + 1 for low, _ in places} | {low + 2 for low, fraction in places if fraction}
    values = dict(
        tickets.filter(**{f"{field}__isnull": False})
        .annotate(rank=Window(RowNumber(), order_by=F(field).asc()))
        .filter(rank__in=sorted(ranks))
        .values_list("rank", field)
    )
    found: list[Decimal | None] = []
    for low, fraction in places:
        below = values.get(low + 1)
        above = values.get(low + 2) if fraction else below
        if below is None or above is None:
            # The count and these rows are two reads: a ticket reopened in between (its time
            # cleared) can leave a rank empty. No figure this once rather than a wrong one.
            found.append(None)
            continue
        found.append(Decimal(below) + (Decimal(above) - Decimal(below)) * fraction)
    return found[0], found[1]


def _satisfaction(values: dict[str, Any]) -> Satisfaction:
    return Satisfaction(
        ratings=int(values["ratings"] or 0),
        score_total=int(values["score_total"] or 0),
        satisfied=int(values["satisfied"] or 0),
    )


RATING_SUMS = {
    "ratings": Count("pk"),
    "score_total": Sum("score"),
    "satisfied": Count("pk", filter=Q(score__gte=SATISFIED_FROM)),
}


def desk_indicators(
    *,
    start: datetime.date,
    end: datetime.date,
    campus_ids: list[int] | None,
    now: datetime.datetime | None = None,
    satisfaction: Satisfaction | None = None,
) -> DeskIndicators:
    """The headline figures of a period (4 queries; 3 when ``satisfaction`` is given)."""
    now = now or timezone.now()
    tickets = period_tickets(start=start, end=end, campus_ids=campus_ids)
    answered = Q(first_response_seconds__isnull=False)
    resolved = Q(resolution_seconds__isnull=False)
    sums = tickets.annotate(response_target=_response_target(), resolution_target=_resolution_target()).aggregate(
        tickets=Count("pk"),
        complaints=Count("pk", filter=Q(category__in=COMPLAINT_CATEGORIES)),
        answered=Count("pk", filter=answered),
        response_met=Count("pk", filter=answered & Q(first_response_seconds__lte=F("response_target"))),
        response_late=Count(
            "pk",
            filter=(answered & Q(first_response_seconds__gt=F("response_target")))
            | Q(first_response_at__isnull=True, response_due_at__lte=now),
        ),
        resolved=Count("pk", filter=resolved),
        resolution_met=Count("pk", filter=resolved & Q(resolution_seconds__lte=F("resolution_target"))),
        resolution_late=Count(
            "pk",
            filter=(resolved & Q(resolution_seconds__gt=F("resolution_target")))
            | Q(
                resolution_seconds__isnull=True,
                status__in=ACTIVE_STATUSES,
                paused_at__isnull=True,
                resolution_due_at__lte=now,
            ),
        ),
    )
    response_median, response_p90 = _quantiles(tickets, "first_response_seconds", sums["answered"])
    resolution_median, resolution_p90 = _quantiles(tickets, "resolution_seconds", sums["resolved"])
    if satisfaction is None:
        satisfaction = _satisfaction(
            period_ratings(start=start, end=end, campus_ids=campus_ids).aggregate(**RATING_SUMS)
        )
    return DeskIndicators(
        tickets=sums["tickets"],
        complaints=sums["complaints"],
        response=Clock(sums["answered"], response_median, response_p90, sums["response_met"], sums["response_late"]),
        resolution=Clock(
            sums["resolved"], resolution_median, resolution_p90, sums["resolution_met"], sums["resolution_late"]
        ),
        satisfaction=satisfaction,
    )


# --- the breakdowns -----------------------------------------------------------------------------


def _nonempty(path: str) -> NullIf:
    """The text at ``path``, NULL when empty (so that a Coalesce passes over it)."""
    return NullIf(F(path), Value(""))


def _count_rows(counts: dict[str, int], labels: dict[str, str]) -> list[CountRow]:
    total = sum(counts.values())
    rows = [CountRow(key, labels.get(key, key), n, _percent(n, total)) for key, n in counts.items() if n]
    rows.sort(key=lambda row: (-row.count, row.key))
    return rows


def _hot_spots(tickets: QuerySet[Ticket], key: Expression, label: Expression, complaints_total: int) -> list[HotSpot]:
    """The TOP keys by complaints, then tickets (ties by pk), counted and sorted in the database."""
    rows = (
        tickets.annotate(spot=key, spot_label=label)
        .filter(spot__isnull=False)
        .values("spot", "spot_label")
        .annotate(tickets=Count("pk"), complaints=Count("pk", filter=Q(category__in=COMPLAINT_CATEGORIES)))
        .order_by("-complaints", "-tickets", "spot")[:TOP]
    )
    return [
        HotSpot(
            pk=row["spot"],
            label=row["spot_label"] or str(row["spot"]),
            tickets=row["tickets"],
            complaints=row["complaints"],
            share=_percent(row["complaints"], complaints_total),
        )
        for row in rows
    ]


def _rated_rows(ratings: QuerySet[Rating], key: str, *labels: str) -> list[RatedRow]:
    rows = [
        RatedRow(
            pk=row[key],
            label=next((str(row[name]) for name in labels if row[name]), str(row[key])),
            satisfaction=_satisfaction(row),
        )
        for row in ratings.filter(**{f"{key}__isnull": False}).values(key, *labels).annotate(**RATING_SUMS)
    ]
    # Best first: the exact average (score total / ratings), then more ratings, then the name.
    rows.sort(
        key=lambda r: (-Fraction(r.satisfaction.score_total, r.satisfaction.ratings), -r.satisfaction.ratings, r.label)
    )
    return rows


def desk_metrics(
    *, start: datetime.date, end: datetime.date, campus_ids: list[int] | None, now: datetime.datetime | None = None
) -> DeskMetrics:
    """Everything the dashboard's service desk section shows for a period (8 queries)."""
    tickets = period_tickets(start=start, end=end, campus_ids=campus_ids)
    ratings = period_ratings(start=start, end=end, campus_ids=campus_ids)
    by_campus = _rated_rows(ratings, "campus_id", "campus__name")
    overall = Satisfaction(
        ratings=sum(r.satisfaction.ratings for r in by_campus),
        score_total=sum(r.satisfaction.score_total for r in by_campus),
        satisfied=sum(r.satisfaction.satisfied for r in by_campus),
    )
    indicators = desk_indicators(start=start, end=end, campus_ids=campus_ids, now=now, satisfaction=overall)

    categories: dict[str, int] = {}
    causes: dict[str, int] = {}
    for category, cause, n in tickets.values_list("category", "root_cause").annotate(n=Count("pk")):
        categories[category] = categories.get(category, 0) + n
        if cause:
            causes[cause] = causes.get(cause, 0) + n
    by_root_cause = _count_rows(causes, {value: str(label) for value, label in RootCause.choices})

    courses = _hot_spots(
        tickets,
        Coalesce("root_course_id", "order__course_id"),
        Coalesce("root_course__name", "order__course__name"),
        indicators.complaints,
    )
    teachers = _hot_spots(
        tickets,
        Coalesce("root_teacher_id", "order__enrollment__homeroom_teacher_id"),
        # The name (else the username) of the same person the key names.
        Case(
            When(
                root_teacher__isnull=False,
                then=Coalesce(_nonempty("root_teacher__user__name"), "root_teacher__user__username"),
            ),
            default=Coalesce(
                _nonempty("order__enrollment__homeroom_teacher__user__name"),
                "order__enrollment__homeroom_teacher__user__username",
            ),
        ),
        indicators.complaints,
    )
    return DeskMetrics(
        start=start,
        end=end,
        indicators=indicators,
        by_category=_count_rows(categories, {value: str(label) for value, label in TicketCategory.choices}),
        by_root_cause=by_root_cause,
        reviewed=sum(causes.values()),
        courses=courses,
        teachers=teachers,
        by_campus=by_campus,
        by_staff=_rated_rows(ratings, "staff_id", "staff__user__name", "staff__user__username"),
    )
