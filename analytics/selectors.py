"""What the analytics dashboard shows, read from the fact tables only (``analytics.models``), scoped
to the campuses the user may see. Never a scan of the refund requests: the facts carry every
figure, the campus, course and staff tables only the labels.

Definitions (see ``analytics.services`` for how the facts count):

- applications: requests submitted in the period;
- decided / approved / rejected: final decisions taken in the period (approved: the last tier
  approved; rejected: a tier refused); approval rate = approved / decided × 100;
- average hours to decision: mean of (decision − submission) over the period's decisions; to
  refund: mean of (refund − submission) over the period's refunds;
- slowest tier: the tier whose steps decided by a person in the period took longest on average;
- refund ratio: refunded amount / revenue × 100, revenue being the orders paid in the period.
  Revenue has no refund reason: with a reason filter (or by reason), the ratio is that reason's
  refunds against all the revenue of the rest of the filters.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from django.db.models import Max, Model, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Course, PaymentChannel
from refunds.models import ApprovalTier, RefundReason
from schoolops.db_router import replica_reads
from schoolops.models import Campus, Staff, User
from schoolops.scoping import visible_campus_ids

from .models import (
    Alert,
    AlertStatus,
    CourseReview,
    CourseReviewStatus,
    DailyRollup,
    FactsRefresh,
    RefundFact,
    RevenueFact,
    TierFact,
)
from .services import ROLLUP_CROSSES, rollup_dimension

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Grain = Literal["day", "week", "month"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month")
DIMENSIONS = ("campus", "course", "teacher", "channel", "reason")  # teacher = homeroom teacher

# The fact column of each dimension, and the refund request changelist's parameter for it.
DIMENSION_FIELD = {
    "campus": "campus_id",
    "course": "course_id",
    "teacher": "teacher_id",
    "channel": "channel",
    "reason": "reason",
}
DRILL_PARAM = {
    "campus": "campus__id__exact",
    "course": "order__course__id__exact",
    "teacher": "order__enrollment__homeroom_teacher__id__exact",
    "channel": "order__channel__exact",
    "reason": "reason__exact",
}
DIMENSION_LABELS: dict[str, StrOrPromise] = {
    "campus": _("Campus"),
    "course": _("Course"),
    "teacher": _("Homeroom teacher"),
    "channel": _("Payment channel"),
    "reason": _("Reason"),
}

ONE_PLACE = Decimal("0.1")
TWO_PLACES = Decimal("0.01")
ZERO = Decimal("0.00")

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Filters:
    start: datetime.date  # first day, Asia/Shanghai, inclusive
    end: datetime.date  # last day, inclusive
    grain: Grain = "day"
    dimension: str = "campus"
    campus_id: int | None = None  # narrowing; the user's scope always applies on top
    course_id: int | None = None
    teacher_id: int | None = None  # Staff pk
    channel: str = ""  # orders.PaymentChannel value
    reason: str = ""  # refunds.RefundReason value

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("The period ends before it starts.")
        if self.grain not in GRAINS:
            raise ValueError(f"Unknown grain {self.grain!r}.")
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"Unknown dimension {self.dimension!r}.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The same length of time just before."""
        length = datetime.timedelta(days=self.days)
        return replace(self, start=self.start - length, end=self.end - length)


@dataclass(frozen=True)
class Indicators:
    applications: int  # requests submitted in the period
    decided: int  # final decisions made in the period
    approved: int
    rejected: int
    approval_rate: Decimal | None  # approved / decided × 100, 1 place; None when nothing decided
    avg_hours_to_decision: Decimal | None  # mean(decided_at − submitted_at) of those decided, hours, 1 place
    avg_hours_to_refund: Decimal | None  # mean(refunded − submitted) of those refunded in the period
    slowest_tier: str  # ApprovalTier value with the highest mean step time ("" if none)
    slowest_tier_hours: Decimal | None
    refunded_count: int
    refunded_amount: Decimal  # money paid back in the period
    revenue: Decimal  # orders paid in the period (amount_paid)
    refund_ratio: Decimal | None  # refunded_amount / revenue × 100, 2 places; None when no revenue


@dataclass(frozen=True)
class SeriesPoint:
    bucket: datetime.date  # first day of the day/week (Monday)/month
    applications: int
    approved: int
    rejected: int
    refunded_amount: Decimal
    revenue: Decimal


@dataclass(frozen=True)
class DimensionRow:
    key: str  # e.g. campus pk / its name; teacher pk / name; channel value / label
    label: str
    applications: int
    approval_rate: Decimal | None
    refunded_amount: Decimal
    revenue: Decimal
    refund_ratio: Decimal | None
    drill: dict[str, str]  # query parameters for the refund request changelist


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    label: str
    count: int
    share: Decimal  # share of applications, %, 1 place


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    current: Indicators
    previous: Indicators
    series: list[SeriesPoint]
    by_dimension: list[DimensionRow]
    reasons: list[ReasonRow]
    drill: dict[str, str]  # the whole view's requests
    as_of: datetime.datetime  # when the facts were last refreshed


