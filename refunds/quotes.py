"""The refund amount of an order under a policy: a pure calculation, no database.

``calculate_quote`` takes plain frozen dataclasses (``PolicyTerms``, ``OrderFacts``,
``Progress``) and returns a ``Quote``: the total, the lines it is made of, and a plain-language
explanation of every line (gettext, English msgids, translated to Chinese in the .po file).

Money. Amounts are handled as integer fen. Every line is computed once from exact integers and
its magnitude rounded half up to the fen; nothing is rounded twice. The first line is the amount
paid (positive); deductions are negative lines; the total is the sum of the lines, exactly.
A line's ``formula`` shows how its magnitude was computed ("3000.00 × 12 ÷ 30 = 1200.00").
Lines of 0.00 are kept where they explain something: the cooling-off window that applied, a
100 % tier, a fee or materials deduction waived by a special rule.

Days. Day N is counted in Asia/Shanghai calendar days from the anchor (the purchase, or the
course start), the anchor day being day 1: "within 7 days" means days 1..7, and day 8 begins at
midnight Asia/Shanghai of the 7th day after the anchor day. Any moment before the anchor itself
is day 0 - before a course starts, a window or a tier counted from the start is at day 0, inside
any cooling-off window and in the first tier.

How the pieces combine (P paid, R already refunded, F refunds in flight):

1. ``Amount paid`` +P.
2. By contract (``mode == contract``): the already refunded and in-flight lines, then one line
   that takes the rest to 0 and ``needs_approver_amount=True``; the approver sets the amount
   within ``Quote.refundable``.
3. Otherwise the first of these that applies gives the entitlement:
   a. a special rule for the reason: the consumption deduction (unless the rule ignores it),
      then the rule's percentage of what remains, then the handling fee and the materials
      (each unless the rule waives it - a waived piece shows as a 0 line saying so); it applies
      on any day and replaces the window and the tiers even where they would give more;
   b. the cooling-off window: the day counted from its anchor is within the window and the
      progress is not above the ceiling -> no consumption or tier deduction, then the handling
      fee and the materials;
   c. the rules: consumption deduction (P × units used ÷ lessons) -> the remaining value, then
      the time tier's percentage of it, then the handling fee on what is left, then the fixed
      materials deduction (never more than what is left).
4. Then ``Already refunded`` −R and ``Refund in progress`` −F, and an adjustment line if the
   result is below 0 (raised to 0) or above what is still refundable, max(0, P − R − F) - 0 on
   an order the order system cancelled.

Units used: per lesson and one-on-one count ``lessons_consumed`` (hours for one-on-one),
recorded courses ``lessons_watched``, live courses ``live_sessions_attended`` plus
``replays_watched`` when the policy counts replays; clamped to 0..lessons. The progress compared
with the cooling-off ceiling is units used ÷ lessons (``lessons_consumed`` when the policy has no
consumption deduction). A what-if estimate replaces the units used with the student's number.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from schoolops.templatetags.money import yuan

from .models import ConsumptionBasis, DayAnchor, PolicyMode, QuoteLineKind, QuoteMethod, RefundReason

SCHOOL_TZ = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")
_FULL_BP = 10_000  # 100.00 % in hundredths of a percent
_REASONS = frozenset(RefundReason.values)
# Whom the explanations address: the student ("You paid …") or staff ("The student paid …").
# Only the wording differs; every line, amount and formula is the same.
STUDENT = "student"
STAFF = "staff"


@dataclass(frozen=True)
class TierTerms:
    from_day: int
    to_day: int | None
    percent: Decimal


@dataclass(frozen=True)
class SpecialRuleTerms:
    reason: str
    percent: Decimal = Decimal("100.00")
    ignore_consumption: bool = False
    waive_handling_fee: bool = True
    waive_materials_fee: bool = False
    evidence: str = ""


@dataclass(frozen=True)
class PolicyTerms:
    """Everything of a policy the calculation reads; tiers sorted by ``from_day``."""

    policy_id: int | None = None
    version: int = 1
    name: str = ""
    mode: str = PolicyMode.RULES
    cooling_off_days: int | None = None
    cooling_off_anchor: str = DayAnchor.PURCHASE
    cooling_off_progress_ceiling: Decimal | None = None
    tier_anchor: str = DayAnchor.PURCHASE
    tiers: tuple[TierTerms, ...] = ()
    consumption_basis: str = ConsumptionBasis.NONE
    count_replays: bool = False
    handling_fee_percent: Decimal = ZERO
    materials_fee: Decimal = ZERO
    materials_description: str = ""
    special_rules: tuple[SpecialRuleTerms, ...] = ()
    notify_channels: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (with DjangoJSONEncoder for the decimals), for the snapshot."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyTerms:
        """The terms as ``as_dict`` gave them, read back from a snapshot's JSON (decimals as strings)."""

        def dec(value: Any) -> Decimal | None:
            return None if value is None else Decimal(str(value))

        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["tiers"] = tuple(
            TierTerms(from_day=t["from_day"], to_day=t["to_day"], percent=Decimal(str(t["percent"])))
            for t in data.get("tiers", ())
        )
        values["special_rules"] = tuple(
            SpecialRuleTerms(**{**r, "percent": Decimal(str(r["percent"]))}) for r in data.get("special_rules", ())
        )
        values["notify_channels"] = tuple(data.get("notify_channels", ()))
        for name in ("handling_fee_percent", "materials_fee"):
            if name in values:
                values[name] = dec(values[name])
        values["cooling_off_progress_ceiling"] = dec(data.get("cooling_off_progress_ceiling"))
        return cls(**values)

    def special_rule_for(self, reason: str) -> SpecialRuleTerms | None:
        for rule in self.special_rules:
            if rule.reason == reason:
                return rule
        return None


