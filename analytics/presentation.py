"""The dashboard as the page and its export show it: indicator cards with the previous period,
the charts' data (handed to ECharts through ``json_script``), the tables beside them, and the
drill-down links into the refund request list, all from one ``Dashboard`` of the selectors.

The page and the XLSX export read the same ``DashboardView``, so a figure in a cell is the
figure on the screen.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from finance.writers import Column, Kind, Row

from .selectors import DIMENSION_LABELS, Dashboard, Filters, Indicators, tier_label

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The drill-down parameters of a period (the rest come from the selectors' ``drill``).
SUBMITTED_FROM = "submitted_at__gte"
SUBMITTED_BEFORE = "submitted_at__lt"
PERIOD_PARAMS = (SUBMITTED_FROM, SUBMITTED_BEFORE)


def _moment(value: str) -> str:
    """A day of the drill-down as the Shanghai midnight it starts with (2026-11-01T00:00:00+08:00):
    the list compares it with a date and time, and a bare date would be a naive one."""
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return value
    midnight = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    return midnight.isoformat()


def requests_url(drill: dict[str, str]) -> str:
    """The refund request list showing the requests behind a figure."""
    params = {key: _moment(value) if key in PERIOD_PARAMS else value for key, value in drill.items()}
    return f"{reverse('admin:refunds_refundrequest_changelist')}?{urlencode(sorted(params.items()))}"


def next_bucket(bucket: datetime.date, grain: str) -> datetime.date:
    """The first day after the bucket that starts on ``bucket``."""
    if grain == "month":
        return (bucket.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return bucket + datetime.timedelta(days=7 if grain == "week" else 1)


def bucket_drill(drill: dict[str, str], bucket: datetime.date, filters: Filters) -> dict[str, str]:
    """The view's drill-down narrowed to one bucket (cut to the period at its ends)."""
    first = max(bucket, filters.start)
    after = min(next_bucket(bucket, filters.grain), filters.end + datetime.timedelta(days=1))
    return {**drill, SUBMITTED_FROM: first.isoformat(), SUBMITTED_BEFORE: after.isoformat()}


def bucket_label(bucket: datetime.date, grain: str) -> str:
    if grain == "month":
        return f"{bucket:%Y-%m}"
    return bucket.isoformat()


# --- figures as text --------------------------------------------------------------------------


# Figures are written the same in every language: 1,234.50 (as Chinese finance writes them too).


def money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def percent(value: Decimal | None, places: int = 1) -> str:
    return "—" if value is None else f"{value:.{places}f}%"


def hours(value: Decimal | None) -> str:
    return "—" if value is None else _("%(hours)s h") % {"hours": f"{value:,.1f}"}


