"""Logging in: a username or a student's phone number, and throttling of failed attempts.

Throttling is django-axes (``axes.backends.AxesStandaloneBackend`` first in
``AUTHENTICATION_BACKENDS``, ``AxesMiddleware`` last in ``MIDDLEWARE``), tuned here:

- an account and an address are counted independently (``AXES_LOCKOUT_PARAMETERS``): an account
  is locked after ``AXES_FAILURE_LIMIT`` failures from anywhere, an address after
  ``LOGIN_ADDRESS_FAILURE_LIMIT`` failures on any accounts, a higher number because a campus or
  a mobile carrier puts many students behind one address (``LoginAttemptHandler``);
- an account is counted under its username whether it was typed as the username or the phone
  number (``login_username``), so switching between the two buys no extra attempts;
- a successful log-in clears that account's failures only, never the address's: an attacker who
  owns one account cannot wipe the address counter by logging into it;
- the locked-out visitor sees the log-in page again with a message (``lockout_response``).
"""

from __future__ import annotations

import logging
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_parameters, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .models import User

logger = logging.getLogger(__name__)


def user_for_login(identifier: str) -> User | None:
    """The account a log-in name means: its username, or a student's phone number."""
    return User.objects.filter(Q(username=identifier) | Q(phone=identifier)).order_by("pk").first()


class UsernameOrPhoneBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if not username or password is None:
            return None
        user = user_for_login(username.strip())
        if user is None:
            # Same work as a real check, so timing does not reveal which logins exist.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


# --- Throttling (django-axes) ----------------------------------------------------------------


def login_username(request: HttpRequest | None, credentials: dict | None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: the account an attempt is counted against.

    A phone number counts for the account it belongs to (under its username); a name that is
    no account is counted as typed. Remembered on the request: axes asks several times.
    """
    credentials = credentials or {}
    typed = credentials.get("username")
    if typed is None and request is not None:
        typed = getattr(request, "data", request.POST).get("username")
    if typed is None:
        return None
    identifier = str(typed).strip()
    cache: dict[str, str] = getattr(request, "_login_usernames", {}) if request is not None else {}
    if identifier not in cache:
        user = user_for_login(identifier) if identifier else None
        cache[identifier] = user.username if user is not None else identifier
        if request is not None:
            request._login_usernames = cache  # type: ignore[attr-defined]  # a per-request memo
    return cache[identifier]


def login_client_ip(request: HttpRequest) -> str | None:
    """``AXES_CLIENT_IP_CALLABLE``: the visitor's address.

    Behind ``LOGIN_TRUSTED_PROXY_COUNT`` reverse proxies that each append to X-Forwarded-For,
    the entry that many places from the right (the address the outermost proxy saw); any
    entries further left were written by the client and are ignored. With no proxies,
    REMOTE_ADDR.
    """
    proxies = settings.LOGIN_TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR") or None
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


class LoginAttemptHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per lockout parameter and an account-only reset.

    axes compares one number with ``AXES_FAILURE_LIMIT``; the address's failures are scaled so
    that reaching ``LOGIN_ADDRESS_FAILURE_LIMIT`` is what reaches it
    (``failures * account_limit // address_limit >= account_limit`` exactly when
    ``failures >= address_limit``).
    """

    def get_failures(self, request, credentials: dict | None = None) -> int:
        account_limit = settings.AXES_FAILURE_LIMIT
        address_limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
        parameters = get_client_parameters(
            get_client_username(request, credentials),
            request.axes_ip_address,
            request.axes_user_agent,
            request,
            credentials,
        )
        worst = 0
        for filters, attempts in zip(parameters, self.get_user_attempts(request, credentials), strict=True):
            failures = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            if set(filters) == {"ip_address"}:
                failures = failures * account_limit // address_limit
            worst = max(worst, failures)
        return worst

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs) -> None:
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and request.axes_locked_out:
            # The audit line; axes keeps the rows (AccessAttempt, AccessFailureLog).
            logger.warning(
                "Login locked out: account=%s address=%s path=%s",
                get_client_username(request, credentials),
                request.axes_ip_address,
                request.axes_path_info,
            )

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count


def lockout_minutes(request: HttpRequest | None = None) -> int:
    cool_off = get_cool_off(request)
    return max(1, round(cool_off.total_seconds() / 60)) if cool_off else 0


def lockout_message(request: HttpRequest | None = None) -> str:
    return _(
        "Too many failed log-in attempts: logging in to this account or from this network is paused "
        "for %(minutes)s minutes. Try again later, or ask the school's operations staff to unlock it."
    ) % {"minutes": lockout_minutes(request)}


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None):
    """``AXES_LOCKOUT_CALLABLE``: the same log-in page (student's or admin's), with the message.

    The page's own context is kept (the admin's header, ``next``); its form is replaced by an
    empty one, since the refused attempt was never checked.
    """
    context: dict[str, Any] = dict(getattr(original_response, "context_data", None) or {})
    template = getattr(original_response, "template_name", None) or "registration/login.html"
    form = context.get("form")
    form_class = type(form) if isinstance(form, AuthenticationForm) else AuthenticationForm
    typed = (credentials or {}).get("username") or request.POST.get("username", "")
    context["form"] = form_class(request, initial={"username": typed})
    context.setdefault(REDIRECT_FIELD_NAME, request.POST.get(REDIRECT_FIELD_NAME, ""))
    context["lockout_message"] = lockout_message(request)
    return render(request, template, context, status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429))
