"""What the HTTP channels share: settings reads and the "not configured" error (their session,
``PinnedCASession``, is in ``schoolops.http``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from schoolops.http import DEFAULT_TIMEOUT

from .base import ChannelTemporaryError


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