@dataclass(frozen=True)
class OrderFacts:
    amount_paid: Decimal
    paid_at: datetime.datetime
    course_starts_at: datetime.datetime
    lessons: int
    refunded: Decimal = ZERO
    order_id: int | None = None
    cancelled: bool = False  # the order system voided the order (or an exchange closed it): nothing is refundable


@dataclass(frozen=True)
class Progress:
    lessons_consumed: int = 0
    lessons_watched: int = 0
    live_sessions_attended: int = 0
    replays_watched: int = 0


@dataclass(frozen=True)
class QuoteLine:
    kind: str
    label: str
    amount: Decimal
    formula: str
    explanation: str


@dataclass(frozen=True)
class Quote:
    """A computed refund amount with its breakdown; ``sum(line.amount) == total`` always."""

    total: Decimal
    lines: tuple[QuoteLine, ...]
    refundable: Decimal
    method: str
    needs_approver_amount: bool
    reason: str
    at: datetime.datetime
    terms: PolicyTerms
    order_id: int | None
    amount_paid: Decimal
    refunded: Decimal
    in_flight: Decimal
    units_consumed: int
    lessons: int
    progress_percent: Decimal
    day_from_purchase: int
    day_from_start: int
    is_estimate: bool
    evidence_required: str

    @property
    def policy_id(self) -> int | None:
        return self.terms.policy_id

    @property
    def policy_version(self) -> int:
        return self.terms.version

    @property
    def policy_name(self) -> str:
        return self.terms.name

    @property
    def notify_channels(self) -> tuple[str, ...]:
        return self.terms.notify_channels

    @property
    def explanation(self) -> list[str]:
        return [line.explanation for line in self.lines]


def day_number(*, anchor: datetime.datetime, at: datetime.datetime) -> int:
    """Asia/Shanghai calendar day of ``at`` counted from ``anchor`` (day 1); 0 before the anchor."""
    if at < anchor:
        return 0
    return (at.astimezone(SCHOOL_TZ).date() - anchor.astimezone(SCHOOL_TZ).date()).days + 1


def units_consumed(*, basis: str, progress: Progress, count_replays: bool, lessons: int) -> int:
    """The units the policy counts as used, clamped to 0..lessons."""
    if basis == ConsumptionBasis.WATCHED:
        used = progress.lessons_watched
    elif basis == ConsumptionBasis.LIVE:
        used = progress.live_sessions_attended + (progress.replays_watched if count_replays else 0)
    else:
        used = progress.lessons_consumed
    return max(0, min(used, lessons))


