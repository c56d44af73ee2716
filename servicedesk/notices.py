"""What the people of a ticket are told, written to the outbox inside the change's transaction
(delivery follows the commit). The student is never sent an internal note."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.services.outbox import notify
from notifications.services.recipients import (
    STAFF_CHANNELS,
    campus_robots,
    recipient_for_user,
    school_contact,
    site_url,
)
from schoolops.models import Staff

from .events import (
    TICKET_ASSIGNED,
    TICKET_ESCALATED,
    TICKET_RECEIVED,
    TICKET_REPLIED,
    TICKET_RESOLVED,
    TICKET_STUDENT_WROTE,
)
from .models import SlaClock, Ticket, TicketEscalation, TicketMessage, TicketPriority
from .selectors import desk_settings_for

STUDENT_CHANNELS = ("inbox", "email", "sms")
EXCERPT = 200


def _student_link(ticket: Ticket) -> str:
    return site_url(reverse("portal:ticket", args=[ticket.ticket_no]))


def _staff_link(ticket: Ticket) -> str:
    return site_url(reverse("admin:servicedesk_ticket_change", args=[ticket.pk]))


def _student(ticket: Ticket):
    student = ticket.student
    return recipient_for_user(student.user, openid=student.wechat_openid)


def _local(at: datetime.datetime | None) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else ""


def duration_words(minutes: int) -> str:
    """30 → "30 分钟", 240 → "4 小时", 90 → "1 小时 30 分钟" (in the active language)."""
    hours, rest = divmod(int(minutes), 60)
    parts = []
    if hours:
        parts.append(ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours})
    if rest or not hours:
        parts.append(ngettext("%(n)d minute", "%(n)d minutes", rest) % {"n": rest})
    return " ".join(parts)


def expected_reply(ticket: Ticket) -> str:
    """The sentence that tells the student when to expect our answer (seed 002, step 1)."""
    settings = desk_settings_for(campus_id=ticket.campus_id)
    urgent = ticket.priority == TicketPriority.URGENT
    minutes = settings.urgent_response_minutes if urgent else settings.response_minutes
    values = {
        "due": _local(ticket.response_due_at),
        "opens": f"{settings.opens_at:%H:%M}",
        "closes": f"{settings.closes_at:%H:%M}",
        "within": duration_words(minutes),
    }
    if urgent:
        return (
            _("We will answer by %(due)s (urgent questions: within %(within)s of our hours, %(opens)s–%(closes)s).")
            % values
        )
    return _("We will answer by %(due)s (within %(within)s of our hours, %(opens)s–%(closes)s).") % values


def _tell_student(ticket: Ticket, *, event: str, key: str, values: Callable[[], dict[str, str]]) -> None:
    """A message to the ticket's student: the ticket, her link and the contact line, plus ``values``
    (called in her language, like the rest)."""

    def context() -> dict[str, str]:
        return {
            "ticket_no": ticket.ticket_no,
            "subject": ticket.subject,
            "link": _student_link(ticket),
            "contact": school_contact(),
            **values(),
        }

    notify(key=key, event=event, recipients=[_student(ticket)], context=context, channels=STUDENT_CHANNELS)


def ticket_received(ticket: Ticket) -> None:
    _tell_student(
        ticket,
        event=TICKET_RECEIVED,
        key=f"ticket:{ticket.pk}:received",
        values=lambda: {
            "category": ticket.get_category_display(),
            "expected": expected_reply(ticket),
            "due": _local(ticket.response_due_at),
        },
    )
    if ticket.owner_id is not None:
        ticket_assigned(ticket)


def ticket_assigned(ticket: Ticket) -> None:
    owner = ticket.owner
    if owner is None:
        return

    def context() -> dict[str, str]:
        return {
            "ticket_no": ticket.ticket_no,
            "subject": ticket.subject,
            "category": ticket.get_category_display(),
            "priority": ticket.get_priority_display(),
            "student_name": ticket.student.name,
            "due": _local(ticket.response_due_at),
            "link": _staff_link(ticket),
        }

    notify(
        key=f"ticket:{ticket.pk}:owner:{owner.pk}:{timezone.now():%Y%m%d%H%M%S%f}",
        event=TICKET_ASSIGNED,
        recipients=[recipient_for_user(owner.user)],
        context=context,
        channels=STAFF_CHANNELS,
    )


def ticket_replied(ticket: Ticket, message: TicketMessage) -> None:
    _tell_student(
        ticket,
        event=TICKET_REPLIED,
        key=f"ticket-message:{message.pk}",
        values=lambda: {"message": _excerpt(message.body)},
    )


def ticket_resolved(ticket: Ticket, message: TicketMessage) -> None:
    _tell_student(
        ticket,
        event=TICKET_RESOLVED,
        key=f"ticket-message:{message.pk}",
        values=lambda: {"solution": _excerpt(ticket.solution)},
    )


def ticket_student_wrote(ticket: Ticket, message: TicketMessage) -> None:
    people = [ticket.owner] if ticket.owner is not None and ticket.owner.user.is_active else []
    if not people:
        return

    def context() -> dict[str, str]:
        return {
            "ticket_no": ticket.ticket_no,
            "subject": ticket.subject,
            "student_name": ticket.student.name,
            "message": _excerpt(message.body),
            "due": _local(ticket.response_due_at),
            "link": _staff_link(ticket),
        }

    notify(
        key=f"ticket-message:{message.pk}",
        event=TICKET_STUDENT_WROTE,
        recipients=[recipient_for_user(staff.user) for staff in people],
        context=context,
        channels=STAFF_CHANNELS,
    )


def escalation_state(escalation: TicketEscalation, *, now: datetime.datetime) -> str:
    """ "首次回复将于 15:30 超时" / "处理已超时 35 分钟": what the clock says, in the reader's language."""
    late = int((now - escalation.due_at).total_seconds() // 60)
    reply = escalation.clock == SlaClock.RESPONSE
    if late < 0:
        values = {"due": _local(escalation.due_at)}
        return (_("The reply is due by %(due)s") if reply else _("The solution is due by %(due)s")) % values
    values = {"late": duration_words(max(late, 1))}
    return (_("The reply is late by %(late)s") if reply else _("The solution is late by %(late)s")) % values


def ticket_escalated(ticket: Ticket, escalation: TicketEscalation, told: Iterable[Staff]) -> None:
    def context() -> dict[str, str]:
        return {
            "ticket_no": ticket.ticket_no,
            "subject": ticket.subject,
            "category": ticket.get_category_display(),
            "level": escalation.get_level_display(),
            "state": escalation_state(escalation, now=escalation.at),
            "owner": str(ticket.owner.user) if ticket.owner else _("nobody yet"),
            "due": _local(escalation.due_at),
            "link": _staff_link(ticket),
        }

    key = f"ticket-escalation:{escalation.pk}"
    notify(
        key=key,
        event=TICKET_ESCALATED,
        recipients=[recipient_for_user(staff.user) for staff in told],
        context=context,
        channels=STAFF_CHANNELS,
    )
    robots = campus_robots(event=TICKET_ESCALATED, campus_ids=[ticket.campus_id])
    notify(key=key, event=TICKET_ESCALATED, recipients=robots, context=context, channels=("webhook",))


def _excerpt(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT else f"{text[: EXCERPT - 1]}…"
