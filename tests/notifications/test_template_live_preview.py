"""The template editor's live preview: the text as typed, rendered with the event's sample values
through the sandbox (or its problems, the unknown placeholder named with its place), for those who
may change templates, CSRF-checked; and the SMS length the provider bills."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from notifications.admin import live_preview
from notifications.channels.sms import sms_length
from notifications.models import NotificationTemplate
from notifications.rendering import EVENTS
from schoolops.models import StaffRole
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("admin:notifications_notificationtemplate_live_preview")


def typed(**changes) -> dict[str, str]:
    return {
        "event": "refund.payout_succeeded",
        "channel": "sms",
        "subject": "",
        "body": "{{ student_name }}，退款 {{ amount }} 元已退回{{ channel }}。",
        **changes,
    }


# --- Counting SMS -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body_length", "segments"),
    [(0, 1), (64, 1), (65, 2), (128, 2), (129, 3), (195, 3), (196, 4)],
)
def test_sms_with_its_signature_counts_70_for_one_message_and_67_per_part(body_length, segments):
    length = sms_length("字" * body_length, sign_name="明德网校")  # 【明德网校】: 6 characters
    assert length.signature == "【明德网校】"
    assert length.characters == body_length + 6
    assert length.segments == segments


def test_an_empty_sms_without_signature_is_no_message():
    assert sms_length("", sign_name="").segments == 0
    assert sms_length("a" * 70, sign_name="").segments == 1
    assert sms_length("a" * 71, sign_name="").segments == 2


def test_the_signature_comes_from_the_sms_settings(settings):
    settings.SMS = {**settings.SMS, "SIGN_NAME": "测试学校"}
    assert sms_length("你好").signature == "【测试学校】"
    assert sms_length("你好").characters == 8


# --- The rendering --------------------------------------------------------------------------------


def test_the_preview_renders_the_sample_values_through_the_sandbox():
    answer = live_preview(**typed())
    sample = EVENTS["refund.payout_succeeded"].sample
    assert answer["ok"] is True
    assert answer["kind"] == "phone"
    assert answer["body"] == f"{sample['student_name']}，退款 {sample['amount']} 元已退回{sample['channel']}。"
    assert answer["sms"]["characters"] == len(answer["body"]) + len(answer["sms"]["signature"])


def test_an_email_is_previewed_as_a_mail_with_its_subject():
    answer = live_preview(**typed(channel="email", subject="退款 {{ request_no }}"))
    assert answer["kind"] == "email"
    assert answer["subject"] == f"退款 {EVENTS['refund.payout_succeeded'].sample['request_no']}"
    assert "sms" not in answer


def test_an_unknown_placeholder_is_named_with_its_field_line_and_column():
    answer = live_preview(**typed(body="您好，\n退款 {{ amount }} 元，密码 {{ password }}"))
    assert answer["ok"] is False
    assert answer["unknown"] == [{"field": "body", "name": "password", "line": 2, "column": 22}]
    assert any("password" in error["message"] for error in answer["errors"])
    assert any("password" in place for place in answer["places"])


def test_a_forbidden_tag_is_refused():
    answer = live_preview(**typed(body="{% load static %}{{ amount }}"))
    assert answer["ok"] is False
    assert "load" in answer["errors"][0]["message"]


# --- The endpoint ---------------------------------------------------------------------------------


def test_operations_get_the_rendered_sample(client, operations):
    client.force_login(operations.user)
    answer = client.post(URL, typed())
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/json"
    data = answer.json()
    assert data["ok"] is True
    assert "王小明" in data["body"] and "{{" not in data["body"]
    assert data["sms"]["segments"] == 1


def test_the_endpoint_refuses_an_unknown_placeholder_by_name(client, operations):
    client.force_login(operations.user)
    data = client.post(URL, typed(subject="{{ secret_code }}", channel="wechat")).json()
    assert data["ok"] is False
    assert data["unknown"][0]["name"] == "secret_code"
    assert data["unknown"][0]["field"] == "subject"


def test_a_user_without_change_permission_is_refused(client, homeroom):
    homeroom.user.user_permissions.add(Permission.objects.get(codename="view_notificationtemplate"))
    client.force_login(homeroom.user)
    assert client.post(URL, typed()).status_code == 403


def test_a_student_or_stranger_never_reaches_it(client, student):
    assert client.post(URL, typed()).status_code == 302
    client.force_login(student.user)
    assert client.post(URL, typed()).status_code in (302, 403)


def test_the_csrf_token_is_required(operations):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operations.user)
    assert browser.post(URL, typed()).status_code == 403
    page = browser.get(reverse("admin:notifications_notificationtemplate_add"))
    token = page.cookies["csrftoken"].value
    answer = browser.post(URL, typed(), HTTP_X_CSRFTOKEN=token)
    assert answer.status_code == 200
    assert answer.json()["ok"] is True


def test_only_post(client, operations):
    client.force_login(operations.user)
    assert client.get(URL, typed()).status_code == 405


def test_the_editor_carries_the_preview_panel_and_its_script(client, operations, shipped_data):
    template = NotificationTemplate.objects.get(event="refund.approved", channel="sms", language="zh-hans")
    client.force_login(operations.user)
    page = client.get(reverse("admin:notifications_notificationtemplate_change", args=[template.pk])).content.decode()
    assert f'data-url="{URL}"' in page
    assert "ops/template_preview.js" in page
    assert 'id="live-sms-count"' in page


def test_a_reader_gets_no_preview_panel(client, campus, shipped_data):
    reader = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus)
    reader.user.user_permissions.add(Permission.objects.get(codename="view_notificationtemplate"))
    template = NotificationTemplate.objects.get(event="refund.approved", channel="sms", language="zh-hans")
    client.force_login(reader.user)
    response = client.get(reverse("admin:notifications_notificationtemplate_change", args=[template.pk]))
    assert response.status_code == 200
    assert 'id="live-preview"' not in response.content.decode()
