"""A ticket's attachments, served only to the people allowed to see them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from schoolops.files import private_file_response
from schoolops.scoping import visible_campus_ids

from .models import MessageKind, TicketAttachment


@require_GET
@login_required
@xframe_options_sameorigin
def attachment_file(request: HttpRequest, pk: int) -> FileResponse:
    """One attachment, inline: for the student of the ticket (never an internal note's), or staff
    who handle tickets at its campus. Anyone else gets 404, as if it did not exist."""
    attachment = _visible_attachments(request.user).filter(pk=pk).first()
    if attachment is None:
        raise Http404("No such file.")
    return private_file_response(
        attachment.file, content_type=attachment.content_type, filename=attachment.original_name
    )


def _visible_attachments(user):
    attachments = TicketAttachment.objects.all()
    visible = Q(message__ticket__student__user=user) & ~Q(message__kind=MessageKind.NOTE)
    if user.is_active and user.has_perm("servicedesk.view_ticket"):
        ids = visible_campus_ids(user)
        if ids is None:
            return attachments
        visible |= Q(message__ticket__campus_id__in=ids)
    return attachments.filter(visible)