def calculate_quote(
    *,
    terms: PolicyTerms,
    order: OrderFacts,
    progress: Progress,
    reason: str,
    at: datetime.datetime,
    in_flight: Decimal = ZERO,
    consumed_override: int | None = None,
    audience: str = STUDENT,
) -> Quote:
    """The quote for ``order`` under ``terms`` at ``at``; see the module docstring for the rules.

    ``consumed_override`` (the what-if estimate) replaces the units used; it must be within
    0..lessons, else ``ValidationError`` on ``lessons``. ``audience`` (``STUDENT`` or ``STAFF``)
    chooses only the wording of the explanations: "You paid …" or "The student paid …".
    """
    if reason not in _REASONS:
        raise ValidationError({"reason": _("Choose one of the listed reasons.")})
    if at.tzinfo is None:
        raise ValueError("`at` must be an aware datetime.")
    if order.lessons < 1:
        raise ValueError("A course has at least one lesson.")
    if consumed_override is not None and not 0 <= consumed_override <= order.lessons:
        raise ValidationError({"lessons": _("Enter a number of lessons from 0 to %(max)s.") % {"max": order.lessons}})

    paid = _fen(order.amount_paid)
    refunded = _fen(order.refunded)
    flight = _fen(in_flight)
    if paid < 0 or refunded < 0 or flight < 0:
        raise ValueError("Amounts cannot be negative.")
    refundable = 0 if order.cancelled else max(0, paid - refunded - flight)

    lessons = order.lessons
    if consumed_override is not None:
        used = consumed_override
    else:
        used = units_consumed(
            basis=terms.consumption_basis, progress=progress, count_replays=terms.count_replays, lessons=lessons
        )
    day_purchase = day_number(anchor=order.paid_at, at=at)
    day_start = day_number(anchor=order.course_starts_at, at=at)

    def day_for(anchor: str) -> int:
        return day_start if anchor == DayAnchor.COURSE_START else day_purchase

    lines = _Lines(staff=audience == STAFF)
    lines.add(
        QuoteLineKind.PAID,
        paid,
        _("Amount paid"),
        _m(paid),
        (
            _("The student paid %(amount)s yuan for this order.")
            if lines.staff
            else _("You paid %(amount)s yuan for this order.")
        )
        % {"amount": _m(paid)},
    )

    rule = terms.special_rule_for(reason)
    if terms.mode == PolicyMode.CONTRACT:
        method = QuoteMethod.CONTRACT
    elif rule is not None:
        method = QuoteMethod.SPECIAL_RULE
        value = paid
        if terms.consumption_basis != ConsumptionBasis.NONE and not rule.ignore_consumption:
            value -= _consumption_line(lines, terms, paid, used, lessons, consumed_override is not None)
        value -= _percent_line(
            lines,
            kind=QuoteLineKind.SPECIAL_RULE,
            label=_("Special circumstances deduction"),
            base=value,
            percent=rule.percent,
            explain=_special_explanation(rule),
        )
        _fee_and_materials(lines, terms, value, rule)
    elif _in_cooling_off(terms, day_for(terms.cooling_off_anchor), used, lessons):
        method = QuoteMethod.COOLING_OFF
        _cooling_off_line(lines, terms, day_for(terms.cooling_off_anchor), used, lessons)
        _fee_and_materials(lines, terms, paid, None)
    else:
        method = QuoteMethod.RULES
        value = paid
        if terms.consumption_basis != ConsumptionBasis.NONE:
            value -= _consumption_line(lines, terms, paid, used, lessons, consumed_override is not None)
        if terms.tiers:
            day = day_for(terms.tier_anchor)
            tier = _tier_for(terms.tiers, day)
            value -= _percent_line(
                lines,
                kind=QuoteLineKind.TIME_TIER,
                label=_("Time tier deduction"),
                base=value,
                percent=tier.percent,
                explain=_tier_explanation(tier, day, terms.tier_anchor),
            )
        _fee_and_materials(lines, terms, value, None)

    if refunded:
        lines.add(
            QuoteLineKind.REFUNDED,
            -refunded,
            _("Already refunded"),
            _m(refunded),
            _("%(amount)s yuan has already been refunded on this order.") % {"amount": _m(refunded)},
        )
    if flight:
        lines.add(
            QuoteLineKind.IN_FLIGHT,
            -flight,
            _("Refund in progress"),
            _m(flight),
            _("%(amount)s yuan is already being refunded in another request.") % {"amount": _m(flight)},
        )
    if lines.running < 0:
        lines.add(
            QuoteLineKind.FLOOR,
            -lines.running,
            _("Raised to zero"),
            f"max(0, {_m(lines.running)}) = 0.00",
            _(
                "The deductions and earlier refunds add up to more than the rules allow, "
                "so nothing more is refundable now."
            ),
        )
    elif lines.running > refundable:
        if order.cancelled:
            explanation = _("This order was cancelled, so nothing on it is refundable.")
        else:
            explanation = _("The amount is limited to what is still refundable on this order: %(amount)s yuan.") % {
                "amount": _m(refundable)
            }
        lines.add(
            QuoteLineKind.CAP,
            refundable - lines.running,
            _("Refundable limit"),
            f"min({_m(lines.running)}, {_m(refundable)}) = {_m(refundable)}",
            explanation,
        )
    if method == QuoteMethod.CONTRACT:
        lines.add(
            QuoteLineKind.CONTRACT,
            -lines.running,
            _("Set by the approver under the contract"),
            f"{_m(lines.running)} → 0.00",
            _(
                "This course is refunded as agreed in the contract: the approver sets the amount, "
                "between 0 and %(amount)s yuan."
            )
            % {"amount": _m(refundable)},
        )

    total = lines.running
    if not 0 <= total <= refundable:  # cannot happen: the lines above are built to keep it
        raise ArithmeticError(f"Quote total {total} fen outside 0..{refundable} fen.")
    return Quote(
        total=_yuan(total),
        lines=tuple(lines.items),
        refundable=_yuan(refundable),
        method=str(method),
        needs_approver_amount=method == QuoteMethod.CONTRACT,
        reason=reason,
        at=at,
        terms=terms,
        order_id=order.order_id,
        amount_paid=_yuan(paid),
        refunded=_yuan(refunded),
        in_flight=_yuan(flight),
        units_consumed=used,
        lessons=lessons,
        progress_percent=_yuan(_div_half_up(used * _FULL_BP, lessons)),
        day_from_purchase=day_purchase,
        day_from_start=day_start,
        is_estimate=consumed_override is not None,
        evidence_required=rule.evidence if rule is not None and method == QuoteMethod.SPECIAL_RULE else "",
    )


