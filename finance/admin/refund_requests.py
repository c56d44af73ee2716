"""Finance's pieces of the refund request's admin page, added through refunds' extension point
(``refunds.admin.requests.request_page_extend``): refunds sits below finance and imports none of it.

- the dispute archive of a closed request, ``admin:refunds_refundrequest_archive`` at
  ``/admin/refunds/refundrequest/<id>/archive.zip``, fetched through the refund admin's
  campus-scoped queryset (404 outside the user's campuses);
- the archive button and the e-receipt link beside the decision buttons, for those who may have them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse

from refunds.admin.requests import RequestPagePanel, RequestPageView, request_page_extend
from refunds.models import CLOSED_STATES, RefundRequest, RefundStatus

from ..archive import ArchiveRefused, archive_response, can_download_archive
from ..models import Receipt

VIEW_RECEIPT = "finance.view_receipt"


def may_download_archive(request: HttpRequest) -> bool:
    return can_download_archive(request.user)


def archive_view(request: HttpRequest, obj: RefundRequest) -> HttpResponseBase:
    """The dispute archive of a closed request: finance, campus heads and head office; back to the
    request's page, with the reason, for an open one."""
    try:
        return archive_response(obj)
    except ArchiveRefused as exc:
        messages.error(request, str(exc))
        return redirect("admin:refunds_refundrequest_change", obj.pk)


def links_context(request: HttpRequest, obj: RefundRequest) -> dict[str, Any]:
    """The archive button of a closed request and its e-receipt, for the users who may have them."""
    if obj.status not in CLOSED_STATES:
        return {}
    context: dict[str, Any] = {}
    if can_download_archive(request.user):
        context["archive_url"] = reverse("admin:refunds_refundrequest_archive", args=[obj.pk])
    if obj.status == RefundStatus.REFUNDED and request.user.has_perm(VIEW_RECEIPT):
        receipt = Receipt.objects.filter(request=obj).first()
        if receipt is not None:
            context["receipt"] = receipt
    return context


request_page_extend(
    views=[RequestPageView("archive.zip", "archive", archive_view, may_download_archive)],
    panels=[RequestPagePanel("admin/finance/refundrequest_links.html", links_context)],
)
