"""Plain text made readable on a page: ``{{ body|linkify|linebreaks }}`` makes every web address a
link, also where Chinese text runs straight into it ("查看进度：http://…"), which Django's urlize
(words split on spaces) misses."""

from __future__ import annotations

import re

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# An address ends at white space, a quote or angle bracket, or CJK / full-width punctuation.
_URL = re.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff00-\uffef]+")
_TRAILING = ".,;:!?)"


@register.filter(needs_autoescape=True)
def linkify(value: object, autoescape: bool = True) -> SafeString:
    text = str(conditional_escape(str(value)) if autoescape else value)

    def link(found: re.Match[str]) -> str:
        url = found.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        return f'<a href="{url}" rel="noopener">{url}</a>{tail}'

    return mark_safe(_URL.sub(link, text))  # noqa: S308 - the text was escaped above; only our <a> tags are added
