"""A live quote as the student reads it: plain sentences, the policy's days as a bar, amounts as ¥4,800.00.

The presentation itself lives beside the calculation (``refunds.quotes``); these filters only let the
quote partials ask for it, so every page that shows a quote shows the same sentences.
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from refunds.quotes import (
    PlainLine,
    Quote,
    QuoteTimeline,
    money_display,
    quote_plain_lines,
    quote_progress_basis,
    quote_timeline,
)

register = template.Library()


@register.filter
def plain_lines(quote: Quote) -> tuple[PlainLine, ...]:
    return quote_plain_lines(quote)


@register.filter
def days_bar(quote: Quote) -> QuoteTimeline | None:
    return quote_timeline(quote)


@register.filter
def money(amount: Decimal | None) -> str:
    """¥4,800.00, with a minus sign (−) for a deduction."""
    if amount is None:
        return ""
    return ("−" if amount < 0 else "") + money_display(amount)


@register.filter
def progress_basis(quote: Quote) -> str:
    return quote_progress_basis(quote)
