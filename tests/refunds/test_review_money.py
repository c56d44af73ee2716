"""The request page shows approvers money where they expect money: the student's other refunds and
what the order has left, in yuan."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order
from refunds.models import RefundRequest, RefundStatus

from .helpers import order_at, submit

pytestmark = pytest.mark.django_db


def test_the_student_s_other_refunds_are_summed_in_yuan_not_counted(client, student, homeroom, campus, settings):
    settings.LANGUAGE_CODE = "en"
    earlier = [submit(order_at(student=student, homeroom=homeroom, campus=campus, price=p)) for p in ("300", "500")]
    # One paid back (270.00), one still on its way (450.00): 720.00 in all, from 2 requests.
    RefundRequest.objects.filter(pk=earlier[0].pk).update(status=RefundStatus.REFUNDED)
    RefundRequest.objects.filter(pk=earlier[1].pk).update(status=RefundStatus.PAYING)
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("100.00"), status="partially_refunded")
    request = submit(order)
    client.force_login(homeroom.user)

    page = client.get(reverse("admin:refunds_refundrequest_change", args=[request.pk]), HTTP_ACCEPT_LANGUAGE="en")

    text = page.content.decode()
    assert "2 other requests in the last 12 months (¥720.00 refunded or on their way)" in text
    assert "order paid ¥1000.00, refunded so far ¥100.00, left ¥900.00" in text
