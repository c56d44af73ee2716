"""The student's acknowledgement promises the time her own route takes, not a fixed 24 hours."""

from __future__ import annotations

import pytest
from django.utils import timezone, translation

from notifications.models import Notification
from refunds.models import ApprovalSettings, ApprovalTier
from tests.refunds.helpers import order_at, submit

pytestmark = pytest.mark.django_db


def label(tier: str) -> str:
    with translation.override("zh-hans"):
        return str(ApprovalTier(tier).label)


def _acknowledgement(refund) -> str:
    return Notification.objects.get(refund_request=refund, event="refund.submitted", channel="inbox").body


def test_a_three_step_route_names_its_steps_and_sums_their_hours(channels, student, homeroom, supervisor, campus):
    ApprovalSettings.objects.update_or_create(
        campus=campus, defaults={"sla_homeroom_hours": 12, "sla_supervisor_hours": 36, "sla_finance_hours": 24}
    )
    refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    assert refund.route == ["homeroom", "supervisor", "finance"]
    step = refund.steps.get(decision="pending")
    body = _acknowledgement(refund)
    names = " → ".join(label(tier) for tier in ("homeroom", "supervisor", "finance"))
    assert f"审核共 3 级（{names}），全部审核最长 72 小时。" in body
    assert f"第一级审核将在 {timezone.localtime(step.due_at):%Y-%m-%d %H:%M} 前完成。" in body
    assert "24 小时内完成审核" not in body


def test_a_one_step_route_says_who_and_how_long(channels, student, homeroom, campus):
    ApprovalSettings.objects.update_or_create(campus=campus, defaults={"sla_homeroom_hours": 8})
    refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    body = _acknowledgement(refund)
    assert refund.route[0] == "homeroom"
    assert f"{label('homeroom')}将在 8 小时内完成审核。" in body