# --- arithmetic -------------------------------------------------------------------------------


def _percent(part: Decimal | int, whole: Decimal | int, places: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(places, rounding=ROUND_HALF_UP)


def _hours(seconds: int, count: int) -> Decimal | None:
    if not count:
        return None
    return (Decimal(seconds) / count / 3600).quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


def _int(value: Any) -> int:
    return int(value or 0)


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(TWO_PLACES)


# --- scope and narrowing ----------------------------------------------------------------------


def _campus_ids(user: User, filters: Filters) -> list[int] | None:
    """The campuses the view covers: the user's scope, narrowed by the filter (None: every one)."""
    visible = visible_campus_ids(user)
    if filters.campus_id is None:
        return visible
    if visible is None or filters.campus_id in visible:
        return [filters.campus_id]
    return []


def _narrow(
    queryset: QuerySet[M], filters: Filters, campus_ids: list[int] | None, *, has_reason: bool = True
) -> QuerySet[M]:
    queryset = queryset.filter(day__gte=filters.start, day__lte=filters.end)
    if campus_ids is not None:
        queryset = queryset.filter(campus_id__in=campus_ids)
    if filters.course_id is not None:
        queryset = queryset.filter(course_id=filters.course_id)
    if filters.teacher_id is not None:
        queryset = queryset.filter(teacher_id=filters.teacher_id)
    if filters.channel:
        queryset = queryset.filter(channel=filters.channel)
    if filters.reason and has_reason:
        queryset = queryset.filter(reason=filters.reason)
    return queryset


def _rollup_name(filters: Filters, dimension: str, has_reason: bool) -> str | None:
    """The roll-up rows that answer ``dimension`` for the view (None: only the facts can): views
    narrowed by nothing finer than a campus, or to one channel or one reason (the crossed rows)."""
    if filters.course_id is not None or filters.teacher_id is not None:
        return None
    crosses = [column for column in ROLLUP_CROSSES if getattr(filters, column) and (column != "reason" or has_reason)]
    if len(crosses) > 1:
        return None
    return rollup_dimension(dimension, crosses[0] if crosses else None)


def _rows(
    facts: type[Model],
    filters: Filters,
    campus_ids: list[int] | None,
    *,
    dimension: str = "campus",
    has_reason: bool = True,
) -> QuerySet[Any]:
    """The rows a part of the dashboard sums: the roll-up's rows of ``dimension`` ("campus": the
    campuses' totals) when it can answer (its columns are named as the facts'), else ``facts``.
    At a million requests the facts of a period are millions of rows; the roll-up's, thousands."""
    name = _rollup_name(filters, dimension, has_reason)
    if name is not None:
        return _narrow(DailyRollup.objects.filter(dimension=name), filters, campus_ids, has_reason=has_reason)
    return _narrow(facts._default_manager.all(), filters, campus_ids, has_reason=has_reason)


REFUND_SUMS = {
    "applications": Sum("applications"),
    "decided": Sum("decided"),
    "approved": Sum("approved"),
    "rejected": Sum("rejected"),
    "decision_seconds": Sum("decision_seconds"),
    "refunded_count": Sum("refunded_count"),
    "refunded_amount": Sum("refunded_amount"),
    "refund_seconds": Sum("refund_seconds"),
}


# --- the dashboard's parts --------------------------------------------------------------------


def _indicators(filters: Filters, campus_ids: list[int] | None) -> Indicators:
    sums = _rows(RefundFact, filters, campus_ids).aggregate(**REFUND_SUMS)
    revenue = _money(_rows(RevenueFact, filters, campus_ids, has_reason=False).aggregate(r=Sum("revenue"))["r"])
    tiers = (
        _rows(TierFact, filters, campus_ids, dimension="tier")
        .values("tier")
        .annotate(steps=Sum("steps"), seconds=Sum("step_seconds"))
        .order_by()
    )
    slowest_tier, slowest_hours = "", None
    best: Decimal | None = None
    for item in sorted(tiers, key=lambda t: str(t["tier"])):
        if not item["steps"]:
            continue
        mean = Decimal(item["seconds"]) / item["steps"]
        if best is None or mean > best:
            best, slowest_tier = mean, str(item["tier"])
            slowest_hours = _hours(_int(item["seconds"]), _int(item["steps"]))
    decided, approved = _int(sums["decided"]), _int(sums["approved"])
    refunded_count = _int(sums["refunded_count"])
    refunded_amount = _money(sums["refunded_amount"])
    return Indicators(
        applications=_int(sums["applications"]),
        decided=decided,
        approved=approved,
        rejected=_int(sums["rejected"]),
        approval_rate=_percent(approved, decided, ONE_PLACE),
        avg_hours_to_decision=_hours(_int(sums["decision_seconds"]), decided),
        avg_hours_to_refund=_hours(_int(sums["refund_seconds"]), refunded_count),
        slowest_tier=slowest_tier,
        slowest_tier_hours=slowest_hours,
        refunded_count=refunded_count,
        refunded_amount=refunded_amount,
        revenue=revenue,
        refund_ratio=_percent(refunded_amount, revenue, TWO_PLACES),
    )


def bucket_of(day: datetime.date, grain: Grain) -> datetime.date:
    """The first day of the day / week (Monday) / month ``day`` falls in."""
    if grain == "week":
        return day - datetime.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _buckets(filters: Filters) -> list[datetime.date]:
    found: list[datetime.date] = []
    day = filters.start
    while day <= filters.end:
        bucket = bucket_of(day, filters.grain)
        if not found or found[-1] != bucket:
            found.append(bucket)
        day += datetime.timedelta(days=1)
    return found


def _series(filters: Filters, campus_ids: list[int] | None) -> list[SeriesPoint]:
    """Summed per day in the database (one row a day at most), then into the grain's buckets."""
    sums: dict[datetime.date, dict[str, Any]] = {
        bucket: {"applications": 0, "approved": 0, "rejected": 0, "refunded_amount": ZERO, "revenue": ZERO}
        for bucket in _buckets(filters)
    }
    daily = (
        _rows(RefundFact, filters, campus_ids)
        .values("day")
        .annotate(
            applications=Sum("applications"),
            approved=Sum("approved"),
            rejected=Sum("rejected"),
            refunded_amount=Sum("refunded_amount"),
        )
        .order_by()
    )
    for item in daily:
        into = sums[bucket_of(item["day"], filters.grain)]
        into["applications"] += _int(item["applications"])
        into["approved"] += _int(item["approved"])
        into["rejected"] += _int(item["rejected"])
        into["refunded_amount"] += _money(item["refunded_amount"])
    paid = (
        _rows(RevenueFact, filters, campus_ids, has_reason=False)
        .values("day")
        .annotate(revenue=Sum("revenue"))
        .order_by()
    )
    for item in paid:
        sums[bucket_of(item["day"], filters.grain)]["revenue"] += _money(item["revenue"])
    return [SeriesPoint(bucket=bucket, **values) for bucket, values in sums.items()]


def _labels(dimension: str, keys: Iterable[Any]) -> dict[Any, str]:
    ids = [key for key in keys if key is not None]
    if dimension == "campus":
        return dict(Campus.objects.filter(pk__in=ids).values_list("pk", "name"))
    if dimension == "course":
        return dict(Course.objects.filter(pk__in=ids).values_list("pk", "name"))
    if dimension == "teacher":
        return {
            pk: name or username
            for pk, name, username in Staff.objects.filter(pk__in=ids).values_list("pk", "user__name", "user__username")
        }
    if dimension == "channel":
        return {value: str(label) for value, label in PaymentChannel.choices}
    return {value: str(label) for value, label in RefundReason.choices}


def _drill(filters: Filters) -> dict[str, str]:
    """The refund request changelist's parameters for the requests submitted in the view."""
    params = {
        "submitted_at__gte": filters.start.isoformat(),
        "submitted_at__lt": (filters.end + datetime.timedelta(days=1)).isoformat(),
    }
    narrowing = {
        "campus": filters.campus_id,
        "course": filters.course_id,
        "teacher": filters.teacher_id,
        "channel": filters.channel,
        "reason": filters.reason,
    }
    for dimension, value in narrowing.items():
        if value not in (None, ""):
            params[DRILL_PARAM[dimension]] = str(value)
    return params


def _by_dimension(filters: Filters, campus_ids: list[int] | None, total_revenue: Decimal) -> list[DimensionRow]:
    column = DIMENSION_FIELD[filters.dimension]
    refunds = {
        item[column]: item
        for item in _rows(RefundFact, filters, campus_ids, dimension=filters.dimension)
        .values(column)
        .annotate(
            applications=Sum("applications"),
            decided=Sum("decided"),
            approved=Sum("approved"),
            refunded_amount=Sum("refunded_amount"),
        )
        .order_by()
    }
    revenue: dict[Any, Decimal] = {}
    if filters.dimension != "reason":
        revenue = {
            item[column]: _money(item["revenue"])
            for item in _rows(RevenueFact, filters, campus_ids, dimension=filters.dimension, has_reason=False)
            .values(column)
            .annotate(revenue=Sum("revenue"))
            .order_by()
        }
    keys = set(refunds) | set(revenue)
    labels = _labels(filters.dimension, keys)
    base = _drill(filters)
    rows = []
    for key in keys:
        item = refunds.get(key, {})
        refunded = _money(item.get("refunded_amount"))
        # Revenue has no reason: each reason's refunds are set against all the view's revenue.
        row_revenue = total_revenue if filters.dimension == "reason" else revenue.get(key, ZERO)
        rows.append(
            DimensionRow(
                key="" if key is None else str(key),
                label=labels.get(key, "" if key is None else str(key)) if key is not None else str(_("None")),
                applications=_int(item.get("applications")),
                approval_rate=_percent(_int(item.get("approved")), _int(item.get("decided")), ONE_PLACE),
                refunded_amount=refunded,
                revenue=row_revenue,
                refund_ratio=_percent(refunded, row_revenue, TWO_PLACES),
                drill={**base, DRILL_PARAM[filters.dimension]: "" if key is None else str(key)}
                if key is not None
                else dict(base),
            )
        )
    rows.sort(key=lambda r: (-r.applications, -r.refunded_amount, -r.revenue, r.label))
    return rows


def _reasons(filters: Filters, campus_ids: list[int] | None) -> list[ReasonRow]:
    counts = {
        str(item["reason"]): _int(item["n"])
        for item in _rows(RefundFact, filters, campus_ids, dimension="reason")
        .values("reason")
        .annotate(n=Sum("applications"))
        .order_by()
    }
    total = sum(counts.values())
    labels = _labels("reason", counts)
    rows = [
        ReasonRow(reason=reason, label=labels.get(reason, reason), count=n, share=_percent(n, total, ONE_PLACE) or ZERO)
        for reason, n in counts.items()
        if n
    ]
    rows.sort(key=lambda r: (-r.count, r.reason))
    return rows


def _as_of(campus_ids: list[int] | None) -> datetime.datetime:
    refreshes = FactsRefresh.objects.all()
    if campus_ids is not None:
        refreshes = refreshes.filter(campus_id__in=campus_ids)
    latest: datetime.datetime | None = refreshes.aggregate(at=Max("refreshed_at"))["at"]
    return latest or timezone.now()


def campus_ids_in_view(*, user: User, filters: Filters) -> list[int] | None:
    """The campuses a view of ``filters`` covers for ``user`` (None: every one): the user's
    scope, narrowed by the campus filter; for other parts of the page to read the same campuses."""
    return _campus_ids(user, filters)


@replica_reads()  # a manager's report: the figures may lag the primary by the replication delay
def analytics_dashboard(*, user: User, filters: Filters) -> Dashboard:
    """Everything the dashboard shows for ``filters``, within the campuses ``user`` may see."""
    return analytics_figures(filters=filters, campus_ids=_campus_ids(user, filters))


def analytics_figures(*, filters: Filters, campus_ids: list[int] | None) -> Dashboard:
    """The dashboard's figures for ``filters`` over the campuses ``campus_ids`` (None: every one),
    for readers with no user to scope by (the weekly review). ``filters.campus_id`` is not applied
    here: the caller has already turned it into ``campus_ids``."""
    current = _indicators(filters, campus_ids)
    return Dashboard(
        filters=filters,
        current=current,
        previous=_indicators(filters.previous(), campus_ids),
        series=_series(filters, campus_ids),
        by_dimension=_by_dimension(filters, campus_ids, current.revenue),
        reasons=_reasons(filters, campus_ids),
        drill=_drill(filters),
        as_of=_as_of(campus_ids),
    )


def analytics_breakdown(*, filters: Filters, campus_ids: list[int] | None) -> list[DimensionRow]:
    """The rows of ``filters.dimension`` alone, as ``analytics_figures`` gives them (a second
    dimension of the same period without computing the rest again)."""
    total_revenue = ZERO
    if filters.dimension == "reason":
        total_revenue = _indicators(filters, campus_ids).revenue
    return _by_dimension(filters, campus_ids, total_revenue)


def analytics_series(*, filters: Filters, campus_ids: list[int] | None) -> list[SeriesPoint]:
    """The series of ``filters`` alone (e.g. the previous period's days, to draw beside these)."""
    return _series(filters, campus_ids)


def tier_label(tier: str) -> str:
    return str(ApprovalTier(tier).label) if tier in ApprovalTier.values else tier


def open_risk_counts(*, user: User) -> tuple[int, int]:
    """Alerts not yet closed and course quality reviews still open, in the user's campuses."""
    ids = visible_campus_ids(user)
    alerts = Alert.objects.exclude(status=AlertStatus.CLOSED)
    reviews = CourseReview.objects.filter(status=CourseReviewStatus.OPEN)
    if ids is not None:
        alerts, reviews = alerts.filter(campus_id__in=ids), reviews.filter(campus_id__in=ids)
    return alerts.count(), reviews.count()
