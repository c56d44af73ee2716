"""The weekly review (定期复盘, seed 000 §8): every Monday, last week against the week before, one
A4 page per campus for its campus heads and one for the whole school for operations.

How the pieces combine:

- ``weekly_figures`` reads the week from the facts through the selectors (``analytics_figures``
  and friends, the dashboard's own arithmetic) for a set of campuses, and writes it down as plain
  JSON: the indicators of both weeks, each day of both weeks, the reason mix, the courses and
  homeroom teachers ranked by refunds and by refund ratio; and the student-service part, the
  homeroom teachers' service metrics of both weeks (``service.metrics``, as the dashboard's
  section shows them), on the page and in the e-mail.
- ``weekly_review_build`` keeps one ``WeeklyReview`` per (scope, week): the figures and the PDF
  rendered from them (``templates/analytics/weekly_review.html``, WeasyPrint, charts drawn as SVG
  by ``analytics.charts``, in the school's language). Idempotent: a second call returns the
  review already made; two workers racing end with one row (the loser's file is removed).
- ``weekly_reviews_send`` builds last week's reviews (Asia/Shanghai, Monday to Sunday) and tells
  the readers through the outbox, inbox and e-mail, the e-mail with the PDF attached. The outbox
  key is the review's, so sending the same week again writes nothing new.

A review is made only for a week that is over: the facts of its last day are complete by then.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import asdict, fields, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _

from notifications.models import Notification
from notifications.services import Attachment, notify, recipient_for_user, school_contact, site_url
from schoolops.models import Campus, Staff, StaffRole, User

from . import charts
from .alerts import alert_summary
from .events import WEEKLY_REVIEW
from .models import Alert, WeeklyReview
from .presentation import Card, count, indicator_cards, money, percent
from .selectors import DimensionRow, Filters, Indicators, analytics_breakdown, analytics_figures, analytics_series
from .services import local_day
from .student_service import service_cards_of_review, service_review_figures, service_review_text

logger = logging.getLogger(__name__)

TOP = 5  # courses and teachers listed
ALERTS_SHOWN = 3  # alerts of the week written out (the page holds one A4)
CHANNELS = ("inbox", "email")
PDF = "application/pdf"


class WeeklyReviewError(ValueError):
    """A review that cannot be made (a day that is not a Monday, a week not over yet)."""


# --- Weeks ----------------------------------------------------------------------------------------


def week_start_of(day: datetime.date) -> datetime.date:
    """The Monday of ``day``'s week."""
    return day - datetime.timedelta(days=day.weekday())


def last_week_start(today: datetime.date | None = None) -> datetime.date:
    """The Monday of the week before ``today``'s (Asia/Shanghai): the week a Monday review is of."""
    today = today or local_day(timezone.now())
    return week_start_of(today) - datetime.timedelta(days=7)


def _week(week_start: datetime.date) -> Filters:
    return Filters(start=week_start, end=week_start + datetime.timedelta(days=6), grain="day", dimension="course")


# --- Figures ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A figure as JSON keeps it exactly: decimals as text, dates in ISO form."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _indicators(indicators: Indicators) -> dict[str, Any]:
    return {name: _plain(value) for name, value in asdict(indicators).items()}


def _row(row: DimensionRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "applications": row.applications,
        "refunded_amount": _plain(row.refunded_amount),
        "revenue": _plain(row.revenue),
        "refund_ratio": _plain(row.refund_ratio),
    }


def _by_refunds(rows: Iterable[DimensionRow]) -> list[dict[str, Any]]:
    """The rows with any refund, most money back first (then the higher ratio, then the name)."""
    ranked = sorted(
        (row for row in rows if row.refunded_amount > 0),
        key=lambda r: (-r.refunded_amount, -(r.refund_ratio or Decimal(-1)), r.label),
    )
    return [_row(row) for row in ranked[:TOP]]


def _by_ratio(rows: Iterable[DimensionRow]) -> list[dict[str, Any]]:
    """The rows whose refunds were a share of the week's revenue, highest share first."""
    ranked = sorted(
        (row for row in rows if row.refund_ratio),
        key=lambda r: (-(r.refund_ratio or Decimal(0)), -r.refunded_amount, r.label),
    )
    return [_row(row) for row in ranked[:TOP]]


