"""The admin home's cards, for ``templates/admin/index.html``.

A tag rather than a custom ``AdminSite``: every app registers on ``admin.site`` and the site
class is Django's, so the home gets its context without replacing the site or patching its
``index`` view. The counting itself is ``refunds.dashboard``.
"""

from __future__ import annotations

from django import template

from ..dashboard import admin_home_cards as _admin_home_cards

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_home_cards(context):
    """``{% admin_home_cards as cards %}``: the cards for the logged-in user."""
    return _admin_home_cards(user=context["request"].user)
