"""The personal center's notification settings: e-mail, SMS and WeChat can be turned off; the inbox cannot."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from notifications.models import NotificationPreference

from .. import selectors
from .common import StudentRequest, student_page


class NotificationPreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ("email_enabled", "sms_enabled", "wechat_enabled")
        labels = {
            "email_enabled": gettext_lazy("Send me e-mails"),
            "sms_enabled": gettext_lazy("Send me text messages (SMS)"),
            "wechat_enabled": gettext_lazy("Send me WeChat messages"),
        }


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