def weekly_figures(*, week_start: datetime.date, campus_ids: list[int] | None) -> dict[str, Any]:
    """The review's figures of the week from ``week_start`` for ``campus_ids`` (None: the school),
    as JSON. Labels (reasons, the unknown teacher) are in the active language."""
    week = _week(week_start)
    before = week.previous()
    board = analytics_figures(filters=week, campus_ids=campus_ids)
    teachers = analytics_breakdown(filters=replace(week, dimension="teacher"), campus_ids=campus_ids)
    previous_days = analytics_series(filters=before, campus_ids=campus_ids)
    return {
        "week_start": week.start.isoformat(),
        "week_end": week.end.isoformat(),
        "previous_start": before.start.isoformat(),
        "previous_end": before.end.isoformat(),
        "campus_ids": campus_ids,
        "current": _indicators(board.current),
        "previous": _indicators(board.previous),
        "days": [
            {
                "day": point.bucket.isoformat(),
                "applications": point.applications,
                "refunded_amount": _plain(point.refunded_amount),
                "previous_applications": earlier.applications,
                "previous_refunded_amount": _plain(earlier.refunded_amount),
            }
            for point, earlier in zip(board.series, previous_days, strict=True)
        ],
        "reasons": [
            {"reason": r.reason, "label": r.label, "count": r.count, "share": _plain(r.share)} for r in board.reasons
        ],
        "courses": _by_refunds(board.by_dimension),
        "courses_by_ratio": _by_ratio(board.by_dimension),
        "teachers": _by_refunds(teachers),
        "teachers_by_ratio": _by_ratio(teachers),
        "alerts": _alerts_of(week, campus_ids),
        "service": service_review_figures(week_start=week.start, campus_ids=campus_ids),
        "as_of": board.as_of.isoformat(),
    }


def _alerts_of(week: Filters, campus_ids: list[int] | None) -> dict[str, Any]:
    """The alerts raised on the week's days (a campus's own; the school's, every one): how many,
    and the first few in one sentence each."""
    alerts = Alert.objects.filter(day__gte=week.start, day__lte=week.end).select_related(
        "campus", "course", "teacher__user", "student__user"
    )
    if campus_ids is not None:
        alerts = alerts.filter(campus_id__in=campus_ids)
    shown = list(alerts.order_by("day", "pk")[:ALERTS_SHOWN])
    return {
        "count": alerts.count(),
        "rows": [
            {"day": alert.day.isoformat(), "kind": str(alert.get_kind_display()), "summary": alert_summary(alert)}
            for alert in shown
        ],
    }


# --- Building -------------------------------------------------------------------------------------


def weekly_review_build(
    *, week_start: datetime.date, campus_id: int | None = None, today: datetime.date | None = None
) -> WeeklyReview:
    """The review of the week from ``week_start`` for one campus (None: the whole school): the
    existing one, or a new one made now. Refused (``WeeklyReviewError``) for a day that is not a
    Monday or a week that is not over (``today``, Asia/Shanghai)."""
    if week_start.weekday() != 0:
        raise WeeklyReviewError(f"A weekly review starts on a Monday; {week_start} is not one.")
    today = today or local_day(timezone.now())
    if week_start + datetime.timedelta(days=7) > today:
        raise WeeklyReviewError(f"The week of {week_start} is not over yet.")
    existing = _review_of(week_start, campus_id)
    if existing is not None:
        return existing
    campus = Campus.objects.get(pk=campus_id) if campus_id is not None else None
    with translation.override(settings.LANGUAGE_CODE):
        figures = weekly_figures(week_start=week_start, campus_ids=None if campus is None else [campus.pk])
    review = WeeklyReview(campus=campus, week_start=week_start, figures=figures, created_at=timezone.now())
    pdf = weekly_review_render(review)
    review.sha256 = hashlib.sha256(pdf).hexdigest()
    review.pdf.save("review.pdf", ContentFile(pdf), save=False)
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError:
        review.pdf.delete(save=False)
        winner = _review_of(week_start, campus_id)
        if winner is None:
            raise
        return winner
    return review


def _review_of(week_start: datetime.date, campus_id: int | None) -> WeeklyReview | None:
    reviews = WeeklyReview.objects.filter(week_start=week_start)
    if campus_id is None:
        return reviews.filter(campus__isnull=True).first()
    return reviews.filter(campus_id=campus_id).first()


