"""Admin pages on 100,000 refund requests: time and queries of the pages approvers live in.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_admin.py [--runs 15] [--plans]``. Not a test.

The database is ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/schoolops_bench``),
never ``DATABASE_URL``'s: it is created if missing, migrated, filled once by the load generator
``refund_load.py`` (``--requests``, 100,000 by default; a couple of minutes) and kept for the
next run. Logged in (Django's test client) as a homeroom teacher, a teaching supervisor and an
operations user of the generated school, it measures each page's median and p95 time over
``--runs`` requests, its number of queries and how many of them are ``COUNT``s, and then runs
``EXPLAIN ANALYZE`` on the slowest query of the queue and of every filtered list to show whether
PostgreSQL reads them through an index. A page that answers 404 (the queue before it exists) or
fails is reported in the table, and the run goes on.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/schoolops_bench"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
os.environ["DATABASE_URL"] = BENCH_URL  # before Django reads its settings
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

from _postgres import django_on  # noqa: E402 - bench/ is the script's own directory

# "Index Scan using <index> on <table>", "Seq Scan on <table>", "Bitmap Index Scan on <index>".
SCAN = re.compile(
    r"(Parallel Seq Scan|Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan|Bitmap Index Scan)"
    r"(?: Backward)?(?: using (\S+))? on (\S+)"
)
# Django's count of a capped paginator: SELECT COUNT(*) FROM (SELECT ... LIMIT n) subquery
CAPPED_COUNT = re.compile(r"LIMIT \d+\)\s*subquery\s*$")
WATCHED_TABLES = ("refunds_refundrequest", "refunds_approvalstep")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(client, url: str, runs: int):
    """(status, queries, counts, median ms, p95 ms, captured queries) of GET ``url``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    captured = list(context.captured_queries)  # the log is reset by the next request
    status = response.status_code
    if status != 200:
        return status, len(captured), (0, 0), None, None, captured
    client.get(url)  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    counts = [q["sql"] for q in captured if re.search(r"\bCOUNT\(", q["sql"])]
    # Capped: counts at most so many rows (a LIMIT inside), whatever the size of the table.
    counted = (len(counts), sum(1 for q in counts if CAPPED_COUNT.search(q)))
    return status, len(captured), counted, statistics.median(times), percentile(times, 0.95), captured


def explain(query: str) -> tuple[str, list[tuple[str, str, str]]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return plan, SCAN.findall(plan)


def plan_summary(scans: list[tuple[str, str, str]]) -> str:
    """How the plan reads the request and step tables: through which indexes, or by a full scan."""
    parts = []
    for kind, index, table in scans:
        if kind == "Bitmap Index Scan":
            parts.append(f"bitmap {table}")  # "on" names the index here; its heap scan follows
        elif table in WATCHED_TABLES:
            short = table.removeprefix("refunds_")
            if "Seq Scan" in kind:
                parts.append(f"SEQ SCAN {short}")
            elif index:
                parts.append(f"{short} by {index}")
    return "; ".join(dict.fromkeys(parts)) or "no read of the request or step tables"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page and user (default 15)")
    parser.add_argument("--requests", type=int, default=100_000, help="requests to generate into an empty database")
    parser.add_argument("--plans", action="store_true", help="print the full query plans")
    args = parser.parse_args()

    failed = django_on(BENCH_URL)
    if failed is not None:
        return failed

    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from refund_load import generated_school

    from refunds.models import PENDING_STATES, RefundRequest
    from refunds.selectors import refund_queue_for_staff
    from schoolops.models import User

    first, prefix = generated_school(requests=args.requests, stdout=sys.stdout)
    people = {
        "teacher": User.objects.get(username=f"{prefix}-teacher01"),
        "supervisor": User.objects.get(username=f"{prefix}-supervisor01"),
        "operations": User.objects.get(username=f"{prefix}-ops"),
    }
    total = RefundRequest.objects.count()
    queue_size = {who: refund_queue_for_staff(user=user).count() for who, user in people.items()}
    print(
        f"{connection.vendor} {connection.pg_version // 10000}, {total:,} refund requests; "
        f"queues: " + ", ".join(f"{who} {n}" for who, n in queue_size.items())
    )

    sample = refund_queue_for_staff(user=people["teacher"]).select_related("order").first() or (
        RefundRequest.objects.filter(campus=first, status__in=PENDING_STATES).select_related("order").first()
    )
    requests_url = reverse("admin:refunds_refundrequest_changelist")
    try:
        queue_url = reverse("admin:refunds_approvalqueueitem_changelist")
    except NoReverseMatch:
        queue_url = "/admin/refunds/approvalqueueitem/"
    pages = [
        ("admin home", reverse("admin:index")),
        ("queue", queue_url),
        ("request list", requests_url),
        ("request list, page 10", f"{requests_url}?p=10"),
        ("filter status", f"{requests_url}?{urlencode({'status__exact': 'pending_homeroom'})}"),
        ("filter reason", f"{requests_url}?{urlencode({'reason__exact': 'quality'})}"),
        ("search order no", f"{requests_url}?{urlencode({'q': sample.order.order_no})}"),
        ("request page", reverse("admin:refunds_refundrequest_change", args=[sample.pk])),
    ]
    explained = {"admin home", "queue", "request list", "filter status", "filter reason", "search order no"}

    rows, plans = [], []
    for who in ("teacher", "supervisor"):
        # The selector behind the queue and the home's "waiting for me", as the queue's first page asks it.
        queue = refund_queue_for_staff(user=people[who])[:50]
        plan = queue.explain(analyze=True, buffers=True)
        total_ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
        plans.append(("queue selector", who, total_ms, plan_summary(SCAN.findall(plan)), plan))
    for who, user in people.items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        for name, url in pages:
            status, queries, counts, median, p95, captured = measure(client, url, args.runs)
            rows.append((name, who, status, queries, counts, median, p95))
            if status == 200 and name in explained and who != "supervisor":
                slowest = max(captured, key=lambda q: float(q["time"]))
                plan, scans = explain(slowest["sql"])
                plans.append((name, who, float(slowest["time"]) * 1000, plan_summary(scans), plan))

    print()
    print(
        f"{'page':<22} {'user':<11} {'status':>6} {'queries':>7} {'COUNTs':>6} {'capped':>6} "
        f"{'median ms':>9} {'p95 ms':>7}"
    )
    for name, who, status, queries, (counts, capped), median, p95 in rows:
        if status != 200:
            note = "not there yet" if status == 404 else "FAILED"
            print(f"{name:<22} {who:<11} {status:>6} {queries:>7} {note:>31}")
            continue
        print(f"{name:<22} {who:<11} {status:>6} {queries:>7} {counts:>6} {capped:>6} {median:>9.1f} {p95:>7.1f}")

    print()
    print("Query plans (EXPLAIN ANALYZE of each page's slowest query):")
    for name, who, ms, summary, plan in plans:
        print(f"  {name:<18} {who:<11} {ms:7.1f} ms  {summary}")
        if args.plans:
            print("    " + plan.replace("\n", "\n    "))
    failed = [row for row in rows if row[2] not in (200, 404)]
    if failed:
        print(
            f"\n{len(failed)} page(s) failed: "
            + ", ".join(f"{name} as {who} ({status})" for name, who, status, *_ in failed)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
