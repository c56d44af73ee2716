"""Notification benchmark: queries per refund event (the outbox rows written in the event's
transaction) and notifications delivered per second through the outbox by one worker process.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_notifications.py [--refunds 300]``. Needs
PostgreSQL and Redis (``DATABASE_URL`` / ``REDIS_URL``; defaults: the local ones). Works in a
throwaway test database ``test_<name>``; the Celery worker runs as a separate process (solo pool),
channels inbox + e-mail (Django's locmem e-mail backend in the worker).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/schoolops_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

import django  # noqa: E402

django.setup()

from _school import submitted_requests  # noqa: E402 - bench/ is the script's own directory
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from notifications.models import Notification, NotificationStatus  # noqa: E402
from notifications.services import (
    outbox,  # noqa: E402
)
from orders.models import CourseType, PaymentChannel  # noqa: E402
from payments.testing import WorkerProcess, database_url, purge_queue, queue_env, route_tasks_to  # noqa: E402
from refunds.events import refund_event_record  # noqa: E402
from refunds.models import RefundEventKind, RefundPolicy, RefundRequest  # noqa: E402
from schoolops import queues  # noqa: E402


def make_requests(count: int) -> list[int]:
    """``count`` submitted refund requests, one student each (3 outbox rows each: her inbox and
    e-mail, the homeroom teacher's inbox)."""
    RefundPolicy.objects.filter(course_type=CourseType.RECORDED, is_active=True).update(
        notify_channels=["inbox", "email"]
    )
    _homeroom, ids = submitted_requests(count, channels=(PaymentChannel.WECHAT,))
    return ids


def queries_per_event() -> dict:
    """Queries of one recorded ``submitted`` event: the event row plus the outbox's reads and writes."""
    request = RefundRequest.objects.order_by("pk").first()
    connection.queries_log.clear()  # the capture counts from here; the log keeps 9000 at most
    with transaction.atomic():
        with CaptureQueriesContext(connection) as captured:
            event = refund_event_record(
                request=request,
                kind=RefundEventKind.SUBMITTED,
                actor=None,
                at=timezone.now(),
                amount=request.approved_amount,
            )
        rows = Notification.objects.filter(source_event=event).count()
        transaction.set_rollback(True)
    return {"queries": len(captured.captured_queries), "rows": rows}


def queries_per_delivery(ids: list[int]) -> dict:
    """Queries of the drainer sending these requests' rows in this process (a backlog, as a busy
    worker finds it)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rows = Notification.objects.filter(refund_request__in=ids, status=NotificationStatus.QUEUED).count()
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        results, _more = outbox.notifications_drain()
    return {"rows": rows, "sent": len(results), "queries_per_delivery": len(captured.captured_queries) / len(results)}


def delivered_per_second(ids: list[int], *, log_dir: Path) -> dict:
    queue = f"bench-notifications-{uuid.uuid4().hex[:8]}"
    saved = route_tasks_to(queue)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        **queue_env(queue),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    env.pop("CELERY_BROKER_URL", None)
    queued_rows = Notification.objects.filter(refund_request__in=ids, status=NotificationStatus.QUEUED)
    rows = list(queued_rows.values_list("pk", flat=True))
    keys = list(queued_rows.order_by("dedupe_key").values_list("dedupe_key", flat=True).distinct())
    worker = WorkerProcess(queue=queue, env=env, log_dir=log_dir, consumes=(queues.NOTIFICATIONS,)).start()
    cache.delete(outbox.DRAIN_KEY)
    try:
        start = time.perf_counter()
        # As after each event's commit: the first starts the drainer, the others find it running.
        for key in keys:
            outbox.notifications_hand_over(dedupe_keys=[key])
        handed = len(rows)
        queued = time.perf_counter()
        while Notification.objects.filter(pk__in=rows, status=NotificationStatus.SENT).count() < len(rows):
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"not all sent after 600 s:\n{worker.log()}")
            time.sleep(0.05)
        done = time.perf_counter()
    finally:
        worker.stop()
        from schoolops.celery import app

        app.conf.update(saved)
        purge_queue(queue)
    failed = Notification.objects.filter(pk__in=rows, status=NotificationStatus.FAILED).count()
    return {
        "rows": len(rows),
        "tasks": len(keys),
        "handed": handed,
        "enqueue_s": queued - start,
        "delivered_per_s": len(rows) / (done - start),
        "seconds": done - start,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refunds", type=int, default=300, help="refund requests submitted (default 300)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench_notifications needs PostgreSQL: set DATABASE_URL (the worker process shares the database).")
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    # The rows are written with their events; the hand-over after the commit is left to the run below.
    real_enqueue = outbox.notifications_enqueue
    outbox.notifications_enqueue = lambda **kwargs: 0
    try:
        ids = make_requests(args.refunds)
        per_event = queries_per_event()
        outbox.notifications_enqueue = real_enqueue
        with tempfile.TemporaryDirectory() as tmp:
            run = delivered_per_second(ids, log_dir=Path(tmp))
        outbox.notifications_enqueue = lambda **kwargs: 0
        per_delivery = queries_per_delivery(make_requests(100))
        outbox.notifications_enqueue = real_enqueue
        print(f"Refund requests: {args.refunds}; PostgreSQL {connection.settings_dict['NAME']}; Redis; 1 worker (solo)")
        print()
        print("| measurement | value |")
        print("|---|---|")
        print(
            f"| queries per `submitted` event (event row + outbox, {per_event['rows']} rows) | {per_event['queries']} |"
        )
        print(
            f"| queries per delivery, amortised (the drainer on {per_delivery['rows']} rows) "
            f"| {per_delivery['queries_per_delivery']:.2f} |"
        )
        print(f"| notifications through the outbox (inbox + e-mail), events | {run['rows']}, {run['tasks']} |")
        print(f"| events handed over per second | {run['tasks'] / run['enqueue_s']:.0f} |")
        print(f"| delivered per second, 1 worker process | {run['delivered_per_s']:.1f} |")
        print(f"| failed | {run['failed']} |")
    finally:
        outbox.notifications_enqueue = real_enqueue
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