# --- The pieces -------------------------------------------------------------------------------


class _Lines:
    def __init__(self, *, staff: bool = False) -> None:
        self.items: list[QuoteLine] = []
        self.running = 0
        self.staff = staff  # explanations worded for staff (the student in the third person)

    def add(self, kind: str, fen: int, label: str, formula: str, explanation: str) -> None:
        self.items.append(QuoteLine(str(kind), str(label), _yuan(fen), formula, str(explanation)))
        self.running += fen


def _in_cooling_off(terms: PolicyTerms, day: int, used: int, lessons: int) -> bool:
    if terms.cooling_off_days is None or terms.cooling_off_progress_ceiling is None:
        return False
    # progress ≤ ceiling, exactly: used / lessons × 10000 ≤ ceiling in hundredths of a percent.
    return day <= terms.cooling_off_days and used * _FULL_BP <= _bp(terms.cooling_off_progress_ceiling) * lessons


def _cooling_off_line(lines: _Lines, terms: PolicyTerms, day: int, used: int, lessons: int) -> None:
    progress = _pct(_yuan(_div_half_up(used * _FULL_BP, lessons)))
    ceiling = _pct(terms.cooling_off_progress_ceiling or ZERO)
    values = {
        "day": day,
        "days": terms.cooling_off_days,
        "anchor": _anchor_name(terms.cooling_off_anchor),
        "progress": progress,
        "ceiling": ceiling,
    }
    if day == 0 and lines.staff:
        text = _(
            "The course had not started yet, which is inside the cooling-off window, and the student's progress "
            "of %(progress)s%% is not above %(ceiling)s%%, so the full amount is refundable with no deduction "
            "for lessons or time."
        )
    elif day == 0:
        text = _(
            "The course has not started yet, which is inside the cooling-off window, and your progress of "
            "%(progress)s%% is not above %(ceiling)s%%, so the full amount is refundable with no deduction "
            "for lessons or time."
        )
    elif lines.staff:
        text = _(
            "It was day %(day)s counted from %(anchor)s, within the %(days)s-day cooling-off window, and the "
            "student's progress of %(progress)s%% is not above %(ceiling)s%%, so the full amount is refundable "
            "with no deduction for lessons or time."
        )
    else:
        text = _(
            "Today is day %(day)s counted from %(anchor)s, within the %(days)s-day cooling-off window, and "
            "your progress of %(progress)s%% is not above %(ceiling)s%%, so the full amount is refundable "
            "with no deduction for lessons or time."
        )
    formula = f"{day} ≤ {terms.cooling_off_days}; {progress}% ≤ {ceiling}%"
    lines.add(QuoteLineKind.COOLING_OFF, 0, _("Cooling-off full refund"), formula, text % values)


def _consumption_line(lines: _Lines, terms: PolicyTerms, paid: int, used: int, lessons: int, is_estimate: bool) -> int:
    deduction = _div_half_up(paid * used, lessons)
    values = {"consumed": used, "lessons": lessons, "amount": _m(deduction)}
    basis = terms.consumption_basis
    if lines.staff:
        text = _staff_consumption_text(basis, terms.count_replays)
    elif basis == ConsumptionBasis.WATCHED:
        text = _(
            "You have watched %(consumed)s of %(lessons)s lessons; their share of the price, %(amount)s yuan, "
            "is deducted."
        )
    elif basis == ConsumptionBasis.LIVE and terms.count_replays:
        text = _(
            "You have attended %(consumed)s of %(lessons)s live sessions (a missed session watched as a replay "
            "counts as attended); their share of the price, %(amount)s yuan, is deducted."
        )
    elif basis == ConsumptionBasis.LIVE:
        text = _(
            "You have attended %(consumed)s of %(lessons)s live sessions; their share of the price, "
            "%(amount)s yuan, is deducted."
        )
    elif basis == ConsumptionBasis.HOURS:
        text = _(
            "You have used %(consumed)s of %(lessons)s one-on-one hours; their share of the price, "
            "%(amount)s yuan, is deducted."
        )
    else:
        text = _(
            "You have taken %(consumed)s of %(lessons)s lessons; their share of the price, %(amount)s yuan, "
            "is deducted."
        )
    explanation = text % values
    if is_estimate:
        note = (
            _("This is an estimate with a number the student entered, not the recorded progress.")
            if lines.staff
            else _("This is an estimate with the number you entered, not your recorded progress.")
        )
        explanation = " ".join([explanation, note])
    formula = f"{_m(paid)} × {used} ÷ {lessons} = {_m(deduction)}"
    lines.add(QuoteLineKind.CONSUMPTION, -deduction, _("Consumed lessons deduction"), formula, explanation)
    return deduction


def _staff_consumption_text(basis: str, count_replays: bool) -> str:
    """The consumption sentence for staff: the same facts, the student in the third person."""
    if basis == ConsumptionBasis.WATCHED:
        return _(
            "The student has watched %(consumed)s of %(lessons)s lessons; their share of the price, "
            "%(amount)s yuan, is deducted."
        )
    if basis == ConsumptionBasis.LIVE and count_replays:
        return _(
            "The student has attended %(consumed)s of %(lessons)s live sessions (a missed session watched as a "
            "replay counts as attended); their share of the price, %(amount)s yuan, is deducted."
        )
    if basis == ConsumptionBasis.LIVE:
        return _(
            "The student has attended %(consumed)s of %(lessons)s live sessions; their share of the price, "
            "%(amount)s yuan, is deducted."
        )
    if basis == ConsumptionBasis.HOURS:
        return _(
            "The student has used %(consumed)s of %(lessons)s one-on-one hours; their share of the price, "
            "%(amount)s yuan, is deducted."
        )
    return _(
        "The student has taken %(consumed)s of %(lessons)s lessons; their share of the price, %(amount)s yuan, "
        "is deducted."
    )


def _percent_line(
    lines: _Lines, *, kind: str, label: str, base: int, percent: Decimal, explain: Callable[[dict[str, Any]], str]
) -> int:
    """Deduct the part of ``base`` that ``percent`` does not refund."""
    kept_bp = _bp(percent)
    deduction = _div_half_up(base * (_FULL_BP - kept_bp), _FULL_BP)
    values = {
        "percent": _pct(percent),
        "rest": _pct(Decimal(_FULL_BP - kept_bp) / 100),
        "base": _m(base),
        "amount": _m(deduction),
    }
    formula = f"{_m(base)} × (100% − {_pct(percent)}%) = {_m(deduction)}"
    lines.add(kind, -deduction, label, formula, explain(values))
    return deduction


def _special_explanation(rule: SpecialRuleTerms) -> Callable[[dict[str, Any]], str]:
    def explain(values: dict[str, Any]) -> str:
        parts = [
            _(
                "Special rule for “%(reason)s”: %(percent)s%% of %(base)s yuan is refundable, so %(amount)s yuan "
                "is deducted."
            )
            % {**values, "reason": RefundReason(rule.reason).label}
        ]
        if rule.ignore_consumption:
            parts.append(_("Lessons already used are not deducted under this rule."))
        if rule.evidence:
            parts.append(_("Evidence needed: %(evidence)s") % {"evidence": rule.evidence})
        return " ".join(parts)

    return explain


def _tier_for(tiers: tuple[TierTerms, ...], day: int) -> TierTerms:
    """The tier covering ``day``; day 0 (before the anchor) falls in the first tier."""
    for tier in tiers:
        if tier.from_day <= day and (tier.to_day is None or day <= tier.to_day):
            return tier
    if day <= tiers[0].from_day:
        return tiers[0]
    # Only an invalid tier set (a gap, or a closed last tier) gets here: the last tier that started.
    return [tier for tier in tiers if tier.from_day <= day][-1]


