"""Her rating (满意度) of a resolved ticket or a finished refund, and her copy of a ticket's record."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from servicedesk.models import Rating
from servicedesk.records import ticket_record_response
from servicedesk.satisfaction import rating_for_refund, rating_for_ticket
from servicedesk.selectors import tickets_of_student
from servicedesk.services import TicketError

from ..forms import RatingForm
from .common import StudentRequest, student_page


def rating_context(rating: Rating | None, *, can_rate: bool, action: str) -> dict[str, object]:
    """What the rating card of a page needs: her rating so far, and the form while she may (re)rate."""
    form = RatingForm(initial={"score": rating.score, "comment": rating.comment} if rating else None)
    return {"rating": rating, "rating_form": form if can_rate else None, "rating_action": action}


@require_POST
@student_page
def ticket_rate(request: StudentRequest, ticket_no: str) -> HttpResponseBase:
    return _rate(
        request,
        lambda data: rating_for_ticket(student=request.student, ticket_no=ticket_no, **data),
        redirect("portal:ticket", ticket_no=ticket_no),
    )


@require_POST
@student_page
def refund_rate(request: StudentRequest, request_no: str) -> HttpResponseBase:
    return _rate(
        request,
        lambda data: rating_for_refund(student=request.student, request_no=request_no, **data),
        redirect("portal:request", request_no=request_no),
    )


def _rate(request: StudentRequest, save, back: HttpResponse) -> HttpResponse:
    form = RatingForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        back["Location"] += "#rating"
        return back
    try:
        save({"score": form.cleaned_data["score"], "comment": form.cleaned_data["comment"]})
    except TicketError as exc:
        if exc.code == "not_found":
            raise Http404(exc.message) from exc
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you for your rating."))
    back["Location"] += "#rating"
    return back


@require_GET
@student_page
def ticket_record(request: StudentRequest, ticket_no: str) -> StreamingHttpResponse:
    """Her copy of the ticket's record (ZIP): everything she was shown, nothing internal."""
    ticket = tickets_of_student(student=request.student).filter(ticket_no=ticket_no).first()
    if ticket is None:
        raise Http404("No such ticket among yours.")
    return ticket_record_response(ticket, for_student=True)


urlpatterns = [
    path("tickets/<str:ticket_no>/rate/", ticket_rate, name="ticket_rate"),
    path("tickets/<str:ticket_no>/record.zip", ticket_record, name="ticket_record"),
    path("refunds/<str:request_no>/rate/", refund_rate, name="refund_rate"),
]
