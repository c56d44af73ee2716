"""Her tickets to customer service (我的工单): the list, 联系客服 (open one), one ticket with its
conversation and her reply.

Every lookup starts from ``request.student``: another student's ticket is a 404. The views
validate the form, call one service (``ticket_open``, ``ticket_student_reply``) and put its
``TicketError`` at the field it names, or at the top of the page; what she typed stays.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from servicedesk.helpcenter import help_articles_search
from servicedesk.models import Rating, Ticket, TicketPriority, TicketStatus
from servicedesk.notices import expected_reply
from servicedesk.satisfaction import RATEABLE_TICKETS
from servicedesk.selectors import desk_settings_for, ticket_of_student
from servicedesk.services import TicketError, ticket_open, ticket_student_reply

from .. import selectors
from ..forms import TicketOpenForm, TicketReplyForm
from ..tickets import TicketState, desk_promise, reply_owed, ticket_state, ticket_steps
from .common import StudentRequest, student_page
from .ratings import rating_context

PAGE_SIZE = 20
FILE_LIMITS = {"max_files": MAX_EVIDENCE_FILES, "max_mb": MAX_EVIDENCE_BYTES // (1024 * 1024)}
# The service's codes that are not the name of a form field.
FIELD_OF_CODE = {"priority": "urgent"}
# How long a sent form is remembered, so that sending it again shows the ticket it opened.
SUBMISSION_SECONDS = 24 * 3600
_SUBMISSION = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class TicketRow:
    ticket: Ticket
    state: TicketState
    url: str


# --- The list ---------------------------------------------------------------------------------


@require_GET
@student_page
def ticket_list(request: StudentRequest) -> HttpResponse:
    """我的工单: her tickets, newest first, 20 a page; a reply of ours she has not answered stands out."""
    tickets = selectors.ticket_list_for_student(student=request.student)
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        TicketRow(ticket, ticket_state(ticket), reverse("portal:ticket", args=[ticket.ticket_no]))
        for ticket in page.object_list
    ]
    return render(request, "portal/tickets.html", {"page": page, "rows": rows})


# --- Open one -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@student_page
def ticket_new(request: StudentRequest) -> HttpResponse:
    """联系客服: the reply time she can expect, then the form; ``?order=`` or ``?request=`` preselects."""
    student = request.student
    if request.method == "GET":
        form = TicketOpenForm(student=student, initial={"submission": uuid.uuid4().hex})
        form.preselect(order_no=request.GET.get("order", ""), request_no=request.GET.get("request", ""))
        return _new_page(request, form)
    form = TicketOpenForm(request.POST, request.FILES, student=student)
    if not form.is_valid():
        return _new_page(request, form)
    data = form.cleaned_data
    key = _submission_key(request, data["submission"])
    if key and not cache.add(key, "", timeout=SUBMISSION_SECONDS):
        return _sent_before(request, cache.get(key))
    try:
        ticket = ticket_open(
            student=student,
            category=data["category"],
            subject=data["subject"],
            description=data["description"],
            priority=TicketPriority.URGENT if data["urgent"] else TicketPriority.NORMAL,
            urgent_reason=data["urgent_reason"],
            order_id=data["order"].pk if data["order"] else None,
            refund_request_id=data["refund_request"].pk if data["refund_request"] else None,
            attachments=data["attachments"],
        )
    except TicketError as exc:
        if key:
            cache.delete(key)  # corrected and sent again, the same form may open the ticket
        form.add_error(_field_of(form, exc.code), exc.message)
        return _new_page(request, form)
    if key:
        cache.set(key, ticket.ticket_no, timeout=SUBMISSION_SECONDS)
    messages.success(
        request,
        _("Your ticket %(no)s has reached customer service. %(expected)s")
        % {"no": ticket.ticket_no, "expected": expected_reply(ticket)},
    )
    return redirect("portal:ticket", ticket_no=ticket.ticket_no)


def _new_page(request: StudentRequest, form: TicketOpenForm) -> HttpResponse:
    campus_id = form.chosen_campus_id() or request.student.campus_id
    typed = " ".join(str(form.data.get(name, "")) for name in ("subject", "description")) if form.is_bound else ""
    context = {
        "form": form,
        "answers": help_articles_search(typed) if typed.strip() else [],
        "promise": desk_promise(desk_settings_for(campus_id=campus_id)),
        "choose_files_again": form.is_bound and bool(request.FILES),
        **FILE_LIMITS,
    }
    return render(request, "portal/ticket_new.html", context)


def _field_of(form: TicketOpenForm | TicketReplyForm, code: str) -> str | None:
    """The form field a service's refusal is about, or None for the top of the page."""
    name = FIELD_OF_CODE.get(code, code)
    return name if name in form.fields else None


