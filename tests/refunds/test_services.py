"""Quoting real orders: the seeded defaults, policy lookup, query budget, estimates, snapshots."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from orders.models import CourseType, Order, OrderStatus
from refunds.models import QuoteMethod, QuoteSnapshot, RefundPolicy
from refunds.selectors import orders_with_in_flight, refund_in_flight_total, refund_policy_for_course
from refunds.services import (
    RefundPolicyMissing,
    quote_snapshot_create,
    refund_quote,
    refund_quote_estimate,
)
from tests import factories

from .helpers import make_policy, sh

D = Decimal
pytestmark = pytest.mark.django_db

START = sh(2026, 3, 10, 19)


@pytest.fixture
def buy(student, homeroom, campus):
    """Buy a course: ``buy(course_type, price=..., lessons=..., **enrollment)`` -> the order, loaded."""

    def _buy(course_type=CourseType.RECORDED, *, price="2000.00", lessons=30, paid_at=None, **enrollment):
        course = factories.make_course(
            campus=campus, course_type=course_type, price=price, lessons=lessons, starts_at=START
        )
        order = factories.make_order(
            student=student,
            course=course,
            homeroom_teacher=homeroom,
            paid_at=paid_at or sh(2026, 3, 1, 10),
            **enrollment,
        )
        # As the personal center loads orders: course, enrollment and money in flight in one query.
        return orders_with_in_flight(Order.objects.select_related("course", "enrollment")).get(pk=order.pk)

    return _buy


# --- The seeded defaults (seed 001's table) ---------------------------------------------------


def test_every_course_type_has_a_seeded_default_policy():
    defaults = {p.course_type: p for p in RefundPolicy.objects.filter(course__isnull=True, is_active=True)}
    assert set(defaults) == set(CourseType.values)
    assert defaults["trial"].handling_fee_percent == D("0.00")
    assert defaults["trial"].notify_channel_set == {"inbox", "email"}
    for regular in ["recorded", "live", "one_on_one"]:
        assert defaults[regular].handling_fee_percent == D("10.00")
        assert defaults[regular].cooling_off_days == 7
        assert defaults[regular].notify_channel_set == {"inbox", "email", "sms"}
    assert defaults["premium"].mode == "contract"
    assert defaults["premium"].notify_channel_set == {"inbox", "email", "call_task"}
    assert all(p.history.count() == 1 for p in defaults.values())


def test_seeded_tiers_and_rules_are_valid():
    for policy in RefundPolicy.objects.prefetch_related("tiers", "special_rules"):
        RefundPolicy.validate_tiers(list(policy.tiers.all()))
        policy.full_clean()
        for rule in policy.special_rules.all():
            rule.full_clean()


def test_regular_course_within_7_days_of_start_refunds_all_but_the_fee(buy):
    order = buy(CourseType.RECORDED, price="2000.00", lessons_watched=1)
    q = refund_quote(order=order, reason="time_conflict", at=sh(2026, 3, 12, 10))
    assert q.total == D("1800.00")
    assert q.method == QuoteMethod.COOLING_OFF


def test_regular_course_on_day_8_of_start_refunds_nothing(buy):
    order = buy(CourseType.RECORDED, price="2000.00")
    assert refund_quote(order=order, reason="time_conflict", at=sh(2026, 3, 16, 23, 59)).total == D("1800.00")
    assert refund_quote(order=order, reason="time_conflict", at=sh(2026, 3, 17, 0, 0)).total == D("0.00")


def test_regular_course_above_the_ceiling_refunds_unused_lessons_less_the_fee(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_watched=12)
    q = refund_quote(order=order, reason="content_mismatch", at=sh(2026, 3, 12, 10))
    assert q.method == QuoteMethod.RULES
    assert q.total == D("1620.00")  # (3000 − 1200) × 100 % − 10 %


def test_trial_course_before_it_starts_refunds_everything(buy):
    order = buy(CourseType.TRIAL, price="99.00", lessons=2)
    q = refund_quote(order=order, reason="other", at=sh(2026, 3, 9))
    assert q.total == D("99.00")
    assert all(line.amount == 0 for line in q.lines[1:])


def test_live_course_counts_attended_sessions_and_replays(buy):
    order = buy(CourseType.LIVE, price="3000.00", lessons=30, live_sessions_attended=8, replays_watched=4)
    q = refund_quote(order=order, reason="time_conflict", at=sh(2026, 3, 12, 10))
    assert q.units_consumed == 12
    assert q.total == D("1620.00")


def test_one_on_one_counts_hours_consumed(buy):
    order = buy(CourseType.ONE_ON_ONE, price="6000.00", lessons=20, lessons_consumed=10, lessons_watched=0)
    q = refund_quote(order=order, reason="time_conflict", at=sh(2026, 3, 12, 10))
    assert q.units_consumed == 10
    assert q.total == D("2700.00")


def test_illness_is_refunded_after_the_window_with_evidence(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_watched=12)
    q = refund_quote(order=order, reason="illness", at=sh(2026, 6, 1))
    assert q.total == D("1800.00")  # fee waived
    assert q.method == QuoteMethod.SPECIAL_RULE
    assert "诊断证明" in q.evidence_required


def test_premium_course_is_by_contract(buy):
    order = buy(CourseType.PREMIUM, price="50000.00")
    q = refund_quote(order=order, reason="other", at=sh(2026, 3, 2))
    assert q.needs_approver_amount
    assert (q.total, q.refundable) == (D("0.00"), D("50000.00"))
    assert "call_task" in q.notify_channels


def test_100_percent_consumed_gets_nothing_under_consumption(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_watched=30)
    make_policy(course=order.course, consumption_basis="watched")
    assert refund_quote(order=order, reason="other").total == D("0.00")


# --- Partial refunds --------------------------------------------------------------------------


def test_a_partially_refunded_order_gets_only_the_rest(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_consumed=12)
    make_policy(course=order.course, consumption_basis="per_lesson", handling_fee_percent="0")
    Order.objects.filter(pk=order.pk).update(refunded_total=D("500.00"), status=OrderStatus.PARTIALLY_REFUNDED)
    order = Order.objects.select_related("course", "enrollment").get(pk=order.pk)
    q = refund_quote(order=order, reason="other")
    assert q.refunded == D("500.00")
    assert q.refundable == D("2500.00")
    assert [(line.kind, line.amount) for line in q.lines] == [
        ("paid", D("3000.00")),
        ("consumption", D("-1200.00")),
        ("refunded", D("-500.00")),
    ]
    assert q.total == D("1300.00")


def test_after_an_earlier_refund_larger_than_the_entitlement_nothing_is_left(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_consumed=25)
    make_policy(course=order.course, consumption_basis="per_lesson")
    Order.objects.filter(pk=order.pk).update(refunded_total=D("1000.00"), status=OrderStatus.PARTIALLY_REFUNDED)
    order = Order.objects.select_related("course", "enrollment").get(pk=order.pk)
    q = refund_quote(order=order, reason="other")
    assert q.total == D("0.00")
    assert [line.kind for line in q.lines] == ["paid", "consumption", "refunded", "floor"]


def test_an_order_without_refund_requests_has_nothing_in_flight(order):
    assert refund_in_flight_total(order=order) == D("0.00")


# --- Which policy ------------------------------------------------------------------------------


def test_a_course_policy_wins_over_its_type_policy(buy):
    order = buy(CourseType.RECORDED, price="2000.00")
    own = make_policy(course=order.course, handling_fee_percent="0")
    assert refund_policy_for_course(course=order.course) == own
    q = refund_quote(order=order, reason="other")
    assert (q.policy_id, q.total) == (own.pk, D("2000.00"))


def test_an_inactive_course_policy_falls_back_to_the_type_policy(buy):
    order = buy(CourseType.RECORDED, price="2000.00")
    make_policy(course=order.course, is_active=False, handling_fee_percent="0")
    q = refund_quote(order=order, reason="other", at=sh(2026, 3, 12))
    assert q.policy_id == RefundPolicy.objects.get(course_type="recorded", is_active=True).pk


def test_without_any_policy_the_quote_is_refused(buy):
    order = buy(CourseType.LIVE)
    RefundPolicy.objects.filter(course_type="live").update(is_active=False)
    with pytest.raises(RefundPolicyMissing):
        refund_quote(order=order, reason="other")


def test_an_order_without_enrollment_counts_no_progress(student, campus):
    course = factories.make_course(campus=campus, price="900.00", starts_at=START)
    order = Order.objects.create(
        order_no="NOENROL1",
        student=student,
        course=course,
        amount_paid=D("900.00"),
        paid_at=sh(2026, 3, 1),
        channel="offline",
    )
    assert refund_quote(order=order, reason="other", at=sh(2026, 3, 2)).total == D("810.00")


# --- Query budget -----------------------------------------------------------------------------


def test_a_quote_costs_at_most_three_queries(buy, django_assert_max_num_queries):
    order = buy(CourseType.LIVE, price="3000.00", live_sessions_attended=3)
    make_policy(course=order.course, tiers=((1, 7, "100"), (8, None, "0")), consumption_basis="live")
    with django_assert_max_num_queries(3):
        quote = refund_quote(order=order, reason="illness", at=sh(2026, 3, 3))
    assert quote.total > 0


def test_a_quote_under_a_type_policy_costs_at_most_three_queries(buy, django_assert_max_num_queries):
    order = buy(CourseType.RECORDED, price="3000.00", lessons_watched=3)
    with django_assert_max_num_queries(3):
        refund_quote(order=order, reason="relocation", at=sh(2026, 3, 20))


# --- What-if estimate -------------------------------------------------------------------------


def test_the_estimate_uses_the_students_number(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_watched=2)
    actual = refund_quote(order=order, reason="other", at=sh(2026, 3, 12))
    estimate = refund_quote_estimate(order=order, reason="other", lessons=12, at=sh(2026, 3, 12))
    assert actual.total == D("2700.00")
    assert (estimate.total, estimate.units_consumed, estimate.is_estimate) == (D("1620.00"), 12, True)


@pytest.mark.parametrize("lessons", [-1, 31, True, "3"])
def test_the_estimate_refuses_a_number_outside_0_to_lessons(buy, lessons):
    order = buy(CourseType.RECORDED, lessons=30)
    with pytest.raises(ValidationError) as exc:
        refund_quote_estimate(order=order, reason="other", lessons=lessons)
    assert exc.value.message_dict["lessons"] == ["Enter a number of lessons from 0 to 30."]


# --- Snapshots and versions -------------------------------------------------------------------


def test_a_snapshot_keeps_the_quote(buy):
    order = buy(CourseType.RECORDED, price="3000.00", lessons=30, lessons_watched=12)
    quote = refund_quote(order=order, reason="content_mismatch", at=sh(2026, 3, 12, 10))
    snapshot = quote_snapshot_create(quote=quote)
    snapshot = QuoteSnapshot.objects.get(pk=snapshot.pk)
    assert snapshot.total == quote.total == D("1620.00")
    assert snapshot.policy_id == quote.policy_id
    assert snapshot.policy_version == quote.policy_version == 1
    assert (snapshot.units_consumed, snapshot.lessons, snapshot.progress_percent) == (12, 30, D("40.00"))
    assert (snapshot.day_from_purchase, snapshot.day_from_start) == (12, 3)
    assert snapshot.reason == "content_mismatch"
    assert snapshot.quoted_at == quote.at
    lines = list(snapshot.lines.all())
    assert [(line.kind, line.amount) for line in lines] == [(line.kind, line.amount) for line in quote.lines]
    assert sum(line.amount for line in lines) == snapshot.total
    assert lines[1].explanation == quote.lines[1].explanation


def test_changing_the_policy_never_changes_a_snapshot(buy):
    order = buy(CourseType.RECORDED, price="2000.00")
    policy = RefundPolicy.objects.get(course_type="recorded", is_active=True)
    snapshot = quote_snapshot_create(quote=refund_quote(order=order, reason="other", at=sh(2026, 3, 12)))

    policy.handling_fee_percent = D("50.00")
    policy.save()
    policy.tiers.all().delete()

    again = refund_quote(order=order, reason="other", at=sh(2026, 3, 12))
    assert (again.total, again.policy_version) == (D("1000.00"), 2)
    stored = QuoteSnapshot.objects.get(pk=snapshot.pk)
    assert (stored.total, stored.policy_version) == (D("1800.00"), 1)
    assert stored.policy_terms["handling_fee_percent"] == "10.00"
    assert len(stored.policy_terms["tiers"]) == 2
    assert [line.amount for line in stored.lines.all()] == [D("2000.00"), D("0.00"), D("-200.00")]


def test_a_snapshot_cannot_be_changed(buy):
    order = buy(CourseType.RECORDED)
    snapshot = quote_snapshot_create(quote=refund_quote(order=order, reason="other"))
    snapshot.total = D("1.00")
    with pytest.raises(ValueError, match="never changed"):
        snapshot.save()
    line = snapshot.lines.first()
    line.amount = D("1.00")
    with pytest.raises(ValueError, match="never changed"):
        line.save()


def test_every_policy_save_is_a_new_version_in_the_history():
    policy = RefundPolicy.objects.get(course_type="live", is_active=True)
    policy.count_replays = False
    policy.save()
    policy.save(update_fields=["count_replays"])
    policy.refresh_from_db()
    assert policy.version == 3
    assert list(policy.history.order_by("history_id").values_list("version", flat=True)) == [1, 2, 3]
    assert policy.history.earliest("history_id").count_replays is True


def test_an_estimate_can_be_kept_and_says_so(buy):
    order = buy(CourseType.RECORDED, lessons=30)
    snapshot = quote_snapshot_create(quote=refund_quote_estimate(order=order, reason="other", lessons=5))
    assert snapshot.is_estimate
    assert snapshot.units_consumed == 5


def test_a_quote_snapshot_needs_a_saved_order():
    from refunds.quotes import OrderFacts, PolicyTerms, Progress, calculate_quote

    quote = calculate_quote(
        terms=PolicyTerms(policy_id=1),
        order=OrderFacts(amount_paid=D("1.00"), paid_at=sh(2026, 1, 1), course_starts_at=sh(2026, 1, 1), lessons=1),
        progress=Progress(),
        reason="other",
        at=sh(2026, 1, 2),
    )
    with pytest.raises(ValueError, match="saved order"):
        quote_snapshot_create(quote=quote)
    assert not QuoteSnapshot.objects.exists()


def test_quote_time_defaults_to_now(buy):
    order = buy(CourseType.RECORDED)
    before = datetime.datetime.now(datetime.UTC)
    assert refund_quote(order=order, reason="other").at >= before
