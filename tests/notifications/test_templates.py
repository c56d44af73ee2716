"""Templates: placeholders and tags checked on save, channel limits, a preview, defaults for everything."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from notifications.models import NotificationTemplate
from notifications.rendering import CHANNELS, EVENTS, render_sample, template_check

pytestmark = pytest.mark.django_db

LANGUAGES = ("zh-hans", "en")


def _template(**fields) -> NotificationTemplate:
    values = {"event": "refund.approved", "channel": "email", "language": "en", "subject": "Hi", "body": "ok"}
    return NotificationTemplate(**{**values, **fields})


def test_every_event_has_a_default_template_on_every_channel_in_both_languages():
    stored = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    wanted = {
        (event, channel, language)
        for event in EVENTS
        if event.startswith("refund.")
        for channel in CHANNELS
        for language in LANGUAGES
    }
    assert wanted <= stored


def test_every_default_template_passes_its_own_checks():
    for template in NotificationTemplate.objects.all():
        template.full_clean(validate_unique=False)


def test_an_unknown_placeholder_is_refused_on_save():
    with pytest.raises(ValidationError) as caught:
        _template(body="Dear {{ student_name }}, your password is {{ student.user.password }}").full_clean()
    assert "Unknown placeholders: student" in str(caught.value.message_dict["body"])


def test_a_placeholder_of_another_event_is_refused():
    problems = template_check(event="refund.submitted", source="Arrives {{ arrival }}")
    assert problems and "arrival" in problems[0]


def test_a_placeholder_hidden_in_a_filter_argument_or_a_condition_is_refused():
    assert template_check(event="refund.approved", source="{{ amount|default:secret }}")
    assert template_check(event="refund.approved", source="{% if secret %}x{% endif %}")
    assert template_check(event="refund.approved", source="{% firstof secret amount %}")


@pytest.mark.parametrize(
    "source",
    [
        "{% load static %}",
        "{% include 'admin/base.html' %}",
        "{% extends 'base.html' %}",
        "{% url 'admin:index' %}",
        "{% for x in amount %}{{ x }}{% endfor %}",
        "{% debug %}",
        "{{ amount",
    ],
)
def test_tags_outside_the_sandbox_and_broken_syntax_are_refused(source):
    with pytest.raises(ValidationError):
        _template(body=source).full_clean()


def test_allowed_tags_and_filters_render():
    subject, body, fields = render_sample(
        event="refund.rejected", subject="{{ request_no }}", body="{% if deadline %}by {{ deadline|upper }}{% endif %}"
    )
    assert (subject, body) == ("RF20260301001", "by 2026-03-08")
    assert fields == {"request_no": "RF20260301001", "deadline": "2026-03-08"}


def test_an_sms_text_over_the_channels_limit_is_refused():
    with pytest.raises(ValidationError) as caught:
        _template(channel="sms", subject="", body="{{ student_name }}" + "很长" * 300).full_clean()
    assert "sms" in str(caught.value.message_dict["body"])


def test_an_sms_parameter_too_long_for_the_provider_is_refused():
    with pytest.raises(ValidationError) as caught:
        _template(channel="sms", subject="", body="点击 {{ link }}").full_clean()
    assert "link" in str(caught.value.message_dict["body"])


# --- In the admin -------------------------------------------------------------------------------


def _change_data(template: NotificationTemplate, **changes) -> dict:
    data = {
        "event": template.event,
        "channel": template.channel,
        "language": template.language,
        "subject": template.subject,
        "body": template.body,
        "provider_template_id": template.provider_template_id,
        "is_active": "on",
    }
    return {**data, **changes}


def test_operations_edit_a_template_and_a_bad_placeholder_shows_on_the_field(client, operations):
    template = NotificationTemplate.objects.get(event="refund.approved", channel="email", language="zh-hans")
    url = reverse("admin:notifications_notificationtemplate_change", args=[template.pk])
    client.force_login(operations.user)
    response = client.post(url, _change_data(template, body="{{ student_name }} {{ password }}"))
    assert response.status_code == 200
    assert "password" in str(response.context["adminform"].form.errors["body"])
    response = client.post(url, _change_data(template, body="{{ student_name }}，退款 {{ amount }} 元已通过。"))
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.body == "{{ student_name }}，退款 {{ amount }} 元已通过。"
    assert template.history.count() >= 1


def test_the_preview_renders_the_sample_data(client, operations):
    template = NotificationTemplate.objects.get(event="refund.payout_succeeded", channel="email", language="zh-hans")
    client.force_login(operations.user)
    response = client.get(reverse("admin:notifications_notificationtemplate_preview", args=[template.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "王小明" in page and "1,599.20" in page and "微信支付" in page
    assert "{{" not in page


@pytest.mark.parametrize("who", ["homeroom", "finance", "outsider"])
def test_only_operations_may_edit_templates(client, request, who):
    person = request.getfixturevalue(who)
    user = getattr(person, "user", person)
    template = NotificationTemplate.objects.get(event="refund.approved", channel="email", language="zh-hans")
    client.force_login(user)
    change = client.post(
        reverse("admin:notifications_notificationtemplate_change", args=[template.pk]),
        _change_data(template, body="改了"),
    )
    assert change.status_code in (302, 403)
    if change.status_code == 302:
        assert "/login/" in change["Location"]
    template.refresh_from_db()
    assert template.body != "改了"
    preview = client.get(reverse("admin:notifications_notificationtemplate_preview", args=[template.pk]))
    assert preview.status_code in (302, 403, 404)
