"""The approval routes of a campus's settings, drawn per amount band on the settings page.

Nothing here knows the rules: the bands come from asking ``refunds.routing`` itself. For every
threshold the settings hold, the route is asked just below it, at it and just above it (one fen
apart, the smallest amount a request can differ by) and between thresholds; neighbouring amounts
with the same route are one band, and whether a threshold belongs to the band below or above is
whatever the routing answered at the threshold itself. Change a rule in ``routing`` and the
diagram follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from schoolops.templatetags.money import yuan

from ..models import ApprovalTier, RefundReason
from ..routing import route_for, route_for_exchange

FEN = Decimal("0.01")
# A reason that takes no special route (quality and content complaints add quality review first).
PLAIN_REASON = RefundReason.TIME_CONFLICT


@dataclass(frozen=True)
class Edge:
    amount: Decimal
    included: bool


@dataclass(frozen=True)
class Band:
    """Amounts from ``lower`` (None: from zero) to ``upper`` (None: no limit) take ``route``."""

    lower: Edge | None
    upper: Edge | None
    route: tuple[str, ...]

    @property
    def label(self) -> str:
        return band_label(self)

    @property
    def steps(self) -> list[tuple[str, str]]:
        """(tier, its label) in order."""
        labels = dict(ApprovalTier.choices)
        return [(tier, str(labels.get(tier, tier))) for tier in self.route]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    end: str
    bands: list[Band]


def bands_for(route: Callable[[Decimal], list[str]], thresholds: list[Decimal]) -> list[Band]:
    """The amount bands ``route`` (an amount -> its tiers) gives, probed around ``thresholds``."""
    points = sorted({t for t in thresholds if t >= 0})
    # Atoms in increasing order: (lower edge, upper edge, an amount inside).
    atoms: list[tuple[Edge | None, Edge | None, Decimal]] = []
    previous: Decimal | None = None
    for point in points:
        if previous is None:
            if point > 0:
                atoms.append((None, Edge(point, False), point - FEN))
        elif point - previous > FEN:
            atoms.append((Edge(previous, False), Edge(point, False), previous + FEN))
        atoms.append((Edge(point, True), Edge(point, True), point))
        previous = point
    if previous is None:
        atoms.append((None, None, Decimal("0")))
    else:
        atoms.append((Edge(previous, False), None, previous + FEN))

    bands: list[Band] = []
    for lower, upper, probe in atoms:
        tiers = tuple(route(probe))
        if bands and bands[-1].route == tiers:
            bands[-1] = Band(lower=bands[-1].lower, upper=upper, route=tiers)
        else:
            bands.append(Band(lower=lower, upper=upper, route=tiers))
    # An edge at zero included is no edge at all: amounts start there.
    return [
        Band(lower=None, upper=band.upper, route=band.route)
        if band.lower is not None and band.lower.amount == 0 and band.lower.included
        else band
        for band in bands
    ]


def _threshold(amount: Decimal) -> str:
    """A threshold as people say it: ¥2,000 (the project's ``yuan`` without whole-yuan cents)."""
    text = yuan(amount)
    return text[:-3] if text.endswith(".00") else text


def band_label(band: Band) -> str:
    lower, upper = band.lower, band.upper
    if upper is None:
        if lower is None:
            return str(_("any amount"))
        sign = "≥" if lower.included else ">"
        return f"{sign} {_threshold(lower.amount)}"
    if lower is None:
        sign = "≤" if upper.included else "<"
        return f"{sign} {_threshold(upper.amount)}"
    if lower.amount == upper.amount:
        return _threshold(lower.amount)
    if lower.included and upper.included:
        return f"{_threshold(lower.amount)} – {_threshold(upper.amount)}"
    low = "≥" if lower.included else ">"
    high = "≤" if upper.included else "<"
    return f"{low} {_threshold(lower.amount)}, {high} {_threshold(upper.amount)}"


def route_scenarios(*, small_below: Decimal, large_above: Decimal, exchange_head_above: Decimal) -> list[Scenario]:
    """The diagrams of one campus's settings: refunds (as most go, reviewed by a person, quality
    complaints) and course exchanges."""
    thresholds = [small_below, large_above]

    def refund(reason: str, needs_person: bool) -> Callable[[Decimal], list[str]]:
        return lambda amount: route_for(
            amount=amount, reason=reason, small_below=small_below, large_above=large_above, needs_person=needs_person
        )

    paid = str(_("Refund paid"))
    return [
        Scenario("refund", str(_("Refunds")), paid, bands_for(refund(PLAIN_REASON, False), thresholds)),
        Scenario(
            "refund-person",
            str(_("Refunds a person must review (high-risk student, repeated refunds)")),
            paid,
            bands_for(refund(PLAIN_REASON, True), thresholds),
        ),
        Scenario(
            "refund-quality",
            str(_("Refunds for quality or content complaints")),
            paid,
            bands_for(refund(RefundReason.QUALITY, False), thresholds),
        ),
        Scenario(
            "exchange",
            str(_("Course exchanges (by the difference to refund or to pay)")),
            str(_("Exchange carried out")),
            bands_for(
                lambda amount: route_for_exchange(difference=amount, head_above=exchange_head_above),
                [exchange_head_above],
            ),
        ),
    ]