def weekly_reviews_build(*, week_start: datetime.date, today: datetime.date | None = None) -> list[WeeklyReview]:
    """Every review of a week: one per campus (by code), then the school's."""
    reviews = [
        weekly_review_build(week_start=week_start, campus_id=pk, today=today)
        for pk in Campus.objects.order_by("code").values_list("pk", flat=True)
    ]
    reviews.append(weekly_review_build(week_start=week_start, campus_id=None, today=today))
    return reviews


# --- Sending ----------------------------------------------------------------------------------------


def weekly_review_readers(review: WeeklyReview) -> list[User]:
    """Who reads a review: a campus's active campus heads; the school's, operations."""
    staff = Staff.objects.active().select_related("user").order_by("pk")
    if review.campus_id is None:
        staff = staff.of_role(StaffRole.OPERATIONS)
    else:
        staff = staff.of_role(StaffRole.CAMPUS_HEAD).filter(campus_id=review.campus_id)
    return [member.user for member in staff]


def weekly_review_notify(review: WeeklyReview) -> int:
    """Tell the review's readers (inbox and e-mail, the PDF attached to the e-mail); the number of
    outbox rows written, none when they were written before."""
    key = f"weekly-review:{review.pk}"
    readers = weekly_review_readers(review)
    # Sent before: nothing to write (notify would write nothing either, but counts what it was given).
    if not readers or Notification.objects.filter(dedupe_key=key).exists():
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        context = weekly_review_message_context(review)
        name = weekly_review_file_name(review)
    attachment = Attachment(storage_name=review.pdf.name, file_name=name, content_type=PDF)
    with transaction.atomic():
        return notify(
            key=key,
            event=WEEKLY_REVIEW,
            recipients=[recipient_for_user(user) for user in readers],
            context=context,
            channels=CHANNELS,
            attachments=[attachment],
        )


def weekly_reviews_send(*, today: datetime.date | None = None, week_start: datetime.date | None = None) -> int:
    """Monday's job: make last week's reviews (or ``week_start``'s) and send each to its readers.
    Returns the outbox rows written: 0 when the week was sent before.

    A review that fails to render does not hold back the others; the first failure is raised
    after them (the job is safe to run again: what was made and sent is kept).
    """
    today = today or local_day(timezone.now())
    week_start = week_start or last_week_start(today)
    written, failures = 0, []
    scopes: list[int | None] = [*Campus.objects.order_by("code").values_list("pk", flat=True), None]
    for campus_id in scopes:
        try:
            review = weekly_review_build(week_start=week_start, campus_id=campus_id, today=today)
            written += weekly_review_notify(review)
        except Exception as exc:
            logger.exception("Weekly review of %s for campus %s not made or not sent.", week_start, campus_id)
            failures.append(exc)
    if failures:
        raise failures[0]
    return written


# --- What it says ------------------------------------------------------------------------------------


def scope_label(review: WeeklyReview) -> str:
    return review.campus.name if review.campus is not None else _("Whole school")


def _period(start: str, end: str) -> str:
    return _("%(start)s to %(end)s") % {"start": start, "end": end}


def weekly_review_file_name(review: WeeklyReview) -> str:
    return f"{_('Weekly refund review')}_{scope_label(review)}_{review.week_start.isoformat()}.pdf"


def _stored_indicators(data: dict[str, Any]) -> Indicators:
    decimals = {f.name for f in fields(Indicators) if "Decimal" in str(f.type)}
    values: dict[str, Any] = {
        name: (Decimal(value) if name in decimals and value is not None else value) for name, value in data.items()
    }
    return Indicators(**values)


def weekly_review_message_context(review: WeeklyReview) -> dict[str, str]:
    """The placeholders of the notification (see ``analytics.events``)."""
    figures = review.figures
    now, before = _stored_indicators(figures["current"]), _stored_indicators(figures["previous"])
    return {
        "scope": scope_label(review),
        "week": _period(figures["week_start"], figures["week_end"]),
        "previous_week": _period(figures["previous_start"], figures["previous_end"]),
        "applications": count(now.applications),
        "previous_applications": count(before.applications),
        "approval_rate": percent(now.approval_rate),
        "refunded_amount": money(now.refunded_amount),
        "refund_ratio": percent(now.refund_ratio, 2),
        "service": service_review_text(figures.get("service")),
        "link": site_url(reverse("admin:analytics_weeklyreview_change", args=[review.pk])),
        "contact": school_contact(),
    }


