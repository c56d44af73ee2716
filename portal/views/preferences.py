"""The personal center's notification settings: e-mail, SMS and WeChat can be turned off; the inbox cannot."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _

from .. import selectors
from ..forms import NotificationPreferenceForm
from .common import StudentRequest, student_page


@student_page
def notification_settings(request: StudentRequest) -> HttpResponse:
    """Her channels; the inbox always receives every message."""
    preference = selectors.notification_preference_for_user(user=request.user)
    form = NotificationPreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your notification settings are saved."))
        return redirect("portal:notification_settings")
    return render(request, "portal/notification_settings.html", {"form": form})


urlpatterns = [path("me/notifications/", notification_settings, name="notification_settings")]
