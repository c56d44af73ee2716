"""The inbox (站内信) of the personal center: the student's messages, newest first."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .. import selectors
from .common import StudentRequest, student_page

PAGE_SIZE = 20


@require_GET
@student_page
def inbox(request: StudentRequest) -> HttpResponse:
    """Her messages, 20 a page; unread ones stand out."""
    page = Paginator(selectors.inbox_messages_for_user(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/inbox.html", {"page": page})


@require_GET
@student_page
def message_detail(request: StudentRequest, pk: int) -> HttpResponse:
    """One of her messages; opening it marks it read."""
    message = selectors.inbox_message_for_user(user=request.user, pk=pk)
    if message is None:
        raise Http404("No such message in your inbox.")
    message.mark_read(at=timezone.now())
    request_url = ""
    if message.refund_request is not None:
        request_url = reverse("portal:request", args=[message.refund_request.request_no])
    return render(request, "portal/inbox.html", {"message": message, "request_url": request_url})


urlpatterns = [
    path("inbox/", inbox, name="inbox"),
    path("inbox/<int:pk>/", message_detail, name="message"),
]
