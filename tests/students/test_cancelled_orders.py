"""An order the order system cancelled refunds nothing anywhere: the rule, the quote, the refund
services, the personal center's pages, the refund desk, revenue and refund rates."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from analytics.models import RevenueFact
from analytics.services import facts_refresh, local_day
from finance.selectors import ReportFilters, summary_rows
from portal import selectors as portal_selectors
from refunds import rules
from refunds.models import RefundRequest
from refunds.selectors import course_refund_stats, order_money_left
from refunds.services import RefundActionError, refund_quote, refund_submit
from servicedesk.admin.forms import FileRefundForm
from servicedesk.models import TicketCategory
from servicedesk.services import ticket_open
from students import services
from tests import factories

from .order_helpers import raw_of_order


def cancel(order) -> None:
    services.orders_record(
        orders=services.orders_parse({"orders": [raw_of_order(order, status="cancelled")]}), source="api"
    )
    order.refresh_from_db()


def zh(text_of) -> str:
    """What a page in the default language shows."""
    with translation.override("zh-hans"):
        return str(text_of())


@pytest.fixture
def cancelled(order):
    cancel(order)
    return order


def test_the_rule_refuses_a_cancelled_order_and_only_that(order):
    assert rules.order_refusal(order) is None

    cancel(order)

    refusal = rules.order_refusal(order)
    assert refusal is not None and refusal.code == "cancelled"
    assert order.order_no in refusal.message


def test_a_cancelled_orders_quote_is_zero_and_says_why(cancelled):
    with translation.override("en"):
        quote = refund_quote(order=cancelled, reason="illness")

    assert (quote.total, quote.refundable) == (Decimal("0.00"), Decimal("0.00"))
    assert sum(line.amount for line in quote.lines) == quote.total
    assert quote.lines[-1].explanation == "This order was cancelled, so nothing on it is refundable."
    assert rules.apply_refusal(quote) is not None
    assert order_money_left(order=cancelled) == Decimal("0.00")
    assert cancelled.refundable_remaining == Decimal("0.00")


def test_a_cancelled_order_cannot_be_applied_for(cancelled):
    with pytest.raises(RefundActionError) as excinfo:
        refund_submit(student=cancelled.student, order_no=cancelled.order_no, reason="illness", details="住院治疗。")

    assert excinfo.value.code == "cancelled"
    assert not RefundRequest.objects.exists()


def test_the_personal_center_shows_it_cancelled_without_a_refund_button(client, cancelled):
    client.force_login(cancelled.student.user)

    home = client.get(reverse("portal:home")).content.decode()

    assert "status-cancelled" in home
    assert zh(cancelled.get_status_display) in home
    assert zh(lambda: rules.order_refusal(cancelled).message) in home
    assert reverse("portal:apply", args=[cancelled.order_no]) not in home


@pytest.mark.parametrize("name", ["portal:order", "portal:estimate", "portal:apply"])
def test_every_order_page_says_it_was_cancelled_and_offers_no_refund(client, cancelled, name):
    client.force_login(cancelled.student.user)

    page = client.get(reverse(name, args=[cancelled.order_no]), {"lessons": 3, "reason": "illness"}).content.decode()

    assert zh(lambda: rules.order_refusal(cancelled).message) in page
    assert 'name="details"' not in page  # no application form
    assert "estimate-form" not in page


def test_the_order_page_shows_its_status(client, cancelled):
    client.force_login(cancelled.student.user)

    page = client.get(reverse("portal:order", args=[cancelled.order_no])).content.decode()

    assert f'<span class="badge status-cancelled">{zh(cancelled.get_status_display)}</span>' in page


def test_the_summary_of_a_cancelled_order_refunds_nothing(cancelled):
    (summary,) = portal_selectors.order_summaries_for_student(student=cancelled.student)

    assert summary.refusal
    assert summary.can_apply is False
    assert summary.refundable_now == Decimal("0.00")


def test_the_refund_desk_offers_no_cancelled_order(cancelled, course, homeroom, shipped_data):
    kept = factories.make_order(student=cancelled.student, course=course, homeroom_teacher=homeroom)
    ticket = ticket_open(
        student=cancelled.student,
        category=TicketCategory.QUESTION,
        subject="退费",
        description="两门课都想退。",
        at=timezone.now(),
    )

    form = FileRefundForm(ticket=ticket)

    assert list(form.fields["order"].queryset) == [kept]


def test_a_cancelled_order_is_neither_revenue_nor_a_sale_of_its_course(cancelled, course, homeroom, finance):
    kept = factories.make_order(
        student=cancelled.student, course=course, homeroom_teacher=homeroom, paid_at=cancelled.paid_at
    )
    today = timezone.localdate(cancelled.paid_at)
    filters = ReportFilters(date_from=today, date_to=today)

    revenue = sum(row[5] for row in summary_rows(filters, user=finance.user))

    assert revenue == kept.amount_paid
    assert course_refund_stats(course=course).orders == 1


def test_cancelling_an_order_of_a_past_day_refreshes_that_days_revenue(
    order, course, homeroom, django_capture_on_commit_callbacks
):
    day = local_day(order.paid_at)
    kept = factories.make_order(student=order.student, course=course, homeroom_teacher=homeroom, paid_at=order.paid_at)
    facts_refresh(days=[day])
    assert sum(RevenueFact.objects.filter(day=day).values_list("revenue", flat=True)) == 2 * kept.amount_paid

    with django_capture_on_commit_callbacks(execute=True):
        cancel(order)

    assert sum(RevenueFact.objects.filter(day=day).values_list("revenue", flat=True)) == kept.amount_paid


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cancellation_and_a_refund_request_at_the_same_moment_never_both_succeed(
    student, course, homeroom, default_refund_policies
):
    """The intake checks for requests under its lock on the order; submitting takes the same lock
    and looks at the status again, so whichever comes second is refused."""
    for _ in range(8):
        order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
        orders = services.orders_parse({"orders": [raw_of_order(order, status="cancelled")]})
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def cancel_it(orders=orders, outcomes=outcomes, barrier=barrier):
            try:
                barrier.wait()
                services.orders_record(orders=orders, source="api")
                outcomes["cancel"] = "done"
            except services.OrderDataError:
                outcomes["cancel"] = "refused"
            finally:
                connection.close()

        def apply(order=order, outcomes=outcomes, barrier=barrier):
            try:
                barrier.wait()
                refund_submit(
                    student=order.student, order_no=order.order_no, reason="time_conflict", details="工作调动。"
                )
                outcomes["apply"] = "done"
            except RefundActionError:
                outcomes["apply"] = "refused"
            finally:
                connection.close()

        threads = [threading.Thread(target=cancel_it), threading.Thread(target=apply)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        order.refresh_from_db()
        has_request = RefundRequest.objects.filter(order=order).exists()
        assert sorted(outcomes.values()) == ["done", "refused"], outcomes
        assert (order.status == "cancelled") != has_request
