"""Staff sessions are short: they end when the browser closes, after ``ADMIN_SESSION_IDLE_SECONDS``
without a request, and ``ADMIN_SESSION_MAX_AGE_SECONDS`` after logging in whatever the activity.

A staff login can approve and pay out refunds, so a cookie left on a shared computer or copied
from one must not stay good for Django's 14 days. Students keep the ordinary cookie. The limits
are checked on the server at every request (a browser-session cookie alone is only a request to
the browser); a session found past one is logged out before the view runs, which then sends the
person to a log-in page like any anonymous visitor.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _

STARTED_KEY = "_staff_session_started"
SEEN_KEY = "_staff_session_seen"
# The last-seen time is written back at most this often, not at every request.
SEEN_RESOLUTION_SECONDS = 60


@receiver(user_logged_in, dispatch_uid="schoolops.sessions.staff_logged_in")
def staff_logged_in(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """A staff login gets a browser-session cookie and its clock started."""
    if request is not None and getattr(request, "session", None) is not None and user.is_staff:
        _start(request, now=time.time())


class StaffSessionMiddleware:
    """Logs out a staff session that sat idle or lived too long; keeps a live one's clock.

    After AuthenticationMiddleware and MessageMiddleware (it reads ``request.user`` and leaves a
    message for the log-in page).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            self._check(request, now=time.time())
        return self.get_response(request)

    def _check(self, request: HttpRequest, *, now: float) -> None:
        session = request.session
        started, seen = session.get(STARTED_KEY), session.get(SEEN_KEY)
        if started is None or seen is None:
            # Logged in before these limits existed, or made staff while logged in.
            _start(request, now=now)
            return
        if now - seen > settings.ADMIN_SESSION_IDLE_SECONDS:
            _end(request, _("You were logged out after a period without activity. Please log in again."))
        elif now - started > settings.ADMIN_SESSION_MAX_AGE_SECONDS:
            _end(request, _("Your session has reached its time limit. Please log in again."))
        elif now - seen >= SEEN_RESOLUTION_SECONDS:
            session[SEEN_KEY] = now


def _start(request: HttpRequest, *, now: float) -> None:
    request.session.set_expiry(0)  # a cookie without an expiry date: gone when the browser closes
    request.session[STARTED_KEY] = now
    request.session[SEEN_KEY] = now


def _end(request: HttpRequest, message: str) -> None:
    logout(request)
    messages.info(request, message)
