"""What must never be false about courses and orders is refused by the database itself."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from orders.models import Order, OrderStatus, PaymentChannel
from tests import factories


def _violates(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


def test_negative_amount_paid_is_refused(order):
    assert _violates(lambda: Order.objects.filter(pk=order.pk).update(amount_paid=Decimal("-0.01")))


def test_refunded_total_above_amount_paid_is_refused(order):
    assert _violates(
        lambda: Order.objects.filter(pk=order.pk).update(
            refunded_total=order.amount_paid + Decimal("0.01"), status=OrderStatus.PARTIALLY_REFUNDED
        )
    )


def test_negative_refunded_total_is_refused(order):
    assert _violates(lambda: Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("-1")))


def test_partial_refund_with_matching_status_is_accepted(order):
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("100.00"), status=OrderStatus.PARTIALLY_REFUNDED)
    order.refresh_from_db()
    assert order.refunded_total == Decimal("100.00")


@pytest.mark.parametrize(
    ("refunded", "status"),
    [
        ("100.00", OrderStatus.PAID),
        ("0.00", OrderStatus.PARTIALLY_REFUNDED),
        ("100.00", OrderStatus.REFUNDED),
        ("3000.00", OrderStatus.PARTIALLY_REFUNDED),
        ("100.00", OrderStatus.CANCELLED),
        ("3000.00", OrderStatus.CANCELLED),
    ],
)
def test_status_that_contradicts_the_refunded_total_is_refused(order, refunded, status):
    assert _violates(lambda: Order.objects.filter(pk=order.pk).update(refunded_total=Decimal(refunded), status=status))


def test_a_cancelled_order_with_nothing_refunded_is_accepted(order):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_duplicate_order_number_is_refused(order, course, homeroom, other_student):
    def make_duplicate():
        Order.objects.create(
            order_no=order.order_no,
            student=other_student,
            course=course,
            amount_paid=Decimal("1.00"),
            paid_at=order.paid_at,
            channel=PaymentChannel.OFFLINE,
        )

    assert _violates(make_duplicate)


def test_gateway_trade_number_is_unique_per_channel(order, course, homeroom, other_student):
    def reuse_trade_no():
        Order.objects.create(
            order_no="NO-OTHER",
            student=other_student,
            course=course,
            amount_paid=Decimal("1.00"),
            paid_at=order.paid_at,
            channel=order.channel,
            gateway_trade_no=order.gateway_trade_no,
        )

    assert _violates(reuse_trade_no)


def test_offline_orders_may_share_an_empty_trade_number(student, course, homeroom):
    for _ in range(2):
        factories.make_order(student=student, course=course, homeroom_teacher=homeroom, channel=PaymentChannel.OFFLINE)
    assert Order.objects.filter(channel=PaymentChannel.OFFLINE, gateway_trade_no="").count() == 2


def test_online_order_without_trade_number_is_refused(order):
    assert _violates(lambda: Order.objects.filter(pk=order.pk).update(gateway_trade_no=""))


def test_course_with_negative_price_is_refused(course):
    from orders.models import Course

    assert _violates(lambda: Course.objects.filter(pk=course.pk).update(price=Decimal("-1")))


def test_course_that_ends_before_it_starts_is_refused(course):
    from orders.models import Course

    assert _violates(
        lambda: Course.objects.filter(pk=course.pk).update(ends_at=course.starts_at - datetime.timedelta(seconds=1))
    )


def test_order_model_validation_names_the_field(order):
    from django.core.exceptions import ValidationError

    order.amount_paid = Decimal("-5")
    with pytest.raises(ValidationError) as excinfo:
        order.full_clean()
    assert "amount_paid" in excinfo.value.message_dict


def test_enrollment_progress_above_100_is_refused(order):
    from students.models import Enrollment

    assert _violates(lambda: Enrollment.objects.filter(pk=order.enrollment.pk).update(watch_progress=Decimal("100.01")))
