"""Keeping the facts: recompute (day, campus) slices from the raw tables, on refund events, on the
order intake's news (revenue of a day past: an order imported late, changed or cancelled), by the
beat job (revenue) and by the rebuild command.

``facts_refresh`` is the one way facts are written. It deletes the slices it was given and
writes them again from the requests, their transition log, the approval steps and the orders,
in one transaction, so a refreshed slice is always exactly what a full rebuild writes. Its work
is bounded by the slices: every query is narrowed to the given campuses and days.

Definitions (each metric on its own Asia/Shanghai day):

- application: a request, on the day it was submitted;
- final decision: a transition into ``approved`` (the last tier approved, or customer service
  approved directly) or into ``rejected`` (a tier refused), on the day it was taken, with its
  time since submission; a request appealed and decided again counts each decision;
- refund: a transition into ``refunded`` (the gateway or finance confirmed the money left), on
  that day, for the request's approved amount, with its time since submission;
- tier step: an approval step a person decided (approved, rejected, returned for information),
  on the day decided, with its time in front of the approver; the automatic check is left out;
- revenue: an order's ``amount_paid`` on the day it was paid (not of an order since cancelled).

The dimensions are read from the raw rows at refresh time: the request's campus and reason, its
order's course and channel, and the homeroom teacher of the order's enrollment.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from orders.models import Order, OrderStatus
from refunds.models import (
    PENDING_STATES,
    ApprovalStep,
    ApprovalTier,
    RefundEvent,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    RequestKind,
    StepDecision,
)
from schoolops.models import Campus
from students.events import EnrollmentNews

from .models import DailyRollup, FactsRefresh, RefundFact, RevenueFact, TierFact

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The steps a person decided: their time is the tier's handling time.
PERSON_DECISIONS = (StepDecision.APPROVED, StepDecision.REJECTED, StepDecision.RETURNED)
REBUILD_CHUNK_DAYS = 31

# (day, campus, course, teacher, channel, reason)
RefundKey = tuple[datetime.date, int, int, int | None, str, str]
TierKey = tuple[datetime.date, int, int, int | None, str, str, str]
RevenueKey = tuple[datetime.date, int, int, int | None, str]


def local_day(moment: datetime.datetime) -> datetime.date:
    """The Asia/Shanghai day of an aware moment."""
    return moment.astimezone(SHANGHAI).date()


def _day_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _day_runs(days: Iterable[datetime.date]) -> list[tuple[datetime.date, datetime.date]]:
    """Runs of consecutive days, as (first, last)."""
    runs: list[tuple[datetime.date, datetime.date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + datetime.timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _moments_in(field: str, runs: list[tuple[datetime.date, datetime.date]]) -> Q:
    """``field`` (a moment) falls on one of the days of ``runs``, Shanghai time."""
    where = Q(pk__in=[])
    for first, last in runs:
        after = _day_start(last + datetime.timedelta(days=1))
        where |= Q(**{f"{field}__gte": _day_start(first), f"{field}__lt": after})
    return where


def _seconds(value: datetime.timedelta | None) -> int:
    return int(value.total_seconds()) if value is not None else 0


def _elapsed(end: str, start: str) -> ExpressionWrapper[Any]:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def _refund_rows(campus_ids: list[int], runs: list[tuple[datetime.date, datetime.date]]) -> dict[RefundKey, RefundFact]:
    rows: dict[RefundKey, RefundFact] = {}

    def row(key: RefundKey) -> RefundFact:
        if key not in rows:
            day, campus, course, teacher, channel, reason = key
            rows[key] = RefundFact(
                day=day,
                campus_id=campus,
                course_id=course,
                teacher_id=teacher,
                channel=channel,
                reason=reason,
                refunded_amount=Decimal("0.00"),
            )
        return rows[key]

    applications = (
        # Refunds only: a course exchange is not an application to leave (its own section counts it).
        RefundRequest.objects.filter(
            _moments_in("submitted_at", runs), campus_id__in=campus_ids, kind=RequestKind.REFUND
        )
        .annotate(d=TruncDate("submitted_at", tzinfo=SHANGHAI))
        .values(
            "d", "campus_id", "order__course_id", "order__enrollment__homeroom_teacher_id", "order__channel", "reason"
        )
        .annotate(n=Count("id"))
        .order_by()
    )
    for item in applications:
        key: RefundKey = (
            item["d"],
            item["campus_id"],
            item["order__course_id"],
            item["order__enrollment__homeroom_teacher_id"],
            item["order__channel"],
            item["reason"],
        )
        row(key).applications = item["n"]

    moves = (
        RefundTransition.objects.filter(
            _moments_in("created_at", runs), request__campus_id__in=campus_ids, request__kind=RequestKind.REFUND
        )
        .filter(
            Q(to_status__in=(RefundStatus.APPROVED, RefundStatus.REJECTED), from_status__in=PENDING_STATES)
            | Q(to_status=RefundStatus.REFUNDED, from_status=RefundStatus.PAYING)
        )
        .annotate(d=TruncDate("created_at", tzinfo=SHANGHAI))
        .values(
            "d",
            "request__campus_id",
            "request__order__course_id",
            "request__order__enrollment__homeroom_teacher_id",
            "request__order__channel",
            "request__reason",
            "to_status",
        )
        .annotate(
            n=Count("id"),
            elapsed=Sum(_elapsed("created_at", "request__submitted_at")),
            amount=Sum("request__approved_amount"),
        )
        .order_by()
    )
    for item in moves:
        key = (
            item["d"],
            item["request__campus_id"],
            item["request__order__course_id"],
            item["request__order__enrollment__homeroom_teacher_id"],
            item["request__order__channel"],
            item["request__reason"],
        )
        fact = row(key)
        if item["to_status"] == RefundStatus.REFUNDED:
            fact.refunded_count = item["n"]
            fact.refunded_amount = item["amount"] or Decimal("0.00")
            fact.refund_seconds = _seconds(item["elapsed"])
        else:
            if item["to_status"] == RefundStatus.APPROVED:
                fact.approved = item["n"]
            else:
                fact.rejected = item["n"]
            fact.decided = fact.approved + fact.rejected
            fact.decision_seconds += _seconds(item["elapsed"])
    return rows


def _tier_rows(campus_ids: list[int], runs: list[tuple[datetime.date, datetime.date]]) -> list[TierFact]:
    steps = (
        ApprovalStep.objects.filter(
            _moments_in("decided_at", runs), request__campus_id__in=campus_ids, decision__in=PERSON_DECISIONS
        )
        .exclude(tier=ApprovalTier.AUTO)
        .annotate(d=TruncDate("decided_at", tzinfo=SHANGHAI))
        .values(
            "d",
            "request__campus_id",
            "request__order__course_id",
            "request__order__enrollment__homeroom_teacher_id",
            "request__order__channel",
            "request__reason",
            "tier",
        )
        .annotate(n=Count("id"), elapsed=Sum(_elapsed("decided_at", "created_at")))
        .order_by()
    )
    return [
        TierFact(
            day=item["d"],
            campus_id=item["request__campus_id"],
            course_id=item["request__order__course_id"],
            teacher_id=item["request__order__enrollment__homeroom_teacher_id"],
            channel=item["request__order__channel"],
            reason=item["request__reason"],
            tier=item["tier"],
            steps=item["n"],
            step_seconds=_seconds(item["elapsed"]),
        )
        for item in steps
    ]


def _revenue_rows(campus_ids: list[int], runs: list[tuple[datetime.date, datetime.date]]) -> list[RevenueFact]:
    paid = (
        Order.objects.filter(_moments_in("paid_at", runs), course__campus_id__in=campus_ids)
        .exclude(status=OrderStatus.CANCELLED)
        .annotate(d=TruncDate("paid_at", tzinfo=SHANGHAI))
        .values("d", "course__campus_id", "course_id", "enrollment__homeroom_teacher_id", "channel")
        .annotate(n=Count("id"), revenue=Sum("amount_paid"))
        .order_by()
    )
    return [
        RevenueFact(
            day=item["d"],
            campus_id=item["course__campus_id"],
            course_id=item["course_id"],
            teacher_id=item["enrollment__homeroom_teacher_id"],
            channel=item["channel"],
            orders=item["n"],
            revenue=item["revenue"] or Decimal("0.00"),
        )
        for item in paid
    ]


def _slice(queryset: QuerySet[Any], campus_ids: list[int], days: list[datetime.date]) -> QuerySet[Any]:
    return queryset.filter(campus_id__in=campus_ids, day__in=days)


# The roll-up (``DailyRollup``): each dimension's fact column, and the figures summed into it.
ROLLUP_DIMENSIONS = {"campus": None, "course": "course_id", "teacher": "teacher_id", "channel": "channel"}
ROLLUP_REFUND_SUMS = (
    "applications",
    "decided",
    "approved",
    "rejected",
    "decision_seconds",
    "refunded_count",
    "refunded_amount",
    "refund_seconds",
)


# A view narrowed to one payment channel or one reason reads the roll-up's crossed rows: each
# dimension's rows again per channel ("course/channel") or per reason ("course/reason").
ROLLUP_CROSSES = ("channel", "reason")


def rollup_dimension(dimension: str, cross: str | None) -> str:
    """The roll-up's name for ``dimension``'s rows, crossed with ``cross`` (a column) or not."""
    return dimension if cross is None or cross == dimension else f"{dimension}/{cross}"


def _rollup_rows(campus_ids: list[int], days: list[datetime.date]) -> list[DailyRollup]:
    """The roll-up of the slices, summed by the database from the facts just written (so it is
    always what the facts add up to): per day and campus, the campus's totals and one row per
    course, teacher, channel, reason and tier; and the same again per channel and per reason."""
    rows: dict[tuple[Any, ...], DailyRollup] = {}

    def row(item: dict[str, Any], dimension: str, columns: list[str]) -> DailyRollup:
        key = (item["day"], item["campus_id"], dimension, *(item[column] for column in columns))
        if key not in rows:
            rows[key] = DailyRollup(day=item["day"], campus_id=item["campus_id"], dimension=dimension)
            for column in columns:
                setattr(rows[key], column, item[column])
        return rows[key]

    refund_sums = {name: Sum(name) for name in ROLLUP_REFUND_SUMS}
    for cross in (None, *ROLLUP_CROSSES):
        for dimension, column in [*ROLLUP_DIMENSIONS.items(), ("reason", "reason"), ("tier", "tier")]:
            if cross == dimension:
                continue  # the dimension's own rows already hold its column
            columns = [c for c in (column, cross) if c]
            name = rollup_dimension(dimension, cross)
            group = ["day", "campus_id", *columns]
            if dimension == "tier":
                tiers = _slice(TierFact.objects.all(), campus_ids, days).values(*group)
                for item in tiers.annotate(n=Sum("steps"), s=Sum("step_seconds")).order_by():
                    into = row(item, name, columns)
                    into.steps, into.step_seconds = item["n"], item["s"]
                continue
            refunds = _slice(RefundFact.objects.all(), campus_ids, days).values(*group)
            for item in refunds.annotate(**refund_sums).order_by():
                into = row(item, name, columns)
                for field in ROLLUP_REFUND_SUMS:
                    setattr(into, field, item[field])
            if "reason" in columns:  # revenue has no reason
                continue
            revenue = _slice(RevenueFact.objects.all(), campus_ids, days).values(*group)
            for item in revenue.annotate(n=Sum("orders"), r=Sum("revenue")).order_by():
                into = row(item, name, columns)
                into.orders, into.revenue = item["n"], item["r"]
    return list(rows.values())


def facts_refresh(
    *, days: Iterable[datetime.date], campus_ids: Iterable[int] | None = None, now: datetime.datetime | None = None
) -> int:
    """Recompute the facts of every (day, campus) of ``days`` × ``campus_ids`` (None: every campus)
    from the raw tables, in one transaction, and their roll-up from them. Returns the number of
    fact rows written (the roll-up's not counted)."""
    day_list = sorted(set(days))
    if campus_ids is None:
        campuses = list(Campus.objects.order_by("pk").values_list("pk", flat=True))
    else:
        campuses = sorted(set(campus_ids))
    if not day_list or not campuses:
        return 0
    runs = _day_runs(day_list)
    now = now or timezone.now()
    with transaction.atomic():
        # One refresh of a campus at a time: its FactsRefresh row is the lock (taken in campus
        # order), so two refreshes of the same slice never interleave their delete and insert.
        FactsRefresh.objects.bulk_create(
            [FactsRefresh(campus_id=pk, refreshed_at=now) for pk in campuses], ignore_conflicts=True
        )
        list(FactsRefresh.objects.select_for_update().filter(campus_id__in=campuses).order_by("campus_id"))
        refund_rows = list(_refund_rows(campuses, runs).values())
        tier_rows = _tier_rows(campuses, runs)
        revenue_rows = _revenue_rows(campuses, runs)
        for model in (RefundFact, TierFact, RevenueFact, DailyRollup):
            _slice(model.objects.all(), campuses, day_list).delete()
        RefundFact.objects.bulk_create(refund_rows, batch_size=1000)
        TierFact.objects.bulk_create(tier_rows, batch_size=1000)
        RevenueFact.objects.bulk_create(revenue_rows, batch_size=1000)
        DailyRollup.objects.bulk_create(_rollup_rows(campuses, day_list), batch_size=1000)
        FactsRefresh.objects.filter(campus_id__in=campuses).update(refreshed_at=now)
    return len(refund_rows) + len(tier_rows) + len(revenue_rows)


# The Celery task that refreshes the facts an event touched (analytics.tasks registers it by this name).
REFRESH_FOR_EVENT_TASK = "analytics.tasks.refresh_facts_for_event"

_listener_paused: ContextVar[bool] = ContextVar("analytics_listener_paused", default=False)


@contextmanager
def facts_listener_paused() -> Iterator[None]:
    """Skip the per-event refresh inside: for a bulk load that rebuilds the facts itself (the
    demo data), where a refresh after each of thousands of events would redo the same days."""
    token = _listener_paused.set(True)
    try:
        yield
    finally:
        _listener_paused.reset(token)


def facts_on_refund_event(event: RefundEvent) -> None:
    """Refund event listener (after the commit): hand the refresh of the days the event touched to
    a worker, so the person who acted never waits for it. The task is looked up by name:
    ``analytics.tasks`` imports this module. A broker that is down is logged; the beat job's
    refresh of yesterday and today, or a rebuild, catches up.

    With workers, refreshes are gathered: the first event of a (day, campus) queues its refresh
    ``ANALYTICS_REFRESH_DELAY_SECONDS`` later, and the events until then ride along with it (a
    refund's five or six events, and a busy campus's hundreds a minute, cost one refresh, not one
    each). In-process (tasks run eagerly) each event refreshes at once."""
    if _listener_paused.get():
        return
    try:
        if current_app.conf.task_always_eager:
            current_app.tasks[REFRESH_FOR_EVENT_TASK].delay(event.pk)
            return
        _queue_gathered_refresh(event)
    except Exception:  # the broker's errors vary by transport
        logger.warning("Analytics facts of refund event %s not refreshed now; beat will.", event.pk, exc_info=True)


def _queue_gathered_refresh(event: RefundEvent) -> None:
    created_at, submitted_at, campus_id = event.created_at, event.request.submitted_at, event.request.campus_id
    delay = settings.ANALYTICS_REFRESH_DELAY_SECONDS
    days = {local_day(created_at), local_day(submitted_at)}
    keys = {f"analytics:facts-due:{day.isoformat()}:{campus_id}": (day.isoformat(), campus_id) for day in days}
    # The key lives a little less than the wait, so an event after it expired queues a refresh of
    # its own rather than find the slice taken by a refresh that already read the rows.
    due = [keys[key] for key in sorted(keys) if cache.add(key, 1, timeout=delay)]
    if not due:
        return
    try:
        current_app.tasks[REFRESH_SLICES_TASK].apply_async(args=(due,), countdown=delay + 1)
    except Exception:
        cache.delete_many([key for key in keys if keys[key] in due])  # the next event tries again
        raise


# The Celery task that refreshes the revenue slices the order intake touched (analytics.tasks).
REFRESH_SLICES_TASK = "analytics.tasks.refresh_facts_for_slices"


def facts_on_enrollment_news(news: Sequence[EnrollmentNews]) -> None:
    """Enrollment news writer (in the order intake's transaction): after the commit, refresh every
    (day, campus) the orders of ``news`` were ever paid on, as they are and as they were before a
    change (their history), so a late, changed or cancelled order's revenue is right on its day."""
    if _listener_paused.get() or not news:
        return
    enrollment_ids = [item.enrollment_id for item in news]
    order_ids = list(Order.objects.filter(enrollment__in=enrollment_ids).values_list("pk", flat=True))
    versions = Order.history.filter(id__in=order_ids).values_list("paid_at", "course__campus_id").distinct()
    slices = sorted({(local_day(paid_at).isoformat(), campus_id) for paid_at, campus_id in versions})
    if slices:
        transaction.on_commit(lambda: _queue_slices_refresh(slices))


def _queue_slices_refresh(slices: list[tuple[str, int]]) -> None:
    try:
        current_app.tasks[REFRESH_SLICES_TASK].delay(slices)
    except Exception:  # the broker's errors vary by transport
        logger.warning("Analytics facts of %d order day(s) not refreshed now; rebuild.", len(slices), exc_info=True)


def facts_refresh_slices(slices: Iterable[tuple[str, int]]) -> int:
    """Refresh the given (ISO day, campus id) slices; returns the fact rows written."""
    days_of: dict[int, set[datetime.date]] = defaultdict(set)
    for day, campus_id in slices:
        days_of[campus_id].add(datetime.date.fromisoformat(day))
    return sum(facts_refresh(days=days, campus_ids=[campus_id]) for campus_id, days in sorted(days_of.items()))


def facts_refresh_for_event(event_id: int) -> int:
    """Refresh the facts of the event's campus for the day it happened (decisions, steps, refunds)
    and the request's submission day. Returns the fact rows written (0: the event is gone)."""
    event = RefundEvent.objects.select_related("request").filter(pk=event_id).first()
    if event is None:
        return 0
    request = event.request
    days = {local_day(event.created_at), local_day(request.submitted_at)}
    return facts_refresh(days=days, campus_ids=[request.campus_id])


def facts_refresh_recent(*, today: datetime.date | None = None) -> int:
    """Yesterday and today for every campus: what the beat job runs (orders are paid all day)."""
    today = today or local_day(timezone.now())
    return facts_refresh(days=[today - datetime.timedelta(days=1), today])


def _first_day() -> datetime.date | None:
    """The earliest day any raw row belongs to."""
    firsts = [
        Order.objects.aggregate(at=Min("paid_at"))["at"],
        RefundRequest.objects.aggregate(at=Min("submitted_at"))["at"],
    ]
    moments = [moment for moment in firsts if moment is not None]
    return local_day(min(moments)) if moments else None


def _chunks(first: datetime.date, last: datetime.date, size: int) -> Iterator[list[datetime.date]]:
    day = first
    while day <= last:
        chunk_end = min(last, day + datetime.timedelta(days=size - 1))
        yield [day + datetime.timedelta(days=n) for n in range((chunk_end - day).days + 1)]
        day = chunk_end + datetime.timedelta(days=1)


def facts_rebuild(
    *, since: datetime.date | None = None, until: datetime.date | None = None, chunk_days: int = REBUILD_CHUNK_DAYS
) -> Iterator[tuple[datetime.date, datetime.date, int]]:
    """Rebuild every fact from ``since`` (None: the first raw row, and older facts dropped) to
    ``until`` (default today), a chunk of days at a time, each chunk its own transaction.
    Yields (first day, last day, rows written) per chunk."""
    last = until or local_day(timezone.now())
    first = since or _first_day()
    if since is None:
        for model in (RefundFact, TierFact, RevenueFact, DailyRollup):
            model.objects.all().delete()
    if first is None:
        return
    for chunk in _chunks(first, last, chunk_days):
        yield chunk[0], chunk[-1], facts_refresh(days=chunk)
