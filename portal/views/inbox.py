"""The inbox (站内信) of the personal center: the student's messages, newest first."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from notifications.models import InboxMessage

from .common import student_page
from .orders import url_or_blank

PAGE_SIZE = 20


@require_GET
@student_page
def inbox(request: HttpRequest) -> HttpResponse:
    """Her messages, 20 a page; unread ones stand out."""
    messages = InboxMessage.objects.filter(recipient=request.user).select_related("refund_request")
    page = Paginator(messages, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "portal/inbox.html", {"page": page})


@require_GET
@student_page
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One of her messages; opening it marks it read."""
    message = InboxMessage.objects.filter(recipient=request.user, pk=pk).select_related("refund_request").first()
    if message is None:
        raise Http404("No such message in your inbox.")
    message.mark_read(at=timezone.now())
    request_url = ""
    if message.refund_request is not None:
        request_url = url_or_blank("portal:request", message.refund_request.request_no)
    return render(request, "portal/inbox.html", {"message": message, "request_url": request_url})


urlpatterns = [
    path("inbox/", inbox, name="inbox"),
    path("inbox/<int:pk>/", message_detail, name="message"),
]