# The review's cards: the dashboard's, but the time to refund (the page holds five).
WEEKLY_CARDS = ("applications", "approval_rate", "hours_to_decision", "refunded_amount", "refund_ratio")


def _cards(now: Indicators, before: Indicators) -> list[Card]:
    return [card for card in indicator_cards(now, before) if card.key in WEEKLY_CARDS]


def _charts(figures: dict[str, Any]) -> dict[str, str]:
    days = figures["days"]
    categories = [(str(WEEKDAYS_ABBR[datetime.date.fromisoformat(d["day"]).weekday()]), d["day"][5:]) for d in days]
    this_week, week_before = _("This week"), _("The week before")
    empty = _("No data this week")
    reasons = [(r["label"], Decimal(r["share"]), percent(Decimal(r["share"]))) for r in figures["reasons"]]
    courses = [
        (r["label"], Decimal(r["refund_ratio"]), percent(Decimal(r["refund_ratio"]), 2))
        for r in figures["courses_by_ratio"]
    ]
    return {
        "applications": charts.bar_chart(
            title=_("Applications per day"),
            categories=categories,
            series=[
                charts.Series(this_week, [d["applications"] for d in days], charts.THIS),
                charts.Series(week_before, [d["previous_applications"] for d in days], charts.BEFORE),
            ],
            value_label=lambda v: count(int(v)),
        ),
        "refunded": charts.line_chart(
            title=_("Refunded amount per day (CNY)"),
            categories=categories,
            series=[
                charts.Series(this_week, [Decimal(d["refunded_amount"]) for d in days], charts.THIS),
                charts.Series(week_before, [Decimal(d["previous_refunded_amount"]) for d in days], charts.BEFORE),
            ],
            value_label=lambda v: f"{Decimal(v):,.0f}",
        ),
        "reasons": charts.ranking_chart(title=_("Reasons"), rows=reasons, empty=empty),
        "courses": charts.ranking_chart(title=_("Courses by refunds ÷ revenue"), rows=courses, empty=empty),
    }


def _table(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            row["label"],
            count(row["applications"]),
            money(Decimal(row["refunded_amount"])),
            percent(None if row["refund_ratio"] is None else Decimal(row["refund_ratio"]), 2),
        ]
        for row in rows
    ]


def weekly_review_context(review: WeeklyReview) -> dict[str, Any]:
    figures = review.figures
    now, before = _stored_indicators(figures["current"]), _stored_indicators(figures["previous"])
    return {
        "school_name": settings.SCHOOL_NAME,
        "scope": scope_label(review),
        "week": _period(figures["week_start"], figures["week_end"]),
        "previous_week": _period(figures["previous_start"], figures["previous_end"]),
        "cards": _cards(now, before),
        "charts": _charts(figures),
        "tables": [
            (_("Top %(n)s courses by refunds") % {"n": TOP}, _table(figures["courses"])),
            (_("Top %(n)s homeroom teachers by refunds") % {"n": TOP}, _table(figures["teachers"])),
        ],
        "refunded_count": count(now.refunded_count),
        "revenue": money(now.revenue),
        "alerts": figures.get("alerts") or {"count": 0, "rows": []},
        "service_cards": service_cards_of_review(figures.get("service")),
        "created_at": f"{timezone.localtime(review.created_at):%Y-%m-%d %H:%M}",
        "as_of": f"{timezone.localtime(datetime.datetime.fromisoformat(figures['as_of'])):%Y-%m-%d %H:%M}",
    }


def weekly_review_render(review: WeeklyReview) -> bytes:
    """The review's one-page PDF, in the school's language, from its stored figures."""
    from weasyprint import HTML  # Pango is loaded on first use, not when Django starts

    with translation.override(settings.LANGUAGE_CODE):
        html = render_to_string("analytics/weekly_review.html", weekly_review_context(review))
    return HTML(string=html).write_pdf()


def weekly_review_pdf_response(review: WeeklyReview) -> FileResponse:
    """The stored PDF, inline, under its readable name; never cached."""
    try:
        handle = review.pdf.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The weekly review's PDF is missing from storage.") from exc
    with translation.override(settings.LANGUAGE_CODE):
        name = weekly_review_file_name(review)
    response = FileResponse(handle, content_type=PDF, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
