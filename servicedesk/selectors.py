"""Reads of the service desk: the campus's clock, a student's tickets (without internal notes),
the tickets staff may see, one ticket's whole page, and who may own a campus's tickets."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import Permission
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from payments.models import CalendarDay
from schoolops.models import Staff, User
from schoolops.scoping import scope_to_campus
from students.models import Student

from .clock import DeskClock
from .models import DeskSettings, MessageKind, Ticket, TicketEscalation, TicketMessage

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


def desk_of(*, campus_id: int, around: datetime.datetime) -> tuple[DeskSettings, DeskClock]:
    """The campus's settings and its clock, with the calendar around the moment ``around``."""
    settings = desk_settings_for(campus_id=campus_id)
    return settings, desk_clock_for(settings=settings, around=timezone.localdate(around))


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


# What a ticket's page shows besides its own row, loaded with it.
TICKET_PAGE_RELATED = (
    "student__user",
    "campus",
    "order__course",
    "refund_request",
    "owner__user",
    "registered_by",
    "assessed_by",
    "resolved_by",
    "archived_by",
    "solution_refund",
    "root_course",
    "root_teacher__user",
)


def ticket_page_for_staff(*, user: User, ticket_id: int) -> Ticket | None:
    """A ticket of ``user``'s campuses with its whole conversation (internal notes included, each
    message's author and files) and its escalations (who was told); None outside her campuses."""
    conversation = TicketMessage.objects.select_related("author").prefetch_related("attachments")
    escalations = TicketEscalation.objects.prefetch_related(
        Prefetch("told", queryset=Staff.objects.select_related("user"))
    )
    return (
        tickets_visible_to(user=user)
        .select_related(*TICKET_PAGE_RELATED)
        .prefetch_related(
            Prefetch("messages", queryset=conversation, to_attr="conversation"),
            Prefetch("escalations", queryset=escalations, to_attr="escalation_rows"),
        )
        .filter(pk=ticket_id)
        .first()
    )


def ticket_handlers(*, campus_id: int) -> QuerySet[Staff]:
    """The active staff of the campus who may own its tickets: those holding
    ``servicedesk.handle_ticket`` (through their role's group or their own), superusers too."""
    permission = Permission.objects.filter(content_type__app_label="servicedesk", codename="handle_ticket")
    holds = (
        Q(user__is_superuser=True)
        | Q(user__groups__permissions__in=permission)
        | Q(user__user_permissions__in=permission)
    )
    matching = Staff.objects.active().filter(campus_id=campus_id).filter(holds).values("pk")
    return Staff.objects.filter(pk__in=matching).select_related("user").order_by("role", "user__name", "pk")
