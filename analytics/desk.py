"""The dashboard's service desk section (服务台): the tickets' hot spots and clocks and the students'
satisfaction (``servicedesk.metrics``) for the dashboard's period and campuses, as cards, tables
and the charts' data (drawn by static/analytics/service_desk.js from the page's ``json_script``).

Only the period and the campus filter apply here (the other filters are about refunds); the
campuses are the dashboard's own (``campus_ids_in_view``). Counts link to the ticket list where
that list can show exactly the tickets counted: the period's tickets, of a category, of a root
cause. A course or a teacher is read through the order when the review named none, which the
list cannot filter by, so those rows (and the ratings, which have no list) have no link.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from servicedesk.metrics import (
    Clock,
    DeskIndicators,
    DeskMetrics,
    HotSpot,
    RatedRow,
    desk_indicators,
    desk_metrics,
    period_bounds,
)

from .presentation import Table, TableRow, count, hours, percent, point_change, relative_change
from .selectors import Filters, campus_ids_in_view

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from schoolops.models import User

# Who sees the section: the dashboard's readers who may also read tickets (finance may not).
VIEW_TICKETS = "servicedesk.view_ticket"
# The ticket list shows the active tickets only unless asked for every status (its status filter).
EVERY_STATUS = {"status": "all"}
STAFF_SHOWN = 5  # the best and the worst rated, each


@dataclass(frozen=True)
class DeskCard:
    """An indicator of the desk against the previous period; ``trend`` says whether the change
    is for the better (fewer tickets, faster, more within target, happier students)."""

    key: str
    label: StrOrPromise
    value: str
    previous: str
    change: str
    trend: str  # better / worse / flat
    note: str
    url: str


@dataclass(frozen=True)
class DeskView:
    metrics: DeskMetrics
    previous: DeskIndicators
    cards: list[DeskCard]
    tables: dict[str, Table]  # category, root_cause, courses, teachers, campuses, staff
    charts: dict[str, Any]
    url: str  # the period's tickets in the ticket list ("" while there is no ticket list)
    reviewed_note: str


def tickets_url(params: dict[str, str]) -> str:
    """The ticket list (the admin's) showing the tickets behind a count; "" without that list."""
    try:
        base = reverse("admin:servicedesk_ticket_changelist")
    except NoReverseMatch:
        return ""
    return f"{base}?{urlencode(sorted(params.items()))}"


def _period_params(filters: Filters) -> dict[str, str]:
    first, after = period_bounds(filters.start, filters.end)
    params = {**EVERY_STATUS, "created_at__gte": first.isoformat(), "created_at__lt": after.isoformat()}
    if filters.campus_id is not None:
        params["campus__id__exact"] = str(filters.campus_id)
    return params


def duration(seconds: Decimal | None) -> str:
    """Business seconds as hours, 1 place: "1.5 小时"."""
    if seconds is None:
        return hours(None)
    return hours((seconds / 3600).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def change_trend(current: int | Decimal | None, previous: int | Decimal | None, *, higher_is_better: bool) -> str:
    """Whether the change from ``previous`` to ``current`` is for the better: "better", "worse" or "flat"."""
    if current is None or previous is None or current == previous:
        return "flat"
    return "better" if (current > previous) == higher_is_better else "worse"


def _duration_change(current: Decimal | None, previous: Decimal | None) -> str:
    if current is None or previous is None:
        return "—"
    change = current - previous
    return f"{'+' if change > 0 else ''}{duration(change)}"


def _clock_cards(
    key: str, clock: Clock, before: Clock, labels: tuple[StrOrPromise, StrOrPromise], url: str
) -> list[DeskCard]:
    median_label, met_label = labels
    values = {"p90": duration(clock.p90_seconds), "count": count(clock.measured)}
    if key == "response":
        spread = _("p90 %(p90)s, %(count)s answered") % values
    else:
        spread = _("p90 %(p90)s, %(count)s resolved") % values
    return [
        DeskCard(
            f"{key}_median",
            median_label,
            duration(clock.median_seconds),
            duration(before.median_seconds),
            _duration_change(clock.median_seconds, before.median_seconds),
            change_trend(clock.median_seconds, before.median_seconds, higher_is_better=False),
            spread,
            url,
        ),
        DeskCard(
            f"{key}_met",
            met_label,
            percent(clock.met_rate),
            percent(before.met_rate),
            point_change(clock.met_rate, before.met_rate),
            change_trend(clock.met_rate, before.met_rate, higher_is_better=True),
            _("%(met)s within target, %(late)s late") % {"met": count(clock.met), "late": count(clock.late)},
            url,
        ),
    ]


def desk_cards(now: DeskIndicators, before: DeskIndicators, url: str = "") -> list[DeskCard]:
    satisfaction, earlier = now.satisfaction, before.satisfaction
    return [
        DeskCard(
            "tickets",
            gettext_lazy("Tickets"),
            count(now.tickets),
            count(before.tickets),
            relative_change(now.tickets, before.tickets),
            # No change to speak of after a period without tickets (the change reads "—").
            change_trend(now.tickets, before.tickets, higher_is_better=False) if before.tickets else "flat",
            _("%(complaints)s complaints and refund disputes") % {"complaints": count(now.complaints)},
            url,
        ),
        *_clock_cards(
            "response",
            now.response,
            before.response,
            (gettext_lazy("First response (median)"), gettext_lazy("First response within target")),
            url,
        ),
        *_clock_cards(
            "resolution",
            now.resolution,
            before.resolution,
            (gettext_lazy("Resolution (median)"), gettext_lazy("Resolved within target")),
            url,
        ),
        DeskCard(
            "satisfaction",
            gettext_lazy("Satisfied (4–5 stars)"),
            percent(satisfaction.satisfied_rate),
            percent(earlier.satisfied_rate),
            point_change(satisfaction.satisfied_rate, earlier.satisfied_rate),
            change_trend(satisfaction.satisfied_rate, earlier.satisfied_rate, higher_is_better=True),
            _("average %(average)s of 5, %(count)s ratings")
            % {"average": _score(satisfaction.average), "count": count(satisfaction.ratings)},
            "",  # ratings have no list of their own
        ),
    ]


def _score(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _hot_spot_table(key: str, title: StrOrPromise, heading: StrOrPromise, rows: list[HotSpot]) -> Table:
    return Table(
        key,
        title,
        # Short headings: the table sits beside its chart, and the title says what the share is of.
        [heading, gettext_lazy("Complaints"), gettext_lazy("Share"), gettext_lazy("Tickets")],
        [TableRow([r.label, count(r.complaints), percent(r.share), count(r.tickets)], "") for r in rows],
    )


def _rated_table(key: str, title: StrOrPromise, heading: StrOrPromise, rows: list[RatedRow]) -> Table:
    return Table(
        key,
        title,
        [heading, gettext_lazy("Ratings"), gettext_lazy("Average score"), gettext_lazy("Satisfied")],
        [
            TableRow(
                [
                    r.label,
                    count(r.satisfaction.ratings),
                    _score(r.satisfaction.average),
                    percent(r.satisfaction.satisfied_rate),
                ],
                "",
            )
            for r in rows
        ],
    )


def shown_staff(rows: list[RatedRow]) -> list[RatedRow]:
    """The best rated and the worst rated (STAFF_SHOWN each, best first); everyone when few."""
    if len(rows) <= 2 * STAFF_SHOWN:
        return rows
    return [*rows[:STAFF_SHOWN], *rows[-STAFF_SHOWN:]]


def desk_view(metrics: DeskMetrics, previous: DeskIndicators, filters: Filters) -> DeskView:
    base = _period_params(filters)
    url = tickets_url(base)
    category_urls = [tickets_url({**base, "category__exact": row.key}) for row in metrics.by_category]
    cause_urls = [tickets_url({**base, "root_cause__exact": row.key}) for row in metrics.by_root_cause]
    tables = {
        "category": Table(
            "category",
            gettext_lazy("Tickets by category"),
            [gettext_lazy("Category"), gettext_lazy("Tickets"), gettext_lazy("Share")],
            [
                TableRow([row.label, count(row.count), percent(row.share)], link)
                for row, link in zip(metrics.by_category, category_urls, strict=True)
            ],
        ),
        "root_cause": Table(
            "root_cause",
            gettext_lazy("Root causes"),
            [gettext_lazy("Root cause"), gettext_lazy("Tickets"), gettext_lazy("Share")],
            [
                TableRow([row.label, count(row.count), percent(row.share)], link)
                for row, link in zip(metrics.by_root_cause, cause_urls, strict=True)
            ],
        ),
        "courses": _hot_spot_table(
            "courses", gettext_lazy("Courses with the most complaints"), gettext_lazy("Course"), metrics.courses
        ),
        "teachers": _hot_spot_table(
            "teachers", gettext_lazy("Teachers with the most complaints"), gettext_lazy("Teacher"), metrics.teachers
        ),
        "campuses": _rated_table(
            "campuses", gettext_lazy("Satisfaction by campus"), gettext_lazy("Campus"), metrics.by_campus
        ),
        "staff": _rated_table(
            "staff",
            gettext_lazy("Satisfaction by staff member (best and worst rated)"),
            gettext_lazy("Staff member"),
            shown_staff(metrics.by_staff),
        ),
    }
    charts = {
        "labels": {
            "tickets": _("Tickets"),
            "complaints": _("Complaints"),
            "empty": _("No data in this period"),
        },
        "category": {
            "labels": [row.label for row in metrics.by_category],
            "counts": [row.count for row in metrics.by_category],
            "urls": category_urls,
        },
        "root_cause": {
            "labels": [row.label for row in metrics.by_root_cause],
            "counts": [row.count for row in metrics.by_root_cause],
            "urls": cause_urls,
        },
        "courses": _hot_spot_chart(metrics.courses),
        "teachers": _hot_spot_chart(metrics.teachers),
    }
    reviewed = _("%(reviewed)s of %(tickets)s tickets reviewed with a root cause.") % {
        "reviewed": count(metrics.reviewed),
        "tickets": count(metrics.indicators.tickets),
    }
    return DeskView(metrics, previous, desk_cards(metrics.indicators, previous, url), tables, charts, url, reviewed)


def _hot_spot_chart(rows: list[HotSpot]) -> dict[str, list[Any]]:
    return {
        "labels": [r.label for r in rows],
        "complaints": [r.complaints for r in rows],
        "tickets": [r.tickets for r in rows],
        "urls": ["" for _r in rows],
    }


def desk_section(*, user: User, filters: Filters, now: datetime.datetime | None = None) -> DeskView | None:
    """The section for ``user`` (None for a reader of the dashboard who may not read tickets)."""
    if not user.has_perm(VIEW_TICKETS):
        return None
    campus_ids = campus_ids_in_view(user=user, filters=filters)
    previous = filters.previous()
    return desk_view(
        desk_metrics(start=filters.start, end=filters.end, campus_ids=campus_ids, now=now),
        desk_indicators(start=previous.start, end=previous.end, campus_ids=campus_ids, now=now),
        filters,
    )
