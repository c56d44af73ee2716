"""The help center (帮助中心): refund policies and common questions."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from refunds.selectors import approval_settings_for
from servicedesk.selectors import desk_settings_for

from .. import selectors
from ..tickets import desk_promise
from .common import StudentRequest, student_page


@require_GET
@student_page
def help_center(request: StudentRequest) -> HttpResponse:
    """Each course type's refund policy in plain words, the questions students ask most, and the
    way to customer service.

    The amounts, deadlines and service hours quoted are those of the student's campus.
    """
    context = {
        "policies": selectors.course_type_policies(),
        "approval": approval_settings_for(campus=request.student.campus_id),
        "evidence_files": MAX_EVIDENCE_FILES,
        "evidence_megabytes": MAX_EVIDENCE_BYTES // (1024 * 1024),
        "promise": desk_promise(desk_settings_for(campus_id=request.student.campus_id)),
    }
    return render(request, "portal/help.html", context)


urlpatterns = [
    path("help/", help_center, name="help"),
]
