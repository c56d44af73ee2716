"""Reads of the service desk: the campus's clock, a student's tickets (without internal notes),
and the tickets staff may see."""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, QuerySet

from payments.models import CalendarDay
from schoolops.models import User
from schoolops.scoping import scope_to_campus
from students.models import Student

from .clock import DeskClock
from .models import DeskSettings, MessageKind, Ticket, TicketMessage

_CALENDAR_BEFORE = datetime.timedelta(days=7)
_CALENDAR_AFTER = datetime.timedelta(days=120)


def desk_settings_for(*, campus_id: int) -> DeskSettings:
    """The campus's desk settings, or the defaults (unsaved) where it has none."""
    found = DeskSettings.objects.filter(campus_id=campus_id).first()
    return found if found is not None else DeskSettings(campus_id=campus_id)


def desk_clock_for(*, settings: DeskSettings, around: datetime.date) -> DeskClock:
    """The campus's clock with the calendar's holidays and make-up days near ``around``."""
    overrides = dict(
        CalendarDay.objects.filter(date__gte=around - _CALENDAR_BEFORE, date__lte=around + _CALENDAR_AFTER).values_list(
            "date", "is_workday"
        )
    )
    return DeskClock(
        opens_at=settings.opens_at,
        closes_at=settings.closes_at,
        open_on_weekends=settings.open_on_weekends,
        overrides=overrides,
    )


def tickets_of_student(*, student: Student) -> QuerySet[Ticket]:
    return Ticket.objects.filter(student=student).select_related("order__course", "refund_request")


def ticket_of_student(*, student: Student, ticket_no: str) -> Ticket | None:
    """Her ticket with the conversation she may read (never the internal notes), or None."""
    public = (
        TicketMessage.objects.exclude(kind=MessageKind.NOTE).select_related("author").prefetch_related("attachments")
    )
    return (
        tickets_of_student(student=student)
        .select_related("owner__user", "solution_refund")
        .prefetch_related(Prefetch("messages", queryset=public, to_attr="public_messages"))
        .filter(ticket_no=ticket_no)
        .first()
    )


def tickets_visible_to(*, user: User) -> QuerySet[Ticket]:
    """The tickets of the campuses ``user`` may see."""
    return scope_to_campus(Ticket.objects.all(), user=user, campus_field="campus")
