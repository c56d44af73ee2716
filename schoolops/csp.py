"""The Content-Security-Policy header: django-csp's middleware, with frame-ancestors kept in step
with X-Frame-Options.

The policy itself is ``settings.CONTENT_SECURITY_POLICY``. Browsers that know frame-ancestors
ignore X-Frame-Options, so the two must say the same: 'none' for every page (Django's DENY), and
'self' only for a response that allows a same-site frame (``xframe_options_sameorigin``, as the
evidence files the admin previews in a frame); none for a view exempted from X-Frame-Options.
"""

from __future__ import annotations

from csp.constants import NONE, SELF
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.http import HttpRequest, HttpResponseBase


class CSPMiddleware(BaseCSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if getattr(response, "xframe_options_exempt", False):
            ancestors = None
        elif response.get("X-Frame-Options", "").upper() == "SAMEORIGIN":
            ancestors = [SELF]
        else:
            ancestors = [NONE]
        parts.replace = {**(parts.replace or {}), "frame-ancestors": ancestors}
        return parts