def _submission_key(request: StudentRequest, submission: str) -> str:
    if not _SUBMISSION.match(submission or ""):
        return ""
    return f"portal:ticket-submission:{request.student.pk}:{submission}"


def _sent_before(request: StudentRequest, ticket_no: str | None) -> HttpResponse:
    """The same form again (a second tap, the back button): show what the first one did."""
    if ticket_no:
        messages.info(request, _("This form was already sent: here is the ticket it opened."))
        return redirect("portal:ticket", ticket_no=ticket_no)
    messages.info(request, _("This form is being sent; your ticket will appear here in a moment."))
    return redirect("portal:tickets")


# --- One ticket ---------------------------------------------------------------------------------


@require_GET
@student_page
def ticket_detail(request: StudentRequest, ticket_no: str) -> HttpResponse:
    """Her ticket: where it is, when we answer, the solution, the conversation, her reply."""
    return _ticket_page(request, _ticket_or_404(request, ticket_no))


@require_POST
@student_page
def ticket_reply(request: StudentRequest, ticket_no: str) -> HttpResponse:
    """Her next message; on a resolved ticket it opens the ticket again."""
    ticket = _ticket_or_404(request, ticket_no)
    form = TicketReplyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            ticket_student_reply(
                student=request.student,
                ticket_no=ticket.ticket_no,
                body=form.cleaned_data["body"],
                attachments=form.cleaned_data["attachments"],
            )
        except TicketError as exc:
            field = _field_of(form, exc.code)
            if field is None:
                messages.error(request, exc.message)
                return redirect("portal:ticket", ticket_no=ticket.ticket_no)
            form.add_error(field, exc.message)
        else:
            if ticket.status == TicketStatus.RESOLVED:
                messages.success(request, _("Your message was sent and the ticket is open again."))
            else:
                messages.success(request, _("Your message was sent."))
            return redirect("portal:ticket", ticket_no=ticket.ticket_no)
    return _ticket_page(request, ticket, form=form, status=400)


def _ticket_page(
    request: StudentRequest, ticket: Ticket, *, form: TicketReplyForm | None = None, status: int = 200
) -> HttpResponse:
    archived = ticket.status == TicketStatus.ARCHIVED
    context = {
        "ticket": ticket,
        "state": ticket_state(ticket),
        "steps": ticket_steps(ticket),
        "expected": expected_reply(ticket) if reply_owed(ticket) else "",
        "conversation": ticket.public_messages,  # type: ignore[attr-defined]  # prefetched: no internal notes
        "form": None if archived else (form or TicketReplyForm()),
        "choose_files_again": form is not None and bool(request.FILES),
        **rating_context(
            Rating.objects.filter(ticket=ticket).first() if ticket.status in RATEABLE_TICKETS else None,
            can_rate=ticket.status in RATEABLE_TICKETS,
            action=reverse("portal:ticket_rate", args=[ticket.ticket_no]),
        ),
        "record_url": reverse("portal:ticket_record", args=[ticket.ticket_no]),
        "solution_refund_url": (
            reverse("portal:request", args=[ticket.solution_refund.request_no]) if ticket.solution_refund else ""
        ),
        **FILE_LIMITS,
    }
    return render(request, "portal/ticket.html", context, status=status)


def _ticket_or_404(request: StudentRequest, ticket_no: str) -> Ticket:
    ticket = ticket_of_student(student=request.student, ticket_no=ticket_no)
    if ticket is None:
        raise Http404("No such ticket among yours.")
    return ticket


urlpatterns = [
    path("tickets/", ticket_list, name="tickets"),
    path("tickets/new/", ticket_new, name="ticket_new"),
    path("tickets/<str:ticket_no>/", ticket_detail, name="ticket"),
    path("tickets/<str:ticket_no>/reply/", ticket_reply, name="ticket_reply"),
]
