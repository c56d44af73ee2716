"""The request's page and the outbox speak the staff's words, not the codes: the log's actions,
the route's tiers and step, the message table's headings, an SMS's event, a deduction's sign."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Notification
from refunds.services import refund_approve
from schoolops.templatetags.money import yuan

from .helpers import page_url, submitted

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Decimal("-240"), "−¥240.00"), (Decimal("4800"), "¥4,800.00"), ("0", "¥0.00"), (None, "—"), ("x", "x")],
)
def test_money_is_written_as_people_write_it(value, shown):
    assert yuan(value) == shown


def test_the_request_page_names_actions_tiers_and_channels(shipped_data, student, homeroom, supervisor, campus):
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user, comment="同意")
    client = Client()
    client.force_login(supervisor.user)
    html = client.get(page_url(refund)).content.decode()
    log = html.split('id="transitions"', 1)[1].split("</table>", 1)[0]
    assert "<code>" not in log and "已提交" in log and "审核通过" in log
    assert '["homeroom"' not in html
    assert "班主任初审 → 教学主管复核" in html
    assert re.search(r"第 2 步（共 \d 步）：教学主管复核", html)
    table = html.split('id="notifications"', 1)[1].split("</thead>", 1)[0]
    assert "发送渠道" in table and "收件人" in table and "支付渠道" not in table and "新状态" not in table
    sms = Notification.objects.filter(refund_request=refund, channel="sms").first()
    if sms is not None:
        row = html.split('id="notifications"', 1)[1]
        assert sms.event not in row


def test_the_outbox_lists_events_and_channels_by_name(shipped_data, student, homeroom, campus, operations):
    submitted(student=student, homeroom=homeroom, campus=campus)
    client = Client()
    client.force_login(operations.user)
    html = client.get(reverse("admin:notifications_notification_changelist")).content.decode()
    cells = re.findall(r'<td class="field-event_name">([^<]*)</td>', html)
    assert cells and "refund.submitted" not in cells and "退费申请已提交" in cells
