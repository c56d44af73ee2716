"""A ticket's record as one ZIP: the facts and four steps (ticket.txt), the conversation
(conversation.txt) and the attachments. The student's copy leaves out everything internal (the
notes, the finding, the review, the escalations); staff's copy has it all."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from django.db.models import Prefetch
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from finance.exports import content_disposition
from finance.writers import Entry, file_chunks, safe_name, zip_chunks

from .models import MessageKind, Ticket, TicketMessage


def ticket_record_response(ticket: Ticket, *, for_student: bool) -> StreamingHttpResponse:
    """The record as a download, written as it is read (attachments copied in chunks)."""
    response = StreamingHttpResponse(zip_chunks(ticket_record_entries(ticket, for_student=for_student)))
    response["Content-Type"] = "application/zip"
    response["Content-Disposition"] = content_disposition(
        _("Ticket %(no)s.zip") % {"no": ticket.ticket_no}, fallback=f"ticket_{ticket.ticket_no}.zip"
    )
    response["Cache-Control"] = "private, no-store"
    return response


def ticket_record_entries(ticket: Ticket, *, for_student: bool) -> Iterator[Entry]:
    messages = TicketMessage.objects.filter(ticket=ticket).select_related("author").prefetch_related("attachments")
    if for_student:
        messages = messages.exclude(kind=MessageKind.NOTE)
    ticket = (
        Ticket.objects.select_related("student__user", "campus", "owner__user", "order__course", "refund_request")
        .prefetch_related(Prefetch("messages", queryset=messages, to_attr="record_messages"))
        .get(pk=ticket.pk)
    )
    shown: list[TicketMessage] = ticket.record_messages
    yield Entry("ticket.txt", _facts(ticket, for_student=for_student).encode("utf-8"))
    yield Entry("conversation.txt", _conversation(shown, for_student=for_student).encode("utf-8"))
    number = 0
    for message in shown:
        for attachment in message.attachments.all():
            number += 1
            yield Entry(
                f"attachments/{number:02d}_{safe_name(attachment.original_name)}",
                file_chunks(attachment.file),  # a generator: the file is opened when the ZIP reads it
                message.created_at,
            )


def _facts(ticket: Ticket, *, for_student: bool) -> str:
    rows = [
        (_("Ticket"), ticket.ticket_no),
        (_("Subject"), ticket.subject),
        (_("Category"), ticket.get_category_display()),
        (_("Priority"), ticket.get_priority_display()),
        (_("Status"), ticket.get_status_display()),
        (_("Student"), f"{ticket.student.name} ({ticket.student.student_no})"),
        (_("Campus"), str(ticket.campus)),
        (_("Received through"), ticket.get_channel_display()),
        (_("Contacted at"), _time(ticket.contacted_at)),
        (_("Order concerned"), f"{ticket.order.order_no} {ticket.order.course.name}" if ticket.order else ""),
        (_("Refund request"), ticket.refund_request.request_no if ticket.refund_request else ""),
        (_("First response at"), _time(ticket.first_response_at)),
        (_("Solution"), f"{ticket.get_solution_kind_display()}: {ticket.solution}" if ticket.solution_kind else ""),
        (_("Resolved at"), _time(ticket.resolved_at)),
    ]
    if not for_student:
        rows += [
            (_("Owner"), str(ticket.owner.user) if ticket.owner else ""),
            (_("Finding"), ticket.assessment),
            (_("Policy point"), ticket.policy_point),
            (_("Root cause"), ticket.get_root_cause_display() if ticket.root_cause else ""),
            (_("Review"), ticket.review_note),
            (_("Archived at"), _time(ticket.archived_at)),
            (_("Escalations"), "; ".join(_escalation(e) for e in ticket.escalations.all())),
        ]
    return "\n".join(f"{label}: {value}" for label, value in rows if value) + "\n"


def _escalation(escalation) -> str:
    return f"{_time(escalation.at)} {escalation.get_level_display()} ({escalation.get_clock_display()})"


def _conversation(messages: list[TicketMessage], *, for_student: bool) -> str:
    blocks = []
    for message in messages:
        if message.kind == MessageKind.STUDENT:
            who = _("Student")
        else:
            who = _("Customer service") if for_student else str(message.author or "")
        heading = f"[{_time(message.created_at)}] {who}"
        if message.kind == MessageKind.NOTE:
            heading += f" ({_('internal note')})"
        names = ", ".join(a.original_name for a in message.attachments.all())
        blocks.append(heading + "\n" + message.body + (f"\n({_('Attachments')}: {names})" if names else ""))
    return "\n\n".join(blocks) + "\n"


def _time(value: datetime.datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else ""
