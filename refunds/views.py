"""Evidence files, served only to the people allowed to see them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from schoolops.files import private_file_response
from schoolops.models import Staff
from schoolops.scoping import SEE_ALL_CAMPUSES

from .models import RefundEvidence


@require_GET
@login_required
@xframe_options_sameorigin  # the admin's request page previews PDFs in a frame of the same site
def evidence_file(request: HttpRequest, pk: int) -> FileResponse:
    """One evidence file, inline, for the student who gave it, staff of the request's campus, or
    head office. Anyone else gets 404, as if it did not exist."""
    evidence = _visible_evidence(request.user).filter(pk=pk).first()
    if evidence is None:
        raise Http404("No such file.")
    return private_file_response(evidence.file, content_type=evidence.content_type, filename=evidence.original_name)


def _visible_evidence(user):
    """The evidence ``user`` may open: her own requests', her campus's (active staff), or all."""
    evidence = RefundEvidence.objects.all()
    if user.is_superuser or user.has_perm(SEE_ALL_CAMPUSES):
        return evidence
    visible = Q(request__student__user=user)
    staff = Staff.objects.filter(user=user).only("campus_id").first() if user.is_active else None
    if staff is not None:
        visible |= Q(request__campus_id=staff.campus_id)
    return evidence.filter(visible)
