"""Her notification settings: e-mail, SMS and WeChat can be turned off; the inbox cannot."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import NotificationPreference

pytestmark = pytest.mark.django_db


def test_a_student_turns_sms_off_on_her_settings_page(client, student):
    url = reverse("portal:notification_settings")
    client.force_login(student.user)
    assert client.get(url).status_code == 200
    response = client.post(url, {"email_enabled": "on", "wechat_enabled": "on"})
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=student.user)
    assert (preference.email_enabled, preference.sms_enabled, preference.wechat_enabled) == (True, False, True)
    assert "inbox" not in [f.name for f in preference._meta.get_fields() if f.name.endswith("_enabled")]


def test_the_settings_page_is_for_students_only(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("portal:notification_settings")).status_code == 403
