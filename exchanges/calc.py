"""What a course exchange carries over and what is left to refund or to pay: a pure calculation.

``calculate_exchange`` reads the exchange policy's terms (``ExchangeTerms``), what the refund
engine says of the old order today (``SourceFacts``: paid, refunded, lessons used, the day counts
and what a refund would give) and the new course (``TargetFacts``), and returns an
``ExchangeQuote``: the lines of the value carried over (they sum exactly to it), the price of the
new course, and the difference. Amounts are computed in integer fen, each line rounded half up
once; the value is never negative and never above what is still refundable on the order.

1. Inside the window (the day counted from its anchor is within ``window_days`` and the progress
   is not above the ceiling): the unconsumed value, paid − refunded − paid × lessons used ÷
   lessons, with no handling fee.
2. After it (when the policy allows): what a refund would give today under the refund policy.
3. The exchange fee, if any, comes off the value.
4. The new course costs its price; one that has started already costs price × lessons ahead ÷
   lessons when the policy says so (the lessons held are counted by the time gone of its span).
5. Value above the price is refunded; below it, the student pays the rest; equal, nothing moves.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from refunds.models import DayAnchor

ZERO = Decimal("0.00")


class Method:
    WINDOW = "window"  # the unconsumed value, inside the window
    REFUND = "refund"  # what a refund would give, after the window


class LineKind:
    PAID = "paid"
    REFUNDED = "refunded"
    CONSUMED = "consumed"
    RULES = "refund_rules"
    FEE = "fee"
    CAP = "cap"


@dataclass(frozen=True)
class ExchangeTerms:
    policy_id: int | None = None
    version: int = 1
    name: str = ""
    window_days: int = 30
    window_anchor: str = DayAnchor.PURCHASE
    window_progress_ceiling: Decimal = Decimal("50.00")
    allow_after_window: bool = True
    exchange_fee: Decimal = ZERO
    prorate_started_target: bool = True
    carry_progress: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "version": self.version,
            "name": self.name,
            "window_days": self.window_days,
            "window_anchor": self.window_anchor,
            "window_progress_ceiling": str(self.window_progress_ceiling),
            "allow_after_window": self.allow_after_window,
            "exchange_fee": str(self.exchange_fee),
            "prorate_started_target": self.prorate_started_target,
            "carry_progress": self.carry_progress,
        }


@dataclass(frozen=True)
class SourceFacts:
    """The old order as the refund engine sees it today (``refunds.quotes.Quote``)."""

    amount_paid: Decimal
    refunded: Decimal
    in_flight: Decimal
    units_consumed: int
    lessons: int
    progress_percent: Decimal
    day_from_purchase: int
    day_from_start: int
    refund_total: Decimal  # what a refund would give today
    refund_needs_approver: bool = False  # a contract course: no rule gives the refund amount


@dataclass(frozen=True)
class TargetFacts:
    price: Decimal
    lessons: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime


@dataclass(frozen=True)
class ExchangeLine:
    kind: str
    label: str
    amount: Decimal
    formula: str
    explanation: str

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "label": self.label,
            "amount": str(self.amount),
            "formula": self.formula,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class ExchangeQuote:
    method: str
    lines: tuple[ExchangeLine, ...]
    carried_value: Decimal
    target_price: Decimal
    target_list_price: Decimal
    target_lessons_ahead: int
    target_explanation: str
    refund_amount: Decimal
    pay_amount: Decimal
    difference_explanation: str
    carried_lessons: int
    terms: ExchangeTerms
    at: datetime.datetime
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def direction(self) -> str:
        if self.refund_amount > 0:
            return "refund"
        if self.pay_amount > 0:
            return "pay"
        return "even"


class ExchangeNotOffered(Exception):
    """The policy offers no exchange of this order now; the message says why, for the student."""


def in_window(terms: ExchangeTerms, source: SourceFacts) -> bool:
    day = source.day_from_start if terms.window_anchor == DayAnchor.COURSE_START else source.day_from_purchase
    return day <= terms.window_days and source.progress_percent <= terms.window_progress_ceiling


def lessons_ahead(target: TargetFacts, *, at: datetime.datetime) -> int:
    """The lessons of ``target`` still to come at ``at``, counted by the time gone of its span."""
    if at <= target.starts_at:
        return target.lessons
    span = (target.ends_at - target.starts_at).total_seconds()
    if span <= 0 or at >= target.ends_at:
        return 0
    gone = (at - target.starts_at).total_seconds() / span
    held = int(target.lessons * gone)  # whole lessons already held
    return max(0, target.lessons - held)


def calculate_exchange(
    *, terms: ExchangeTerms, source: SourceFacts, target: TargetFacts, at: datetime.datetime
) -> ExchangeQuote:
    """The exchange of the old order (``source``) for ``target`` at ``at``; see the module docstring.

    Raises ``ExchangeNotOffered`` when the window has passed and the policy allows no exchange
    after it, when no rule gives the value (a contract course after the window), or when the new
    course has no lessons left."""
    if at.tzinfo is None:
        raise ValueError("`at` must be an aware datetime.")
    paid, refunded, flight = _fen(source.amount_paid), _fen(source.refunded), _fen(source.in_flight)
    refundable = max(0, paid - refunded - flight)
    lines: list[ExchangeLine] = []

    def add(kind: str, fen: int, label: str, formula: str, explanation: str) -> None:
        lines.append(ExchangeLine(kind, label, _yuan(fen), formula, explanation))

    add(
        LineKind.PAID,
        paid,
        _("Amount paid"),
        _m(paid),
        _("You paid %(amount)s yuan for this order.") % {"amount": _m(paid)},
    )
    if refunded:
        add(
            LineKind.REFUNDED,
            -refunded,
            _("Already refunded"),
            _m(refunded),
            _("%(amount)s yuan of this order was refunded to you before.") % {"amount": _m(refunded)},
        )
    if in_window(terms, source):
        method = Method.WINDOW
        used, lessons = source.units_consumed, max(1, source.lessons)
        consumed = _div_half_up(paid * used, lessons)
        add(
            LineKind.CONSUMED,
            -consumed,
            _("Lessons used"),
            f"{_m(paid)} × {used} ÷ {lessons} = {_m(consumed)}",
            _(
                "You have used %(used)s of %(lessons)s lessons, worth %(amount)s yuan; the rest of their value "
                "goes to the new course. Inside the exchange window no handling fee is charged."
            )
            % {"used": used, "lessons": lessons, "amount": _m(consumed)},
        )
        value = paid - refunded - consumed
    else:
        if not terms.allow_after_window:
            raise ExchangeNotOffered(
                _("The exchange window of %(days)s days has passed for this order; a refund is still possible.")
                % {"days": terms.window_days}
            )
        if source.refund_needs_approver:
            raise ExchangeNotOffered(
                _(
                    "After the exchange window the value of a contract course is set by its reviewer; "
                    "please ask your homeroom teacher about an exchange."
                )
            )
        method = Method.REFUND
        refund_now = _fen(source.refund_total)
        kept = max(0, paid - refunded - refund_now)
        add(
            LineKind.RULES,
            -kept,
            _("Kept under the refund rules"),
            f"{_m(paid - refunded)} − {_m(refund_now)} = {_m(kept)}",
            _(
                "The exchange window has passed, so the value carried over is what a refund would give today "
                "(%(refund)s yuan, by the refund rules: lessons used, time tier, handling fee)."
            )
            % {"refund": _m(refund_now)},
        )
        value = paid - refunded - kept
    fee = _fen(terms.exchange_fee)
    if fee:
        taken = min(fee, max(0, value))
        add(
            LineKind.FEE,
            -taken,
            _("Exchange fee"),
            _m(taken),
            _("The exchange fee of %(fee)s yuan is taken from the value carried over.") % {"fee": _m(fee)},
        )
        value -= taken
    if value > refundable:
        add(
            LineKind.CAP,
            refundable - value,
            _("Limited to what is left on the order"),
            f"{_m(value)} → {_m(refundable)}",
            _("Only %(left)s yuan of this order is left to carry over.") % {"left": _m(refundable)},
        )
        value = refundable
    value = max(0, value)

    ahead = lessons_ahead(target, at=at)
    if ahead <= 0:
        raise ExchangeNotOffered(_("The new course has ended; choose another."))
    list_price = _fen(target.price)
    if terms.prorate_started_target and ahead < target.lessons:
        price = _div_half_up(list_price * ahead, target.lessons)
        target_explanation = _(
            "The new course has started: %(ahead)s of its %(lessons)s lessons are still ahead, so it costs "
            "%(list)s × %(ahead)s ÷ %(lessons)s = %(price)s yuan."
        ) % {"ahead": ahead, "lessons": target.lessons, "list": _m(list_price), "price": _m(price)}
    else:
        price = list_price
        target_explanation = _("The new course costs %(price)s yuan.") % {"price": _m(price)}

    if value > price:
        refund, pay = value - price, 0
        difference = _(
            "The value carried over is %(refund)s yuan more than the new course costs: it is refunded to you "
            "by the way you paid."
        ) % {"refund": _m(refund)}
    elif value < price:
        refund, pay = 0, price - value
        difference = _(
            "The new course costs %(pay)s yuan more than the value carried over: you pay the difference online "
            "after approval."
        ) % {"pay": _m(pay)}
    else:
        refund = pay = 0
        difference = _("The value carried over pays the new course exactly: no money moves.")
    carried_lessons = min(source.units_consumed, target.lessons) if terms.carry_progress else 0
    return ExchangeQuote(
        method=method,
        lines=tuple(lines),
        carried_value=_yuan(value),
        target_price=_yuan(price),
        target_list_price=_yuan(list_price),
        target_lessons_ahead=ahead,
        target_explanation=target_explanation,
        refund_amount=_yuan(refund),
        pay_amount=_yuan(pay),
        difference_explanation=difference,
        carried_lessons=carried_lessons,
        terms=terms,
        at=at,
    )


def _fen(amount: Decimal) -> int:
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _div_half_up(numerator: int, denominator: int) -> int:
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _m(fen: int) -> str:
    return f"{_yuan(fen):.2f}"
