"""What the HTTP channels share: a requests session that trusts one CA bundle, and settings reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from django.conf import settings

from .base import ChannelTemporaryError

DEFAULT_TIMEOUT = 10.0  # seconds


class PinnedCASession(requests.Session):
    """Verifies TLS against ``ca_bundle`` (when given) whatever ``REQUESTS_CA_BUNDLE`` says.

    requests lets the environment's bundle override ``Session.verify``; only a per-request
    ``verify`` wins, so it is set on every request (wechatpy passes none of its own).
    A request without a timeout gets the session's.
    """

    def __init__(self, ca_bundle: str = "", *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.ca_bundle and kwargs.get("verify") in (None, True):
            kwargs["verify"] = self.ca_bundle
        if kwargs.get("timeout") is None:  # wechatpy fetches its token with no timeout at all
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


class ChannelNotConfigured(ChannelTemporaryError):
    """A setting the channel needs is missing. Temporary on purpose: nothing was sent, and the
    message goes out once the setting is there (the outbox keeps retrying within its limits)."""


def settings_block(name: str, *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``settings.<name>`` with ``required`` keys present and a usable ``CA_BUNDLE``."""
    values = getattr(settings, name, None)
    if not isinstance(values, dict):
        raise ChannelNotConfigured(f"settings.{name} is missing: see deploy/production.env.example.", code="config")
    for key in required:
        if not values.get(key):
            raise ChannelNotConfigured(
                f"settings.{name}['{key}'] is empty: set the {name}_{key} environment variable"
                " (in development, start `manage.py run_gateway_sim` to use the local simulator).",
                code="config",
            )
    ca_bundle = str(values.get("CA_BUNDLE") or "")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ChannelNotConfigured(
            f"settings.{name}['CA_BUNDLE'] does not name a readable file ({ca_bundle!r}).", code="config"
        )
    return values


def timeout_of(values: dict[str, Any]) -> float:
    return float(values.get("TIMEOUT") or DEFAULT_TIMEOUT)
