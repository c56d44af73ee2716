"""Refused gateway callbacks, kept for inspection within bounds.

The callback endpoints take unauthenticated POSTs from the internet, so what they keep of the
ones they refuse must not grow with junk traffic:

* the body is cut to ``PAYMENTS_REFUSED_CALLBACK_BODY_CHARS``, with a note of its full length;
* at most ``PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR`` rows an hour from one address (an
  IPv6 address counts with its /64, which one subscriber usually holds whole), and at most
  ``PAYMENTS_REFUSED_CALLBACKS_PER_HOUR`` from everywhere; the counters are in the cache (Redis
  in production), per clock hour. Past either limit a refusal is only logged;
* rows older than ``PAYMENTS_REFUSED_CALLBACK_KEEP_DAYS`` are deleted by a periodic task.

Every refusal is logged, stored or not. The gateway gets its usual answer either way.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from .models import RejectedCallback

logger = logging.getLogger(__name__)

COUNTER_PREFIX = "payments:refused-callbacks"


def refused_callback_record(
    *,
    channel: str,
    reason: str,
    payout_no: str = "",
    remote_addr: str | None,
    body: str,
    at: datetime.datetime | None = None,
) -> RejectedCallback | None:
    """Log a refused callback and keep it if the hour's limits allow; None when not kept."""
    at = at or timezone.now()
    stored = _count_and_allow(remote_addr, at=at)
    logger.warning(
        "Refused %s callback for %r from %s (%s): %s",
        channel,
        payout_no,
        remote_addr,
        "stored" if stored else "not stored, over the hourly limit",
        reason,
    )
    if not stored:
        return None
    return RejectedCallback.objects.create(
        channel=channel,
        reason=reason,
        payout_no=payout_no[:64],
        remote_addr=remote_addr,
        body=_capped(body),
        received_at=at,
    )


def refused_callbacks_purge(*, now: datetime.datetime | None = None) -> int:
    """Delete refused callbacks older than the keeping period; the number deleted."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=settings.PAYMENTS_REFUSED_CALLBACK_KEEP_DAYS)
    deleted, _per_model = RejectedCallback.objects.filter(received_at__lt=cutoff).delete()
    if deleted:
        logger.info("Deleted %s refused callbacks received before %s.", deleted, cutoff.isoformat())
    return deleted


def counter_keys(remote_addr: str | None, *, at: datetime.datetime) -> tuple[str, str]:
    """The cache keys counting stored refusals in ``at``'s hour: the address's, and everyone's."""
    hour = f"{at.astimezone(datetime.UTC):%Y%m%d%H}"
    return f"{COUNTER_PREFIX}:{_address_key(remote_addr)}:{hour}", f"{COUNTER_PREFIX}:all:{hour}"


def _count_and_allow(remote_addr: str | None, *, at: datetime.datetime) -> bool:
    address_key, all_key = counter_keys(remote_addr, at=at)
    try:
        if _increment(address_key) > settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR:
            return False
        return _increment(all_key) <= settings.PAYMENTS_REFUSED_CALLBACKS_PER_HOUR
    except Exception:
        # Without its counters the limit cannot be kept: keep nothing rather than everything.
        logger.exception("Refused-callback counters unavailable; not storing this refusal.")
        return False


def _increment(key: str) -> int:
    # Slightly more than the hour, so a counter never vanishes inside its own hour.
    cache.add(key, 0, timeout=3600 + 300)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600 + 300)
        return 1


def _address_key(remote_addr: str | None) -> str:
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _capped(body: str) -> str:
    limit = settings.PAYMENTS_REFUSED_CALLBACK_BODY_CHARS
    if len(body) <= limit:
        return body
    return f"{body[:limit]}\n[cut: {len(body)} characters received, the first {limit} kept]"