def _as_number(value: int | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def relative_change(current: int | Decimal | None, previous: int | Decimal | None) -> str:
    """+12.5% against the previous period; "—" when there was nothing to compare with."""
    now, before = _as_number(current), _as_number(previous)
    if now is None or before is None or before == 0:
        return "—"
    change = ((now - before) / before * 100).quantize(Decimal("0.1"))
    return f"{'+' if change > 0 else ''}{change:.1f}%"


def point_change(current: Decimal | None, previous: Decimal | None, places: int = 1) -> str:
    """The difference of two percentages, in percentage points."""
    if current is None or previous is None:
        return "—"
    change = current - previous
    return _("%(sign)s%(points)s pp") % {"sign": "+" if change > 0 else "", "points": f"{change:.{places}f}"}


def hours_change(current: Decimal | None, previous: Decimal | None) -> str:
    if current is None or previous is None:
        return "—"
    change = current - previous
    return f"{'+' if change > 0 else ''}{hours(change)}"


def _direction(current: int | Decimal | None, previous: int | Decimal | None) -> str:
    if current is None or previous is None or current == previous:
        return "flat"
    return "up" if current > previous else "down"


# --- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """An indicator: this period's figure, the previous period's and the change."""

    key: str
    label: StrOrPromise
    value: str
    previous: str
    change: str
    direction: str  # up / down / flat
    note: str  # what the figure is made of, e.g. "approved 12 of 15 decided"
    url: str


@dataclass(frozen=True)
class TableRow:
    cells: list[str]
    url: str


@dataclass(frozen=True)
class Table:
    key: str
    title: StrOrPromise
    headings: list[StrOrPromise]
    rows: list[TableRow]


@dataclass(frozen=True)
class DashboardView:
    dashboard: Dashboard
    cards: list[Card]
    tables: dict[str, Table]  # series, money, dimension, reasons
    charts: dict[str, Any]  # the JSON the page's script draws
    url: str  # every request of the view

    @property
    def previous_start(self) -> datetime.date:
        return self.dashboard.filters.previous().start

    @property
    def previous_end(self) -> datetime.date:
        return self.dashboard.filters.previous().end


def indicator_cards(now: Indicators, before: Indicators, url: str = "") -> list[Card]:
    """The indicators of a period against the one before, as the dashboard and the weekly review
    show them."""

    def tier(indicators: Indicators) -> str:
        if not indicators.slowest_tier:
            return ""
        return _("slowest step: %(tier)s, %(hours)s") % {
            "tier": tier_label(indicators.slowest_tier),
            "hours": hours(indicators.slowest_tier_hours),
        }

    return [
        Card(
            "applications",
            gettext_lazy("Applications"),
            count(now.applications),
            count(before.applications),
            relative_change(now.applications, before.applications),
            _direction(now.applications, before.applications),
            "",
            url,
        ),
        Card(
            "approval_rate",
            gettext_lazy("Approval rate"),
            percent(now.approval_rate),
            percent(before.approval_rate),
            point_change(now.approval_rate, before.approval_rate),
            _direction(now.approval_rate, before.approval_rate),
            _("%(approved)s approved, %(rejected)s rejected of %(decided)s decided")
            % {"approved": count(now.approved), "rejected": count(now.rejected), "decided": count(now.decided)},
            url,
        ),
        Card(
            "hours_to_decision",
            gettext_lazy("Average time to decision"),
            hours(now.avg_hours_to_decision),
            hours(before.avg_hours_to_decision),
            hours_change(now.avg_hours_to_decision, before.avg_hours_to_decision),
            _direction(now.avg_hours_to_decision, before.avg_hours_to_decision),
            tier(now),
            url,
        ),
        Card(
            "hours_to_refund",
            gettext_lazy("Average time to refund"),
            hours(now.avg_hours_to_refund),
            hours(before.avg_hours_to_refund),
            hours_change(now.avg_hours_to_refund, before.avg_hours_to_refund),
            _direction(now.avg_hours_to_refund, before.avg_hours_to_refund),
            _("from submission until the money was paid back"),
            url,
        ),
        Card(
            "refunded_amount",
            gettext_lazy("Refunded amount (CNY)"),
            money(now.refunded_amount),
            money(before.refunded_amount),
            relative_change(now.refunded_amount, before.refunded_amount),
            _direction(now.refunded_amount, before.refunded_amount),
            _("%(count)s refunds paid") % {"count": count(now.refunded_count)},
            url,
        ),
        Card(
            "refund_ratio",
            gettext_lazy("Refunds ÷ revenue"),
            percent(now.refund_ratio, 2),
            percent(before.refund_ratio, 2),
            point_change(now.refund_ratio, before.refund_ratio, 2),
            _direction(now.refund_ratio, before.refund_ratio),
            _("revenue %(revenue)s") % {"revenue": money(now.revenue)},
            url,
        ),
    ]


def _number(value: Decimal | None) -> str | None:
    """A decimal for the chart's JSON, exact as text (the script turns it into a number)."""
    return None if value is None else str(value)


def dashboard_view(dashboard: Dashboard) -> DashboardView:
    filters = dashboard.filters
    view_url = requests_url(dashboard.drill)
    series_urls = [requests_url(bucket_drill(dashboard.drill, p.bucket, filters)) for p in dashboard.series]
    buckets = [bucket_label(p.bucket, filters.grain) for p in dashboard.series]
    dimension_title = DIMENSION_LABELS.get(filters.dimension, filters.dimension)
    reason_urls = [requests_url({**dashboard.drill, "reason__exact": r.reason}) for r in dashboard.reasons]
    dimension_urls = [requests_url(row.drill) for row in dashboard.by_dimension]

    tables = {
        "series": Table(
            "series",
            gettext_lazy("Applications and decisions"),
            [gettext_lazy("Period"), gettext_lazy("Applications"), gettext_lazy("Approved"), gettext_lazy("Rejected")],
            [
                TableRow([label, count(p.applications), count(p.approved), count(p.rejected)], url)
                for label, p, url in zip(buckets, dashboard.series, series_urls, strict=True)
            ],
        ),
        "money": Table(
            "money",
            gettext_lazy("Refunded amount and revenue"),
            [gettext_lazy("Period"), gettext_lazy("Refunded (CNY)"), gettext_lazy("Revenue (CNY)")],
            [
                TableRow([label, money(p.refunded_amount), money(p.revenue)], url)
                for label, p, url in zip(buckets, dashboard.series, series_urls, strict=True)
            ],
        ),
        "dimension": Table(
            "dimension",
            _("By %(dimension)s") % {"dimension": dimension_title},
            [
                dimension_title,
                gettext_lazy("Applications"),
                gettext_lazy("Approval rate"),
                gettext_lazy("Refunded (CNY)"),
                gettext_lazy("Revenue (CNY)"),
                gettext_lazy("Refunds ÷ revenue"),
            ],
            [
                TableRow(
                    [
                        row.label,
                        count(row.applications),
                        percent(row.approval_rate),
                        money(row.refunded_amount),
                        money(row.revenue),
                        percent(row.refund_ratio, 2),
                    ],
                    url,
                )
                for row, url in zip(dashboard.by_dimension, dimension_urls, strict=True)
            ],
        ),
        "reasons": Table(
            "reasons",
            gettext_lazy("Reasons"),
            [gettext_lazy("Reason"), gettext_lazy("Applications"), gettext_lazy("Share")],
            [
                TableRow([r.label, count(r.count), percent(r.share)], url)
                for r, url in zip(dashboard.reasons, reason_urls, strict=True)
            ],
        ),
    }
    charts = {
        "labels": {
            "applications": _("Applications"),
            "approved": _("Approved"),
            "rejected": _("Rejected"),
            "refunded": _("Refunded (CNY)"),
            "revenue": _("Revenue (CNY)"),
            "ratio": _("Refunds ÷ revenue (%)"),
            "empty": _("No data in this period"),
        },
        "series": {
            "buckets": buckets,
            "applications": [p.applications for p in dashboard.series],
            "approved": [p.approved for p in dashboard.series],
            "rejected": [p.rejected for p in dashboard.series],
            "refunded": [_number(p.refunded_amount) for p in dashboard.series],
            "revenue": [_number(p.revenue) for p in dashboard.series],
            "urls": series_urls,
        },
        "dimension": {
            "title": str(dimension_title),
            "labels": [row.label for row in dashboard.by_dimension],
            "applications": [row.applications for row in dashboard.by_dimension],
            "refunded": [_number(row.refunded_amount) for row in dashboard.by_dimension],
            "ratio": [_number(row.refund_ratio) for row in dashboard.by_dimension],
            "urls": dimension_urls,
        },
        "reasons": {
            "labels": [r.label for r in dashboard.reasons],
            "counts": [r.count for r in dashboard.reasons],
            "urls": reason_urls,
        },
    }
    cards = indicator_cards(dashboard.current, dashboard.previous, view_url)
    return DashboardView(dashboard, cards, tables, charts, view_url)


# --- the export -------------------------------------------------------------------------------

# The workbook has one sheet: the indicators, then the series, the dimension table and the reason
# mix, one section after another with the same columns (a figure a section has no use for is
# left empty). Percentages and hours are numbers with two decimals, as money is.
EXPORT_COLUMNS: list[Column] = [
    Column(gettext_lazy("Section"), Kind.TEXT, 18),
    Column(gettext_lazy("Item"), Kind.TEXT, 24),
    Column(gettext_lazy("Applications"), Kind.INT, 12),
    Column(gettext_lazy("Approved"), Kind.INT, 12),
    Column(gettext_lazy("Rejected"), Kind.INT, 12),
    Column(gettext_lazy("Approval rate (%)"), Kind.MONEY, 14),
    Column(gettext_lazy("Refunded (CNY)"), Kind.MONEY, 16),
    Column(gettext_lazy("Revenue (CNY)"), Kind.MONEY, 16),
    Column(gettext_lazy("Refunds ÷ revenue (%)"), Kind.MONEY, 16),
    Column(gettext_lazy("Share of applications (%)"), Kind.MONEY, 16),
    Column(gettext_lazy("Average hours to decision"), Kind.MONEY, 16),
    Column(gettext_lazy("Average hours to refund"), Kind.MONEY, 16),
]


def export_rows(dashboard: Dashboard) -> Callable[[], Iterator[Row]]:
    """The rows of the export, produced when the file is written (in the request's language)."""

    def rows() -> Iterator[Row]:
        filters = dashboard.filters
        for title, indicators in ((_("This period"), dashboard.current), (_("Previous period"), dashboard.previous)):
            period = filters if indicators is dashboard.current else filters.previous()
            yield (
                title,
                f"{period.start.isoformat()} – {period.end.isoformat()}",
                indicators.applications,
                indicators.approved,
                indicators.rejected,
                indicators.approval_rate,
                indicators.refunded_amount,
                indicators.revenue,
                indicators.refund_ratio,
                None,
                indicators.avg_hours_to_decision,
                indicators.avg_hours_to_refund,
            )
        series = _("Over time")
        for p in dashboard.series:
            yield (
                series,
                bucket_label(p.bucket, filters.grain),
                p.applications,
                p.approved,
                p.rejected,
                None,
                p.refunded_amount,
                p.revenue,
                None,
                None,
                None,
                None,
            )
        dimension = _("By %(dimension)s") % {"dimension": DIMENSION_LABELS.get(filters.dimension, filters.dimension)}
        for row in dashboard.by_dimension:
            yield (
                dimension,
                row.label,
                row.applications,
                None,
                None,
                row.approval_rate,
                row.refunded_amount,
                row.revenue,
                row.refund_ratio,
                None,
                None,
                None,
            )
        reasons = _("Reasons")
        for r in dashboard.reasons:
            yield (reasons, r.label, r.count, None, None, None, None, None, None, r.share, None, None)

    return rows


def export_file_name(filters: Filters) -> str:
    return f"{_('Refund analytics')}_{filters.start.isoformat()}_{filters.end.isoformat()}_{filters.dimension}.xlsx"
