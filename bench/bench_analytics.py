"""The refund analytics at 100,000 or 1,000,000 refund requests: the dashboard's time, the facts' upkeep.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_analytics.py [--runs 15] [--requests 100000]``, or
at the issue's scale ``BENCH_DATABASE_URL=postgres://…/bench_scale … bench_analytics.py --scale large``
(1,000,000 requests and 5,000,000 orders; the same as ``--requests 1000000 --orders 5000000``).
Not a test.

Works in ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/schoolops_bench``, the
database of ``bench_admin.py``; give the large scale a database of its own), created, migrated and
filled once by the load generator ``refund_load.py`` when it holds no generated campus (the size
options only matter then). It rebuilds the analytics facts from the raw tables
(``analytics_rebuild``; ``--skip-rebuild`` keeps the facts there) and measures, as an operations
user (every campus) and as a campus head, median and p95 over ``--runs`` calls:

- the dashboard selector (``analytics_dashboard``) for the last 90 days and the last year, by
  each dimension and each grain, and narrowed to a course, a teacher, a channel and a reason;
- the admin page itself and its XLSX export (the whole streamed file) for the same views;
- the refresh one refund event causes (one day of one campus, ``facts_refresh``);
- the nightly alert rules (``analytics.alerts.alert_rules_run``) over the last week, once, and
  each active rule's 90-day preview, in a transaction rolled back afterwards so that the next run
  finds the same alerts to raise;
- next to them, a plain ``SELECT COUNT(*)`` of the refund request table on the same data.

A view whose median is above the goal (300 ms) is marked ``MISS``.
"""

from __future__ import annotations

import argparse
import datetime
import os
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
from _timing import timed  # noqa: E402

