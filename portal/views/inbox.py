"""The inbox (站内信) of the personal center: the student's messages, newest first."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from notifications.services import inbox_mark_all_read

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


@require_POST
@student_page
def mark_all_read(request: StudentRequest) -> HttpResponseRedirect:
    """全部已读."""
    count = inbox_mark_all_read(user=request.user)
    if count:
        messages.success(request, _("All your messages are marked read."))
    return redirect("portal:inbox")


urlpatterns = [
    path("inbox/", inbox, name="inbox"),
    path("inbox/<int:pk>/", message_detail, name="message"),
    path("inbox/read-all/", mark_all_read, name="inbox_read_all"),
]
