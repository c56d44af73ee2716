"""Referrals (老带新): her code and share link, how it works, the friends she brought; and the public
page the link opens, which shows a friend the code to give when enrolling and nothing about her
but a masked name."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from notifications.services.recipients import site_url
from service.selectors import masked_name, referral_code_find, referrals_of, service_settings_for
from service.services import referral_code_for

from .common import StudentRequest, student_page

SHOWN_CODE = 16  # an unknown code is echoed at most this long


def _share_url(request: HttpRequest, code: str) -> str:
    """The landing page's address as messages link to it (the site's own address when set)."""
    where = reverse("portal:referral_landing", args=[code])
    url = site_url(where)
    return url if "://" in url else request.build_absolute_uri(where)


@require_GET
@student_page
def referral(request: StudentRequest) -> HttpResponse:
    """Her code (made the first time she opens the page), the link to share, both rewards as her
    campus sets them, and her referrals so far with the new students' names masked."""
    student = request.student
    code = referral_code_for(student=student)
    referrals = list(referrals_of(student=student))
    context = {
        "code": code.code,
        "share_url": _share_url(request, code.code),
        "settings": service_settings_for(campus_id=student.campus_id),
        "referrals": [(masked_name(r.referee.name), r) for r in referrals],
        "rewards_total": sum((r.referrer_reward for r in referrals), Decimal("0.00")),
    }
    return render(request, "portal/referral.html", context)


@require_GET
def referral_landing(request: HttpRequest, code: str) -> HttpResponse:
    """The shared link (no login): the code to give when enrolling, the rewards, the school's
    contact. An unknown code is a friendly 404."""
    found = referral_code_find(code=code)
    if found is None:
        return render(request, "portal/referral_unknown.html", {"code": code[:SHOWN_CODE]}, status=404)
    context = {
        "code": found.code,
        "referrer": masked_name(found.student.name),
        "settings": service_settings_for(campus_id=found.student.campus_id),
    }
    return render(request, "portal/referral_landing.html", context)


urlpatterns = [
    path("me/referral/", referral, name="referral"),
    path("r/<str:code>/", referral_landing, name="referral_landing"),
]
