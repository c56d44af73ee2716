"""Approval routes as pure rules: thresholds, reasons, risk, per-campus settings, extension and appeals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from refunds.models import ApprovalSettings, RefundReason
from refunds.routing import APPEAL_TIER, route_after_auto_referral, route_extend, route_for, route_for_appeal
from refunds.services import refund_adjust_amount, refund_approve

from .helpers import order_at, set_settings, submit

D = Decimal
SMALL = ["homeroom", "auto"]
MIDDLE = ["homeroom", "supervisor", "finance"]
LARGE = ["homeroom", "supervisor", "campus_head", "finance"]


def route(amount: str, *, reason: str = "time_conflict", small: str = "500.00", large: str = "2000.00", person=False):
    return route_for(amount=D(amount), reason=reason, small_below=D(small), large_above=D(large), needs_person=person)


# --- route_for: the default thresholds ----------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0.00", SMALL),
        ("0.01", SMALL),
        ("499.99", SMALL),
        ("500.00", MIDDLE),
        ("500.01", MIDDLE),
        ("1999.99", MIDDLE),
        ("2000.00", MIDDLE),
        ("2000.01", LARGE),
        ("99999.99", LARGE),
    ],
)
def test_default_route_by_amount_on_and_around_each_threshold(amount, expected):
    assert route(amount) == expected


def test_the_default_thresholds_are_the_ones_of_unsaved_settings():
    settings = ApprovalSettings()
    assert (settings.small_below, settings.large_above) == (D("500.00"), D("2000.00"))


@pytest.mark.parametrize("reason", [RefundReason.QUALITY, RefundReason.CONTENT_MISMATCH])
@pytest.mark.parametrize(("amount", "rest"), [("499.99", SMALL), ("500.00", MIDDLE), ("2000.01", LARGE)])
def test_quality_and_content_complaints_go_to_quality_review_first(reason, amount, rest):
    assert route(amount, reason=reason) == ["quality", *rest]


@pytest.mark.parametrize(
    "reason", sorted(set(RefundReason.values) - {RefundReason.QUALITY, RefundReason.CONTENT_MISMATCH})
)
def test_other_reasons_never_pass_quality_review(reason):
    assert "quality" not in route("2500.00", reason=reason)


@pytest.mark.parametrize(("amount", "expected"), [("0.00", MIDDLE), ("499.99", MIDDLE), ("500.00", MIDDLE)])
def test_a_request_a_person_must_review_never_takes_the_automatic_check(amount, expected):
    assert route(amount, person=True) == expected


def test_a_large_request_a_person_must_review_keeps_the_large_route():
    assert route("2000.01", person=True) == LARGE


def test_a_quality_complaint_a_person_must_review_is_reviewed_for_quality_then_by_people():
    assert route("100.00", reason="quality", person=True) == ["quality", *MIDDLE]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("999.99", SMALL),
        ("1000.00", MIDDLE),
        ("5000.00", MIDDLE),
        ("5000.01", LARGE),
    ],
)
def test_campus_thresholds_move_the_routes(amount, expected):
    assert route(amount, small="1000.00", large="5000.00") == expected


@pytest.mark.parametrize(("amount", "expected"), [("799.99", SMALL), ("800.00", MIDDLE), ("800.01", LARGE)])
def test_equal_thresholds_leave_a_middle_route_for_exactly_that_amount(amount, expected):
    assert route(amount, small="800.00", large="800.00") == expected


def test_a_zero_small_threshold_sends_even_nothing_to_people():
    assert route("0.00", small="0.00") == MIDDLE


def test_routes_are_plain_strings_for_the_json_field():
    assert all(type(tier) is str for tier in route("3000.00", reason="quality"))


# --- route_extend: raising the amount -----------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "position", "wanted", "expected"),
    [
        # middle -> large at the homeroom tier: campus head before finance
        (MIDDLE, 0, LARGE, LARGE),
        # middle -> large at the supervisor tier
        (MIDDLE, 1, LARGE, LARGE),
        # middle -> large at the finance tier: finance is deciding now, the campus head comes after
        (MIDDLE, 2, LARGE, ["homeroom", "supervisor", "finance", "campus_head"]),
        # small -> middle: the automatic check is dropped, people added
        (SMALL, 0, MIDDLE, MIDDLE),
        # small -> large
        (SMALL, 0, LARGE, LARGE),
        # quality route raised
        (["quality", *MIDDLE], 0, ["quality", *LARGE], ["quality", *LARGE]),
        (["quality", *MIDDLE], 1, ["quality", *LARGE], ["quality", *LARGE]),
        # after an automatic referral
        (
            ["homeroom", "auto", "supervisor", "finance"],
            2,
            LARGE,
            ["homeroom", "auto", "supervisor", "campus_head", "finance"],
        ),
        # lowering never shortens, never reorders, never adds the automatic check
        (LARGE, 0, SMALL, LARGE),
        (LARGE, 0, MIDDLE, LARGE),
        (["quality", *LARGE], 0, ["quality", *MIDDLE], ["quality", *LARGE]),
        (["quality", *LARGE], 1, ["quality", *SMALL], ["quality", *LARGE]),
        (LARGE, 1, MIDDLE, LARGE),
        (MIDDLE, 0, SMALL, MIDDLE),
        # the same route
        (MIDDLE, 1, MIDDLE, MIDDLE),
        (SMALL, 0, SMALL, SMALL),
    ],
)
def test_route_extend_adds_the_missing_tiers_in_order_and_never_shortens(current, position, wanted, expected):
    assert route_extend(route=list(current), position=position, wanted=list(wanted)) == expected


def test_route_extend_keeps_the_tiers_already_passed_as_they_were():
    passed = ["quality", "homeroom", "supervisor"]
    extended = route_extend(route=[*passed, "finance"], position=2, wanted=LARGE)
    assert extended[:3] == passed


def test_route_extend_does_not_change_its_argument():
    current = list(MIDDLE)
    route_extend(route=current, position=0, wanted=LARGE)
    assert current == MIDDLE


# --- Automatic referral and appeals -----------------------------------------------------------


def test_an_automatic_referral_adds_supervisor_and_finance_after_the_check():
    assert route_after_auto_referral(route=SMALL, position=1) == ["homeroom", "auto", "supervisor", "finance"]


@pytest.mark.parametrize(
    ("current", "position", "expected_route", "expected_position"),
    [
        # homeroom rejected a small request: supervisor, then finance (never the automatic check)
        (SMALL, 0, ["homeroom", "supervisor", "finance"], 1),
        # homeroom rejected a middle request: the supervisor was next anyway
        (MIDDLE, 0, MIDDLE, 1),
        (LARGE, 0, LARGE, 1),
        # supervisor rejected: the campus head, then finance
        (MIDDLE, 1, ["homeroom", "supervisor", "campus_head", "finance"], 2),
        (LARGE, 1, LARGE, 2),
        # finance rejected: the campus head, then finance closes it again
        (MIDDLE, 2, ["homeroom", "supervisor", "finance", "campus_head", "finance"], 3),
        (LARGE, 3, [*LARGE, "campus_head", "finance"], 4),
        # the campus head is the top: the appeal goes to the campus head tier again
        (LARGE, 2, ["homeroom", "supervisor", "campus_head", "campus_head", "finance"], 3),
        # quality review rejected: the supervisor
        (["quality", *MIDDLE], 0, ["quality", "supervisor", "finance"], 1),
        # supervisor rejected after an automatic referral
        (
            ["homeroom", "auto", "supervisor", "finance"],
            2,
            ["homeroom", "auto", "supervisor", "campus_head", "finance"],
            3,
        ),
    ],
)
def test_an_appeal_goes_one_tier_up_and_finance_closes_it(current, position, expected_route, expected_position):
    new_route, new_position = route_for_appeal(route=list(current), position=position)
    assert (new_route, new_position) == (expected_route, expected_position)
    assert new_route[new_position] == APPEAL_TIER[current[position]]
    assert new_route[-1] == "finance"
    assert "auto" not in new_route[new_position:]


@pytest.mark.parametrize(
    ("rejected", "above"),
    [("homeroom", "supervisor"), ("quality", "supervisor"), ("supervisor", "campus_head"), ("finance", "campus_head")],
)
def test_the_tier_above(rejected, above):
    assert APPEAL_TIER[rejected] == above


# --- Routes chosen at submission, with the campus's settings -----------------------------------


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str, **kwargs):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


@pytest.mark.django_db
@pytest.mark.parametrize(("price", "expected"), [("300.00", SMALL), ("1000.00", MIDDLE), ("3000.00", LARGE)])
def test_a_submitted_request_takes_the_default_route_of_its_amount(buy, price, expected):
    assert submit(buy(price)).route == expected


@pytest.mark.django_db
def test_a_campus_with_higher_thresholds_routes_the_same_amount_differently(buy, campus):
    set_settings(campus, small_below="1000.00", large_above="5000.00")
    assert submit(buy("1000.00")).route == SMALL  # 900.00
    assert submit(buy("3000.00")).route == MIDDLE  # 2700.00


@pytest.mark.django_db
def test_another_campus_settings_do_not_touch_this_campus(buy, other_campus):
    set_settings(other_campus, small_below="1000.00", large_above="5000.00")
    assert submit(buy("1000.00")).route == MIDDLE


@pytest.mark.django_db
def test_a_later_change_of_thresholds_does_not_move_a_request_in_flight(buy, campus, homeroom, supervisor):
    request = submit(buy("1000.00"))
    set_settings(campus, small_below="100.00", large_above="200.00")
    for staff in [homeroom, supervisor]:
        request = refund_approve(request_id=request.pk, actor=staff.user)
    assert request.route == MIDDLE
    assert request.status == "pending_finance"


@pytest.mark.django_db
def test_adjusting_the_amount_uses_the_campus_thresholds_of_now(buy, campus, homeroom):
    request = submit(buy("1000.00"))  # 900.00, middle
    set_settings(campus, large_above="850.00")
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("880.00"), reason="核对课时")
    assert request.route == LARGE


def test_an_appeal_of_a_quality_rejection_skips_the_tiers_below_the_supervisor():
    route = ["quality", "homeroom", "supervisor", "finance"]
    assert route_for_appeal(route=route, position=0) == (
        ["quality", "supervisor", "finance"],
        1,
    )
