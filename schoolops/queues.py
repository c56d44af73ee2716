"""The Celery queues, so that money never waits behind paperwork.

- ``payouts``: a payout's call to the gateway and the checks of stuck payouts and collections.
- ``notifications``: delivering the outbox (inbox, e-mail, SMS, WeChat, robots).
- ``documents``: e-receipts (PDF rendering, 0.2–1.5 s each) and finance's exports.
- ``celery`` (the default): analytics refreshes and the periodic housekeeping.

Each queue has workers of its own (docker-compose's ``worker-<queue>`` services, ``make worker
QUEUES=…``), scaled independently. ``prefix`` puts a whole set of queues under one name (tests and
benchmarks run on queues of their own next to each other on one Redis).
"""

from __future__ import annotations

PAYOUTS = "payouts"
NOTIFICATIONS = "notifications"
DOCUMENTS = "documents"
DEFAULT = "celery"
ALL = (PAYOUTS, NOTIFICATIONS, DOCUMENTS, DEFAULT)

# Which tasks go where (by task name; fnmatch patterns). Anything else goes to the default queue.
_ROUTES = {
    "payments.tasks.*": PAYOUTS,
    "notifications.tasks.*": NOTIFICATIONS,
    "finance.tasks.*": DOCUMENTS,
}


def queue_name(queue: str, *, prefix: str = "") -> str:
    return f"{prefix}{queue}"


def task_routes(*, prefix: str = "") -> dict[str, dict[str, str]]:
    """Celery's ``task_routes`` for the queues under ``prefix``."""
    return {pattern: {"queue": queue_name(queue, prefix=prefix)} for pattern, queue in _ROUTES.items()}


def queue_names(queues: tuple[str, ...] | list[str] = ALL, *, prefix: str = "") -> list[str]:
    return [queue_name(queue, prefix=prefix) for queue in queues]
