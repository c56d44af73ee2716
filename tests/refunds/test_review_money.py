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
    assert "order paid ¥1,000.00, refunded so far ¥100.00, left ¥900.00" in text


def test_the_history_names_each_step_and_a_finished_route_has_none(client, student, homeroom, campus, settings):
    settings.LANGUAGE_CODE = "en"
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    client.force_login(homeroom.user)
    url = reverse("admin:refunds_refundrequest_change", args=[request.pk])

    history = _history_cells(client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert history[-1].startswith(f"Step 1 of {len(request.route)}: ")

    # Past its last step (as once it is paid): no "6 / 5", no step at all.
    request.route_position = len(request.route)
    request.save()
    history = _history_cells(client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert history[0] == "—"
    assert not any(" / " in cell for cell in history)


def test_by_contract_and_appeal_fields_only_where_they_apply(client, student, homeroom, campus):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    client.force_login(homeroom.user)

    form = client.get(reverse("admin:refunds_refundrequest_change", args=[request.pk])).context["adminform"]
    shown = {field for _name, options in form.fieldsets for field in options["fields"]}
    assert "amount_confirmed" not in shown  # not a by-contract course
    assert "appeal_reason" not in shown  # never appealed
    assert {"approved_amount", "route_step"} <= shown


def _history_cells(page: str) -> list[str]:
    """The last column of the history table, newest first."""
    import re

    table = page.split('id="history"', 1)[1].split("</table>", 1)[0]
    return [re.sub(r"<[^>]+>", "", row.rsplit("<td>", 1)[1]).strip() for row in table.split("<tr>")[2:]]
