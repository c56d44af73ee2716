"""What the gateway adapters, the notification channels and their workers share: an HTTP session
that trusts one CA bundle, and the retry backoff."""

from __future__ import annotations

import random
from typing import Any

import requests

DEFAULT_TIMEOUT = 10.0  # seconds


class PinnedCASession(requests.Session):
    """Verifies TLS against ``ca_bundle`` (when given) whatever ``REQUESTS_CA_BUNDLE`` says.

    requests lets the environment's bundle override ``Session.verify``; only a per-request
    ``verify`` wins, so it is set on every request (wechatpy passes none of its own). A request
    without a timeout gets the session's. Proxies from the environment still apply.
    """

    def __init__(self, ca_bundle: str = "", *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.timeout = timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if self.ca_bundle and kwargs.get("verify") in (None, True):
            kwargs["verify"] = self.ca_bundle
        if kwargs.get("timeout") is None:  # wechatpy fetches its token with no timeout at all
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def backoff_with_jitter(*, attempt: int, base: float, cap: float) -> float:
    """Seconds before retry number ``attempt`` (0 = the first): ``base`` doubled each time, capped
    at ``cap``, with jitter between half and all of that step so retries do not come in waves."""
    step = min(cap, base * (2**attempt))
    return step * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret
