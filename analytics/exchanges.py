"""The dashboard's course-exchange section (换课): in the period and campuses of the view, the
exchanges by the course they left and by reason, how many completed, the refunds they replaced
and the differences refunded or paid (``exchanges.selectors.exchange_figures``)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy

from exchanges.selectors import ExchangeFigures, exchange_figures
from refunds.quotes import SCHOOL_TZ

from .presentation import Table, TableRow, count, money
from .selectors import Filters, campus_ids_in_view

if TYPE_CHECKING:
    from schoolops.models import User

VIEW_EXCHANGES = "exchanges.view_exchange"
HEADINGS = [
    gettext_lazy("Exchanges asked"),
    gettext_lazy("Completed"),
    gettext_lazy("Refunds replaced (CNY)"),
    gettext_lazy("Difference refunded (CNY)"),
    gettext_lazy("Difference paid (CNY)"),
]


@dataclass(frozen=True)
class ExchangeSection:
    tables: dict[str, Table]
    asked: int


def exchange_section(*, user: User, filters: Filters) -> ExchangeSection | None:
    """The section for those who may read exchanges; None for the others."""
    if not user.has_perm(VIEW_EXCHANGES):
        return None
    start = datetime.datetime.combine(filters.start, datetime.time.min, tzinfo=SCHOOL_TZ)
    end = datetime.datetime.combine(filters.end + datetime.timedelta(days=1), datetime.time.min, tzinfo=SCHOOL_TZ)
    campus_ids = campus_ids_in_view(user=user, filters=filters)
    by_course = exchange_figures(start=start, end=end, campus_ids=campus_ids, by="course")
    by_reason = exchange_figures(start=start, end=end, campus_ids=campus_ids, by="reason")
    return ExchangeSection(
        tables={
            "course": _table(
                "course", gettext_lazy("Course exchanges by the course left"), gettext_lazy("Course"), by_course
            ),
            "reason": _table("reason", gettext_lazy("Course exchanges by reason"), gettext_lazy("Reason"), by_reason),
        },
        asked=sum(row.asked for row in by_course),
    )


def _table(key: str, title, first, rows: list[ExchangeFigures]) -> Table:
    return Table(
        key=key,
        title=title,
        headings=[first, *HEADINGS],
        rows=[
            TableRow(
                cells=[
                    row.label,
                    count(row.asked),
                    count(row.completed),
                    money(row.refunds_replaced),
                    money(row.difference_refunded),
                    money(row.difference_paid),
                ],
                url="",
            )
            for row in rows
        ],
    )
