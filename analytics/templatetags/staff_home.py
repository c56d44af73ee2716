"""``{% staff_home as sections %}``: the admin home's sections for the logged-in user (``analytics.home``)."""

from __future__ import annotations

from django import template

from ..home import HomeSection
from ..home import staff_home as _staff_home

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_home(context) -> list[HomeSection]:
    return _staff_home(user=context["request"].user)
