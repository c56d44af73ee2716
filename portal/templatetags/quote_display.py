"""A live quote as the student reads it: plain sentences and the policy's days as a bar (amounts by the
``yuan`` filter of ``schoolops``).

The presentation itself lives beside the calculation (``refunds.quotes``); these filters only let the
quote partials ask for it, so every page that shows a quote shows the same sentences.
"""

from __future__ import annotations

from django import template

from refunds.quotes import (
    PlainLine,
    Quote,
    QuoteTimeline,
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
def progress_basis(quote: Quote) -> str:
    return quote_progress_basis(quote)