def _tier_explanation(tier: TierTerms, day: int, anchor: str) -> Callable[[dict[str, Any]], str]:
    if tier.to_day is None:
        span = _("day %(start)s and later") % {"start": tier.from_day}
    else:
        span = _("days %(start)s–%(end)s") % {"start": tier.from_day, "end": tier.to_day}
    if day == 0:
        when = _("Before the course starts") if anchor == DayAnchor.COURSE_START else _("Before the purchase")
    else:
        when = _("Day %(day)s counted from %(anchor)s") % {"day": day, "anchor": _anchor_name(anchor)}

    def explain(values: dict[str, Any]) -> str:
        return _(
            "%(when)s: the tier of %(span)s applies, refunding %(percent)s%%; the other %(rest)s%% of "
            "%(base)s yuan, %(amount)s yuan, is deducted."
        ) % {**values, "when": when, "span": span}

    return explain


def _fee_and_materials(lines: _Lines, terms: PolicyTerms, value: int, rule: SpecialRuleTerms | None) -> None:
    reason = str(RefundReason(rule.reason).label) if rule is not None else ""
    fee_bp = _bp(terms.handling_fee_percent)
    if fee_bp:
        label = _("Handling fee %(percent)s%%") % {"percent": _pct(terms.handling_fee_percent)}
        if rule is not None and rule.waive_handling_fee:
            lines.add(
                QuoteLineKind.HANDLING_FEE,
                0,
                label,
                "0.00",
                _("The handling fee is waived under the special rule for “%(reason)s”.") % {"reason": reason},
            )
        else:
            fee = _div_half_up(value * fee_bp, _FULL_BP)
            value -= fee
            lines.add(
                QuoteLineKind.HANDLING_FEE,
                -fee,
                label,
                f"{_m(value + fee)} × {_pct(terms.handling_fee_percent)}% = {_m(fee)}",
                _(
                    "A handling fee of %(percent)s%% of %(base)s yuan, as disclosed at purchase, is deducted: "
                    "%(amount)s yuan."
                )
                % {"percent": _pct(terms.handling_fee_percent), "base": _m(value + fee), "amount": _m(fee)},
            )
    materials = _fen(terms.materials_fee)
    if materials:
        if rule is not None and rule.waive_materials_fee:
            lines.add(
                QuoteLineKind.MATERIALS,
                0,
                _("Materials fee"),
                "0.00",
                _("The materials deduction is waived under the special rule for “%(reason)s”.") % {"reason": reason},
            )
            return
        deduction = min(materials, max(value, 0))
        formula = _m(materials) if deduction == materials else f"min({_m(materials)}, {_m(value)}) = {_m(deduction)}"
        values = {"materials": terms.materials_description, "fee": _m(materials), "amount": _m(deduction)}
        if lines.staff and terms.materials_description:
            text = _(
                "The materials already delivered to the student (%(materials)s) cost %(fee)s yuan; "
                "%(amount)s yuan is deducted."
            )
        elif lines.staff:
            text = _("The materials already delivered to the student cost %(fee)s yuan; %(amount)s yuan is deducted.")
        elif terms.materials_description:
            text = _(
                "The materials already delivered to you (%(materials)s) cost %(fee)s yuan; %(amount)s yuan is deducted."
            )
        else:
            text = _("The materials already delivered to you cost %(fee)s yuan; %(amount)s yuan is deducted.")
        lines.add(QuoteLineKind.MATERIALS, -deduction, _("Materials fee"), formula, text % values)


def _anchor_name(anchor: str) -> str:
    return _("the course start") if anchor == DayAnchor.COURSE_START else _("the purchase")


# --- Numbers ----------------------------------------------------------------------------------


def _fen(amount: Decimal) -> int:
    scaled = Decimal(amount) * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of fen.")
    return int(scaled)


def _bp(percent: Decimal) -> int:
    """A percentage in hundredths of a percent, 0..10000."""
    scaled = Decimal(percent) * 100
    if scaled != scaled.to_integral_value() or not 0 <= scaled <= _FULL_BP:
        raise ValueError(f"{percent} is not a percentage with at most 2 decimals within 0..100.")
    return int(scaled)


