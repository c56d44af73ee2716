"""The refund analytics on 100,000 refund requests: the dashboard's time, the facts' upkeep.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_analytics.py [--runs 15] [--requests 100000]``.
Not a test.

Uses the same database as ``bench_admin.py`` (``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/schoolops_bench``; created, migrated and filled once by the
load generator ``refund_load.py``). It then rebuilds the analytics facts from the raw tables
(``analytics_rebuild``) and measures, as an operations user and as a campus head:

- the dashboard selector (``analytics_dashboard``) and the admin page for the last 90 days, by
  each dimension and grain, median and p95 over ``--runs``;
- the refresh one refund event causes (one day of one campus, ``facts_refresh``);
- next to them, a plain ``SELECT COUNT(*)`` of the refund request table on the same data.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/schoolops_bench"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
os.environ["DATABASE_URL"] = BENCH_URL  # before Django reads its settings
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

from _postgres import django_on  # noqa: E402 - bench/ is the script's own directory


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median ms, p95 ms) of ``fn`` over ``runs`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times)
    return statistics.median(times), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed calls per measurement (default 15)")
    parser.add_argument("--requests", type=int, default=100_000, help="requests to generate into an empty database")
    args = parser.parse_args()
    failed = django_on(BENCH_URL)
    if failed is not None:
        return failed

    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from refund_load import generated_school

    from analytics.models import RefundFact, RevenueFact, TierFact
    from analytics.selectors import DIMENSIONS, Filters, analytics_dashboard
    from analytics.services import facts_listener_paused, facts_rebuild, facts_refresh, local_day
    from schoolops.models import User

    with facts_listener_paused():
        first, prefix = generated_school(requests=args.requests, stdout=sys.stdout)
    people = {
        "operations": User.objects.get(username=f"{prefix}-ops"),
        "campus head": User.objects.get(username=f"{prefix}-head"),
    }

    started = time.perf_counter()
    chunks = list(facts_rebuild())
    rebuild_s = time.perf_counter() - started
    written = sum(rows for *_, rows in chunks)
    facts = {model.__name__: model.objects.count() for model in (RefundFact, TierFact, RevenueFact)}

    def count_requests() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM refunds_refundrequest")
            cursor.fetchone()

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM refunds_refundrequest")
        total = cursor.fetchone()[0]
    print(
        f"{connection.vendor} {connection.pg_version // 10000}, {total:,} refund requests; rebuild "
        f"{rebuild_s:.1f} s for {written:,} fact rows ({', '.join(f'{k} {v:,}' for k, v in facts.items())})"
    )

    today = local_day(datetime.datetime.now(datetime.UTC))
    start = today - datetime.timedelta(days=89)
    rows = [("COUNT(*) of refund requests", "", *timed(count_requests, args.runs))]
    for who, user in people.items():
        for dimension in DIMENSIONS:
            filters = Filters(start=start, end=today, grain="day", dimension=dimension)
            rows.append(
                (
                    f"selector, 90 days by {dimension}",
                    who,
                    *timed(lambda f=filters, u=user: analytics_dashboard(user=u, filters=f), args.runs),
                )
            )
        for grain in ("week", "month"):
            filters = Filters(start=today - datetime.timedelta(days=364), end=today, grain=grain, dimension="course")
            rows.append(
                (
                    f"selector, a year by {grain}, course",
                    who,
                    *timed(lambda f=filters, u=user: analytics_dashboard(user=u, filters=f), args.runs),
                )
            )
        client = Client(raise_request_exception=False)
        client.force_login(user)
        for dimension in ("campus", "teacher"):
            url = (
                reverse("admin:analytics_dashboard")
                + "?"
                + urlencode({"period": "last_90_days", "dimension": dimension})
            )
            status = client.get(url).status_code
            name = f"page, 90 days by {dimension}" + ("" if status == 200 else f" (HTTP {status})")
            rows.append((name, who, *timed(lambda c=client, u=url: c.get(u), args.runs)))
    busiest = RefundFact.objects.order_by("-applications").values_list("day", "campus_id").first()
    if busiest is not None:
        day, campus_id = busiest
        rows.append(
            (
                "refresh of one event (a day × campus)",
                "",
                *timed(lambda: facts_refresh(days=[day], campus_ids=[campus_id]), args.runs),
            )
        )

    print()
    print(f"{'measurement':<40} {'user':<12} {'median ms':>9} {'p95 ms':>8}")
    for name, who, median, p95 in rows:
        print(f"{name:<40} {who:<12} {median:>9.1f} {p95:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