GOAL_MS = 300.0  # the goal for every dashboard view, median
RULES_GOAL_S = 60.0  # and for one nightly run of the alert rules
SCALES = {"default": (100_000, 0), "large": (1_000_000, 5_000_000)}  # (requests, orders; 0: one per request)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed calls per measurement (default 15)")
    parser.add_argument(
        "--scale", choices=list(SCALES), default="default", help="default: 100,000 requests; large: 1M and 5M orders"
    )
    parser.add_argument("--requests", type=int, help="requests to generate into an empty database (see --scale)")
    parser.add_argument("--orders", type=int, help="orders in all to generate into an empty database (see --scale)")
    parser.add_argument("--skip-rebuild", action="store_true", help="measure on the facts already there")
    parser.add_argument("--only", choices=["selector", "page", "export"], action="append", help="only these views")
    args = parser.parse_args()
    requests, orders = SCALES[args.scale]
    requests = args.requests or requests
    orders = args.orders if args.orders is not None else orders
    only = set(args.only or ["selector", "page", "export"])
    failed = django_on(BENCH_URL)
    if failed is not None:
        return failed

    from django.db import connection, transaction
    from django.db.models import Sum
    from django.test import Client
    from django.urls import reverse
    from refund_load import generated_school

    from analytics.alerts import CATCH_UP_DAYS, alert_rule_preview, alert_rules_run
    from analytics.models import AlertRule, DailyRollup, RefundFact, RevenueFact, TierFact
    from analytics.selectors import DIMENSIONS, GRAINS, Filters, analytics_dashboard
    from analytics.services import facts_listener_paused, facts_rebuild, facts_refresh, local_day
    from orders.models import Order
    from schoolops.models import Staff, User

    with facts_listener_paused():
        first, prefix = generated_school(requests=requests, orders=orders, stdout=sys.stdout)
    people = {
        "operations": User.objects.get(username=f"{prefix}-ops"),
        "campus head": User.objects.get(username=f"{prefix}-head"),
    }

    rebuild = "kept (--skip-rebuild)"
    if not args.skip_rebuild:
        print("rebuilding the facts from the raw tables ...", flush=True)
        started = time.perf_counter()
        written = sum(rows for *_, rows in facts_rebuild())
        rebuild = f"{time.perf_counter() - started:.1f} s for {written:,} fact rows"
        with connection.cursor() as cursor:
            for model in (RefundFact, TierFact, RevenueFact, DailyRollup):  # as autovacuum would, soon
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
    facts = {model.__name__: model.objects.count() for model in (RefundFact, TierFact, RevenueFact, DailyRollup)}

    def count_requests() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM refunds_refundrequest")
            cursor.fetchone()

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM refunds_refundrequest")
        total = cursor.fetchone()[0]
    print(
        f"{connection.vendor} {connection.pg_version // 10000}, {total:,} refund requests, "
        f"{Order.objects.count():,} orders; rebuild {rebuild}; "
        f"{', '.join(f'{k} {v:,}' for k, v in facts.items())}"
    )

    today = local_day(datetime.datetime.now(datetime.UTC))
    periods = {"90 days": today - datetime.timedelta(days=89), "a year": today - datetime.timedelta(days=364)}
    # The busiest course, teacher, channel and reason of the first campus: the narrowed views.
    busiest = (
        RefundFact.objects.filter(campus=first, day__gte=periods["90 days"])
        .values("course_id", "teacher_id", "channel", "reason")
        .order_by("-applications")
        .first()
    ) or {}
    narrowings = {
        "a course": {"course_id": busiest.get("course_id")},
        "a teacher": {"teacher_id": busiest.get("teacher_id")},
        "a channel": {"channel": busiest.get("channel", "wechat")},
        "a reason": {"reason": busiest.get("reason", "other")},
    }
    teacher = Staff.objects.filter(pk=busiest.get("teacher_id")).first()
    assert teacher is None or teacher.campus_id == first.pk

    rows: list[tuple[str, str, float, float]] = [("COUNT(*) of refund requests", "", *timed(count_requests, args.runs))]

    def measure(name: str, who: str, fn: Callable[[], object]) -> None:
        median, p95 = timed(fn, args.runs)
        rows.append((name, who, median, p95))
        print(f"  {name:<52} {who:<12} {median:>8.1f} {p95:>8.1f}", flush=True)

    for who, user in people.items():
        if "selector" in only:
            for period, start in periods.items():
                for grain in GRAINS:
                    for dimension in DIMENSIONS:
                        filters = Filters(start=start, end=today, grain=grain, dimension=dimension)
                        measure(
                            f"selector, {period} by {grain}, {dimension}",
                            who,
                            lambda f=filters, u=user: analytics_dashboard(user=u, filters=f),
                        )
            for narrowed, values in narrowings.items():
                filters = Filters(start=periods["90 days"], end=today, grain="week", dimension="campus", **values)
                measure(
                    f"selector, 90 days by week, narrowed to {narrowed}",
                    who,
                    lambda f=filters, u=user: analytics_dashboard(user=u, filters=f),
                )
        client = Client(raise_request_exception=False)
        client.force_login(user)
        for kind in ("page", "export"):
            if kind not in only:
                continue
            base = reverse("admin:analytics_dashboard" if kind == "page" else "admin:analytics_dashboard_export")
            for period, start in periods.items():
                for grain in GRAINS if kind == "page" else ("week",):
                    for dimension in DIMENSIONS:
                        query = {"grain": grain, "dimension": dimension}
                        if period == "90 days":
                            query["period"] = "last_90_days"
                        else:
                            query.update(period="custom", start=start.isoformat(), end=today.isoformat())
                        url = f"{base}?{urlencode(query)}"
                        response = client.get(url)
                        name = f"{kind}, {period} by {grain}, {dimension}"
                        if response.status_code != 200:
                            name += f" (HTTP {response.status_code})"

                        def fetch(c: Client = client, u: str = url) -> None:
                            answer = c.get(u)
                            if answer.streaming:
                                b"".join(answer.streaming_content)

                        measure(name, who, fetch)

    # The refresh one event causes, on a typical day of the first campus (the median of its days'
    # applications) and on its busiest (the generator's pending requests crowd the last few days).
    days = list(
        RefundFact.objects.filter(campus=first)
        .values("day")
        .annotate(n=Sum("applications"))
        .filter(n__gt=0)
        .order_by("n")
        .values_list("day", "n")
    )
    if days:
        for label, (day, n) in (("a typical day", days[len(days) // 2]), ("the busiest day", days[-1])):
            measure(
                f"refresh of one event ({label}: {n:,} applications)",
                "",
                lambda d=day: facts_refresh(days=[d], campus_ids=[first.pk]),
            )

    # --- the nightly alert rules -------------------------------------------------------------
    # One nightly run (the last week, as after a first install) and each rule's 90-day preview,
    # in a transaction rolled back afterwards (the next run finds the same alerts to raise).
    print("running the alert rules ...", flush=True)
    rules: list[str] = []
    with transaction.atomic():
        AlertRule.objects.update(evaluated_through=None)
        started = time.perf_counter()
        raised = alert_rules_run()
        seconds = time.perf_counter() - started
        mark = "" if seconds <= RULES_GOAL_S else "  MISS"
        rules.append(f"nightly rules (the last {CATCH_UP_DAYS} days): {seconds:.1f} s, {raised} alerts{mark}")
        for rule in AlertRule.objects.filter(is_active=True):
            started = time.perf_counter()
            preview = alert_rule_preview(rule)
            rules.append(
                f"preview of {rule.kind} ({rule.scope}), 90 days: {time.perf_counter() - started:.1f} s, "
                f"{preview.count} occurrences"
            )
        transaction.set_rollback(True)

    print()
    print(f"{'measurement':<52} {'user':<12} {'median ms':>9} {'p95 ms':>8}")
    misses = []
    for name, who, median, p95 in rows:
        view = name.startswith(("selector", "page", "export"))
        mark = "  MISS" if view and median > GOAL_MS else ""
        if mark:
            misses.append(f"{name} ({who})")
        print(f"{name:<52} {who:<12} {median:>9.1f} {p95:>8.1f}{mark}")
    views = [row for row in rows if row[0].startswith(("selector", "page", "export"))]
    if views:
        slowest = max(views, key=lambda row: row[2])
        print(
            f"\n{len(views)} dashboard views; slowest median {slowest[2]:.1f} ms ({slowest[0]}, {slowest[1]}); "
            f"{len(misses)} above {GOAL_MS:.0f} ms" + (": " + "; ".join(misses) if misses else "")
        )
    print("\n".join(rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