def _div_half_up(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half up, for numerator ≥ 0 and denominator > 0."""
    return (2 * numerator + denominator) // (2 * denominator)


def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def _m(fen: int) -> str:
    return f"{_yuan(fen):.2f}"


def _pct(percent: Decimal) -> str:
    """80.00 -> "80", 12.50 -> "12.5"."""
    return format(Decimal(percent).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize(), "f")


# --- Presentation: the quote in plain sentences, and the policy's days as a bar -------------------
#
# The lines above carry the arithmetic (label, formula, explanation) and are stored with every
# request. A student deciding whether to apply first needs the short version: one sentence per
# line that changes the amount, zero lines only where they explain something (the cooling-off
# window, a fee waived by a special rule), no sign of the internal "take the rest to 0" line of a
# contract course. The formulas stay available on demand from the same lines.


@dataclass(frozen=True)
class PlainLine:
    kind: str
    text: str
    amount: Decimal | None  # signed, as on the line; None where the sentence says it all


@dataclass(frozen=True)
class TimelineSegment:
    label: str
    detail: str
    current: bool
    cooling_off: bool


@dataclass(frozen=True)
class QuoteTimeline:
    """The policy's days (cooling-off window, then tiers) with the student's day marked."""

    segments: tuple[TimelineSegment, ...]
    where: str
    note: str


def money_display(amount: Decimal) -> str:
    """¥4,800.00: how the student reads an amount (the sign is the caller's; written by the one
    ``yuan`` of every page)."""
    return yuan(abs(Decimal(amount)))


def quote_plain_lines(quote: Quote) -> tuple[PlainLine, ...]:
    """One plain sentence per line that matters to the student; see the section comment."""
    terms = quote.terms
    rule = terms.special_rule_for(quote.reason) if quote.method == QuoteMethod.SPECIAL_RULE else None
    out: list[PlainLine] = []
    for line in quote.lines:
        kind = line.kind
        zero = line.amount == 0
        text: str = ""
        amount: Decimal | None = line.amount
        if kind == QuoteLineKind.PAID:
            text = _("Amount you paid")
        elif kind == QuoteLineKind.COOLING_OFF:
            day = (
                quote.day_from_start if terms.cooling_off_anchor == DayAnchor.COURSE_START else quote.day_from_purchase
            )
            if day == 0:
                text = _("Before the course starts you are within the cooling-off window: no lessons or time deducted.")
            else:
                text = _(
                    "Day %(day)s counted from %(anchor)s, within the %(days)s-day cooling-off window: "
                    "no lessons or time deducted."
                ) % {"day": day, "days": terms.cooling_off_days, "anchor": _anchor_name(terms.cooling_off_anchor)}
            amount = None
        elif kind == QuoteLineKind.CONSUMPTION:
            if zero:
                continue
            text = _consumption_sentence(terms.consumption_basis) % {
                "used": quote.units_consumed,
                "lessons": quote.lessons,
            }
            if quote.is_estimate:
                text = " ".join(
                    [text, _("This is an estimate with the number you entered, not your recorded progress.")]
                )
        elif kind == QuoteLineKind.TIME_TIER:
            if zero:
                continue
            day = quote.day_from_start if terms.tier_anchor == DayAnchor.COURSE_START else quote.day_from_purchase
            tier = _tier_for(terms.tiers, day)
            if tier.percent == 0:
                text = _("Day %(day)s: past the refund period, nothing of what remains is refunded.")
            else:
                text = _("Day %(day)s: %(percent)s%% of what remains is refunded; the rest is deducted.")
            text = text % {"day": day, "percent": _pct(tier.percent)}
        elif kind == QuoteLineKind.SPECIAL_RULE:
            label = RefundReason(quote.reason).label
            if zero:
                text = _("Special circumstances (“%(reason)s”): refunded in full, whatever the day.") % {
                    "reason": label
                }
                amount = None
            else:
                text = _("Special circumstances (“%(reason)s”): %(percent)s%% is refunded; the rest is deducted.") % {
                    "reason": label,
                    "percent": _pct(rule.percent if rule is not None else ZERO),
                }
            if rule is not None and rule.ignore_consumption and terms.consumption_basis != ConsumptionBasis.NONE:
                text = " ".join([text, _("Lessons already used are not deducted under this rule.")])
        elif kind == QuoteLineKind.HANDLING_FEE:
            if zero:
                text = _("No handling fee in these circumstances.")
                amount = None
            else:
                text = _("Handling fee (%(percent)s%%)") % {"percent": _pct(terms.handling_fee_percent)}
        elif kind == QuoteLineKind.MATERIALS:
            if zero:
                text = _("The materials are not deducted in these circumstances.")
                amount = None
            else:
                text = _("Materials already delivered to you")
        elif kind == QuoteLineKind.REFUNDED:
            text = _("Already refunded on this order")
        elif kind == QuoteLineKind.IN_FLIGHT:
            text = _("Being refunded in another request")
        elif kind == QuoteLineKind.FLOOR:
            text = _("The deductions are more than what is left, so nothing more is refundable now.")
        elif kind == QuoteLineKind.CAP:
            text = line.explanation
        elif kind == QuoteLineKind.CONTRACT:
            # Never "−¥19800.00": nothing is deducted, the reviewer has not set the amount yet.
            text = _(
                "Under your contract the reviewer sets the amount, at most %(amount)s; your account manager "
                "confirms it with you before anything is paid."
            ) % {"amount": money_display(quote.refundable)}
            amount = None
        else:
            text = line.explanation
        out.append(PlainLine(kind=kind, text=str(text), amount=amount))
    return tuple(out)


def _consumption_sentence(basis: str) -> str:
    if basis == ConsumptionBasis.WATCHED:
        return _("You have watched %(used)s of %(lessons)s lessons; their share of the price is deducted.")
    if basis == ConsumptionBasis.LIVE:
        return _("You have attended %(used)s of %(lessons)s live sessions; their share of the price is deducted.")
    if basis == ConsumptionBasis.HOURS:
        return _("You have used %(used)s of %(lessons)s one-on-one hours; their share of the price is deducted.")
    return _("You have taken %(used)s of %(lessons)s lessons; their share of the price is deducted.")


def quote_timeline(quote: Quote) -> QuoteTimeline | None:
    """The cooling-off window and the time tiers as segments, the student's day marked; None for
    a contract course or a policy with neither."""
    terms = quote.terms
    if terms.mode == PolicyMode.CONTRACT:
        return None
    anchor = terms.tier_anchor if terms.tiers else terms.cooling_off_anchor
    day = quote.day_from_start if anchor == DayAnchor.COURSE_START else quote.day_from_purchase
    spans: list[tuple[int, int | None, str, bool]] = []  # from, to, detail, cooling-off
    cool_end = -1
    if terms.cooling_off_days is not None and terms.cooling_off_anchor == anchor:
        cool_end = terms.cooling_off_days
        start = 0 if cool_end == 0 else 1
        spans.append((start, cool_end, str(_("Full refund (cooling-off)")), True))
    for tier in terms.tiers:
        if tier.to_day is not None and tier.to_day <= cool_end:
            continue
        percent = _("%(percent)s%% of what remains") % {"percent": _pct(tier.percent)}
        spans.append((max(tier.from_day, cool_end + 1), tier.to_day, str(percent), False))
    if not terms.tiers and spans:
        spans.append((cool_end + 1, None, str(_("Unused part refunded")), False))
    if not spans:
        return None
    current = next(
        (i for i, (start, end, _d, _c) in enumerate(spans) if start <= day and (end is None or day <= end)),
        0 if day <= spans[0][0] else len(spans) - 1,
    )
    segments = tuple(
        TimelineSegment(label=_span_label(start, end), detail=detail, current=i == current, cooling_off=cool)
        for i, (start, end, detail, cool) in enumerate(spans)
    )
    if day == 0:
        where = _("Before the course starts") if anchor == DayAnchor.COURSE_START else _("Before the purchase")
    else:
        where = _("Day %(day)s counted from %(anchor)s") % {"day": day, "anchor": _anchor_name(anchor)}
    note = ""
    ceiling = terms.cooling_off_progress_ceiling
    if terms.cooling_off_days is not None and ceiling is not None and ceiling < 100:
        note = _("The cooling-off full refund holds while your progress is at most %(ceiling)s%%.") % {
            "ceiling": _pct(ceiling)
        }
    return QuoteTimeline(segments=segments, where=str(where), note=str(note))


def _span_label(start: int, end: int | None) -> str:
    if start == 0 and end == 0:
        return str(_("Before the start"))
    if end is None:
        return str(_("Day %(start)s on") % {"start": start})
    if start == end:
        return str(_("Day %(start)s") % {"start": start})
    return str(_("Days %(start)s–%(end)s") % {"start": start, "end": end})


def quote_progress_basis(quote: Quote) -> str:
    """Which measure of her progress the refund counts, in its own unit (节, 场, 小时), with the share."""
    values = {"used": quote.units_consumed, "lessons": quote.lessons, "percent": _pct(quote.progress_percent)}
    basis = quote.terms.consumption_basis
    if basis == ConsumptionBasis.WATCHED:
        text = _("Lessons watched: %(used)s of %(lessons)s (%(percent)s%%)")
    elif basis == ConsumptionBasis.LIVE:
        text = _("Live sessions attended: %(used)s of %(lessons)s (%(percent)s%%)")
    elif basis == ConsumptionBasis.HOURS:
        text = _("One-on-one hours used: %(used)s of %(lessons)s (%(percent)s%%)")
    else:
        text = _("Lessons taken: %(used)s of %(lessons)s (%(percent)s%%)")
    return str(text % values)
