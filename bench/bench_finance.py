"""Finance exports on 1,000,000 ledger rows: CSV and XLSX through ``finance.writers`` next to
PostgreSQL's own ``COPY ... TO STDOUT`` of the same rows.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_finance.py [--rows 1000000] [--skip-build] [--sample N]
[--only csv|xlsx|copy|csv-python|xlsx-python] [--check N]``. Not a test.

The database is ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/fin_bench``), never
``DATABASE_URL``'s: created if missing, migrated, and filled up to ``--rows`` succeeded payouts, each
with its user, student, order, quote (two lines, one the handling fee), refunded request and two
approved steps (homeroom teacher, finance). The school around them (5 campuses, their staff and
courses) comes from the load generator (``refund_load.py --requests 1000``); the payouts and everything
under them are written by ``INSERT ... SELECT generate_series`` in batches of 100,000, and kept for
the next run (a larger ``--rows`` adds the difference).

Each measurement runs in a fresh process, so its peak memory is its own: the growth of the
process's peak RSS (``ru_maxrss``) over what it held after Django's setup and a first query, and
(as ``ru_maxrss`` may stay under a peak the setup reached) the highest resident memory sampled
at each write over the resident memory when the export started.

1. ``csv``: ``ledger_rows`` (as a superuser: every campus) through ``csv_chunks`` to /dev/null, as
   the download view hands it over: on PostgreSQL the database writes the cells (``finance.copy_out``).
2. ``xlsx``: the same through ``xlsx_chunks``.
3. ``copy``: ``COPY (<the ledger's SELECT in SQL, approvers by string_agg>) TO STDOUT WITH CSV
   HEADER`` through psycopg2's ``copy_expert`` to /dev/null: unformatted values, the yardstick.
4. ``csv-python`` / ``xlsx-python`` (on demand): the rows handed to the writers one by one (as the
   export job's row counting hands them today), so formatted in Python, read in keyset chunks.

``--sample N`` measures the ledger of the days paid before the N-th payout's (a little under N
rows) instead of all of it: peak memory should not depend on N. ``--check N`` writes the CSV of
that sample both ways and says whether the bytes are the same.

Printed per measurement: rows, seconds, rows per second, time to the first byte, MB written and
peak RSS growth.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fin_bench"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
os.environ["DATABASE_URL"] = BENCH_URL  # before Django reads its settings
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

from _postgres import ensure_database  # noqa: E402 - bench/ is the script's own directory

BATCH = 100_000
PAYOUT_PREFIX = "FBP"
ADMIN_USERNAME = "fin-bench-admin"
MEASUREMENTS = {
    "csv": "ledger_rows → csv_chunks",
    "xlsx": "ledger_rows → xlsx_chunks",
    "copy": "COPY (SELECT …) TO STDOUT CSV",
    "csv-python": "rows in Python → csv_chunks",
    "xlsx-python": "rows in Python → xlsx_chunks",
}
DEFAULT_MEASUREMENTS = ["csv", "xlsx", "copy"]

# The ledger (finance.selectors.ledger_rows) as one SELECT: approvers by string_agg, the handling
# fee by the same correlated subquery the ORM writes.
LEDGER_SQL = """
SELECT r.request_no, o.order_no, COALESCE(NULLIF(u.name, ''), u.username), c.name, cp.name, p.channel,
       o.gateway_trade_no, p.payout_no, p.gateway_refund_id, o.amount_paid, q.total, r.approved_amount,
       -COALESCE((SELECT SUM(l.amount) FROM refunds_quotesnapshotline l
                  WHERE l.snapshot_id = r.quote_id AND l.kind = 'handling_fee'), 0),
       CASE WHEN p.status = 'succeeded' THEN p.amount END,
       r.submitted_at, r.decided_at,
       CASE WHEN p.status = 'succeeded' THEN p.finished_at END,
       (SELECT string_agg(s.tier || '：' || COALESCE(NULLIF(su.name, ''), su.username, 'auto'), '；'
                          ORDER BY s.decided_at, s.id)
          FROM refunds_approvalstep s
          LEFT JOIN schoolops_staff st ON st.id = s.decided_by_id
          LEFT JOIN schoolops_user su ON su.id = st.user_id
         WHERE s.request_id = r.id AND s.decision = 'approved'),
       p.status
  FROM payments_payout p
  JOIN refunds_refundrequest r ON r.id = p.request_id
  JOIN refunds_quotesnapshot q ON q.id = r.quote_id
  JOIN orders_order o ON o.id = p.order_id
  JOIN orders_course c ON c.id = o.course_id
  JOIN schoolops_campus cp ON cp.id = r.campus_id
  JOIN students_student sd ON sd.id = r.student_id
  JOIN schoolops_user u ON u.id = sd.user_id
 ORDER BY p.created_at, p.id
"""

# One course per row, in turn; its campus's first homeroom teacher and finance clerk decided.
SEED_SQL = """
CREATE TEMP TABLE fb_seed ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY c.id) - 1)::int AS k, c.id AS course_id, c.campus_id, c.price,
       c.lessons, p.id AS policy_id, p.name AS policy_name, p.version AS policy_version,
       (SELECT min(s.id) FROM schoolops_staff s WHERE s.campus_id = c.campus_id AND s.role = 'homeroom') AS teacher_id,
       (SELECT min(s.id) FROM schoolops_staff s WHERE s.campus_id = c.campus_id AND s.role = 'finance') AS finance_id
  FROM orders_course c
  JOIN refunds_refundpolicy p ON p.course_type = c.course_type AND p.is_active AND p.course_id IS NULL
 WHERE c.code LIKE 'load%%';
CREATE TEMP TABLE fb_rows ON COMMIT DROP AS
SELECT g.i, g.i - %(lo)s + 1 AS n, s.*,
       round(s.price * 0.8, 2) AS total, round(s.price * 0.1, 2) AS fee,
       timestamptz '2026-01-01 00:00+08' + g.i * interval '20 seconds' AS t,
       (ARRAY['wechat','wechat','wechat','wechat','wechat','alipay','alipay','alipay','card','offline'])[1 + g.i %% 10]
         AS channel
  FROM generate_series(%(lo)s, %(hi)s) AS g(i)
  JOIN fb_seed s ON s.k = g.i %% (SELECT count(*) FROM fb_seed);
"""

INSERTS = [
    """INSERT INTO schoolops_user (id, password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined, name, phone)
       SELECT %(user)s + n, '!', false, 'fb-s' || i, '', '', 'fb' || i || '@example.com', false, true, t,
              (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周'])[1 + i %% 10]
              || (ARRAY['小明','雨涵','子轩','欣怡','浩然','梓涵','宇航'])[1 + (i / 10) %% 7], NULL
         FROM fb_rows""",
    """INSERT INTO students_student (id, student_no, wechat_openid, created_at, campus_id, user_id, high_risk,
                                     high_risk_note, high_risk_cleared_reason)
       SELECT %(student)s + n, 'FB' || lpad(i::text, 9, '0'), '', t, campus_id, %(user)s + n, false, '', ''
         FROM fb_rows""",
    """INSERT INTO orders_order (id, order_no, amount_paid, paid_at, channel, gateway_trade_no, refunded_total,
                                 status, created_at, course_id, student_id, referral_code, carried_in, credited_total)
       SELECT %(order)s + n, 'FBO' || lpad(i::text, 9, '0'), price, t, channel, '42FB' || lpad(i::text, 16, '0'),
              total, 'partially_refunded', t, course_id, %(student)s + n, '', 0, 0
         FROM fb_rows""",
    """INSERT INTO refunds_quotesnapshot (id, policy_version, policy_name, policy_terms, reason, method, total,
                                          refundable, needs_approver_amount, is_estimate, evidence_required,
                                          quoted_at, day_from_purchase, day_from_start, consumption_basis,
                                          units_consumed, lessons, progress_percent, amount_paid, refunded_before,
                                          in_flight, notify_channels, created_at, order_id, policy_id)
       SELECT %(quote)s + n, policy_version, policy_name, '{}'::jsonb, 'time_conflict', 'rules', total, price,
              false, false, '', t + interval '3 days', 4, 4, 'none', 0, lessons, 0, price, 0, 0,
              '["inbox", "email"]'::jsonb, t + interval '3 days', %(order)s + n, policy_id
         FROM fb_rows""",
    """INSERT INTO refunds_quotesnapshotline (id, position, kind, label, amount, formula, explanation, snapshot_id)
       SELECT %(line)s + 2 * n - 1, 1, 'paid', '实付金额', price, price::text, '', %(quote)s + n FROM fb_rows
       UNION ALL
       SELECT %(line)s + 2 * n, 2, 'handling_fee', '手续费 10%%', -fee, price::text || ' × 10%%', '', %(quote)s + n
         FROM fb_rows""",
    """INSERT INTO refunds_refundrequest (id, request_no, status, reason, details, requested_amount, approved_amount,
                                          amount_confirmed, route, route_position, returned_tier, rejected_tier,
                                          appealed_at, appeal_reason, risk_flags, submitted_at, decided_at, updated_at,
                                          campus_id, order_id, quote_id, student_id, consent_channel, consent_note,
                                          kind, payee_account_no, payee_bank, payee_branch, payee_name)
       SELECT %(request)s + n, 'FBR' || lpad(i::text, 12, '0'), 'refunded', 'time_conflict',
              '上班时间调整，无法继续上课。',
              total, total, false, '["homeroom", "finance"]'::jsonb, 2, '', '', NULL, '', '[]'::jsonb,
              t + interval '3 days', t + interval '4 days', t + interval '5 days', campus_id, %(order)s + n,
              %(quote)s + n, %(student)s + n, '', '', 'refund', '', '', '', ''
         FROM fb_rows""",
    """INSERT INTO refunds_approvalstep (id, tier, decision, delegate_used, comment, created_at, due_at, decided_at,
                                         escalated_at, assignee_id, decided_by_id, escalated_to_id, request_id)
       SELECT %(step)s + 2 * n - 1, 'homeroom', 'approved', false, '', t + interval '3 days',
              t + interval '4 days', t + interval '3 days 2 hours', NULL::timestamptz, teacher_id, teacher_id,
              NULL::bigint, %(request)s + n
         FROM fb_rows
       UNION ALL
       SELECT %(step)s + 2 * n, 'finance', 'approved', false, '', t + interval '3 days 2 hours',
              t + interval '4 days 2 hours', t + interval '4 days', NULL, NULL, finance_id, NULL, %(request)s + n
         FROM fb_rows""",
    """INSERT INTO payments_payout (id, channel, amount, payout_no, status, gateway_refund_id, attempts, lease_until,
                                    error_code, error_message, arrival_kind, arrival_account, arrival_earliest,
                                    arrival_latest, bank_reference, transfer_scan, created_at, sent_at, finished_at,
                                    updated_at, order_id, recorded_by_id, request_id, payee_account_no, payee_bank,
                                    payee_branch, payee_name)
       SELECT %(payout)s + n, channel, total, 'FBP' || lpad(i::text, 12, '0'), 'succeeded',
              '50FB' || lpad(i::text, 24, '0'), 1, NULL, '', '', 'balance', '', (t + interval '5 days')::date,
              (t + interval '5 days')::date, '', '', t + interval '4 days', t + interval '4 days',
              t + interval '5 days', t + interval '5 days', %(order)s + n, NULL, %(request)s + n, '', '', '', ''
         FROM fb_rows""",
]
# Bases of the explicit ids, and how many ids a row takes in each table.
TABLES = {
    "user": ("schoolops_user", 1),
    "student": ("students_student", 1),
    "order": ("orders_order", 1),
    "quote": ("refunds_quotesnapshot", 1),
    "line": ("refunds_quotesnapshotline", 2),
    "request": ("refunds_refundrequest", 1),
    "step": ("refunds_approvalstep", 2),
    "payout": ("payments_payout", 1),
}


def build(rows: int) -> None:
    """Fill the database up to ``rows`` bench payouts (and everything under them), once."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from refund_load import Command as RefundLoad

    from payments.models import Payout
    from schoolops.models import Campus

    if not Campus.objects.filter(code__startswith="load-").exists():
        print("generating the school (5 campuses, staff, courses) ...")
        call_command(RefundLoad(), requests=1000, campuses=5, jobs=1, stdout=open(os.devnull, "w"))  # noqa: SIM115
    user_model = get_user_model()
    if not user_model.objects.filter(username=ADMIN_USERNAME).exists():
        user_model.objects.create_superuser(username=ADMIN_USERNAME, password=None, name="基准财务总监")
    have = Payout.objects.filter(payout_no__startswith=PAYOUT_PREFIX).count()
    if have >= rows:
        print(f"{have:,} bench payouts already there")
        return
    print(f"building payouts {have + 1:,}–{rows:,} by INSERT … SELECT generate_series ...")
    started = time.monotonic()
    for lo in range(have + 1, rows + 1, BATCH):
        hi = min(rows, lo + BATCH - 1)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(SEED_SQL, {"lo": lo, "hi": hi})
            bases = {}
            for key, (table, _per_row) in TABLES.items():
                cursor.execute(f"SELECT COALESCE(max(id), 0) FROM {table}")  # noqa: S608 (our table names)
                bases[key] = cursor.fetchone()[0]
            for statement in INSERTS:
                cursor.execute(statement, bases)
        print(f"  {hi:,} rows, {time.monotonic() - started:.0f} s")
    with connection.cursor() as cursor:
        for table, _per_row in TABLES.values():
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
            cursor.execute(f"ANALYZE {table}")
    print(f"built in {time.monotonic() - started:.0f} s")


def current_rss_kb() -> int:
    """The process's resident memory now (``ru_maxrss`` only ever gives the highest so far)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


class Sink:
    """/dev/null that counts what it is given, notes when the first byte and the first CSV row
    (the second line) came, and samples the resident memory at every write."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.first: float | None = None
        self.first_row: float | None = None
        self.bytes = 0
        self.newlines = 0
        self.rss_kb = current_rss_kb()
        self._null = open(os.devnull, "wb")  # noqa: SIM115

    def write(self, data) -> int:
        self.rss_kb = max(self.rss_kb, current_rss_kb())
        if self.first is None:
            self.first = time.perf_counter() - self.started
        data = data.encode() if isinstance(data, str) else data
        self.bytes += len(data)
        self.newlines += data.count(b"\n")
        if self.first_row is None and self.newlines >= 2:
            self.first_row = time.perf_counter() - self.started
        return self._null.write(data)


def sample_filters(sample: int | None):
    """All the ledger, or the payouts paid on the days before the one the ``sample``-th was paid
    (a little under ``sample`` rows: the same export, on fewer rows)."""
    from django.utils import timezone

    from finance.selectors import DateField, ReportFilters
    from payments.models import Payout

    if not sample:
        return ReportFilters()
    paid = Payout.objects.order_by("finished_at").values_list("finished_at", flat=True)[sample - 1]
    return ReportFilters(date_field=DateField.PAID, date_to=timezone.localdate(paid) - datetime.timedelta(days=1))


def measure(kind: str, sample: int | None) -> dict:
    """One measurement in this (fresh) process; its figures as a dict."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from finance.selectors import LEDGER_COLUMNS, ledger_rows
    from finance.writers import csv_chunks, xlsx_chunks

    filters = sample_filters(sample)
    user = get_user_model().objects.get(username=ADMIN_USERNAME)
    user.has_perm("schoolops.view_all_campuses")  # the permission cache, before the baseline
    [str(column.label) for column in LEDGER_COLUMNS]  # the translation catalogue too
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    current = current_rss_kb()
    started = time.perf_counter()
    sink = Sink(started)
    rows = 0
    if kind == "copy":
        if sample:
            where = "WHERE p.finished_at < %s"
            bound = timezone.make_aware(datetime.datetime.combine(filters.date_to, datetime.time()))
            bound += datetime.timedelta(days=1)
        else:
            where, bound = "", None
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Asia/Shanghai'")
            sql = LEDGER_SQL.replace("\n ORDER BY p.created_at", f"\n {where}\n ORDER BY p.created_at")
            sql = cursor.mogrify(sql, [bound] if bound else None).decode()
            cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH CSV HEADER", sink)
        rows = sink.newlines - 1
    elif kind.endswith("-python"):
        # The rows handed over one by one (as the export job's counting hands them): the writers
        # format them in Python.
        writer = xlsx_chunks if kind.startswith("xlsx") else csv_chunks

        def counted(source):
            nonlocal rows
            for row in source:
                if not rows:
                    sink.first_row = time.perf_counter() - started
                rows += 1
                yield row

        for chunk in writer(LEDGER_COLUMNS, counted(ledger_rows(filters, user=user))):
            sink.write(chunk)
    else:
        # As the download views hand them over: on PostgreSQL the database writes the cells.
        writer = xlsx_chunks if kind == "xlsx" else csv_chunks
        ledger = ledger_rows(filters, user=user)
        for chunk in writer(LEDGER_COLUMNS, ledger):
            sink.write(chunk)
        rows = ledger.count
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "seconds": seconds,
        "first_byte": sink.first,
        "first_row": sink.first_row,
        "bytes": sink.bytes,
        "baseline_kb": baseline,
        "peak_growth_kb": peak - baseline,
        "sampled_growth_kb": sink.rss_kb - current,
    }


def check_same_csv(sample: int) -> bool:
    """The CSV the database writes is the one Python writes, byte for byte, on the first
    ``sample`` rows (compared chunk against chunk, in constant memory)."""
    import hashlib

    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from finance.selectors import LEDGER_COLUMNS, ledger_rows
    from finance.writers import csv_chunks

    filters = sample_filters(sample)
    user = get_user_model().objects.get(username=ADMIN_USERNAME)
    digests = []
    for rows in (ledger_rows(filters, user=user), (row for row in ledger_rows(filters, user=user))):
        digest = hashlib.sha256()
        for chunk in csv_chunks(LEDGER_COLUMNS, rows):
            digest.update(chunk)
        digests.append(digest.hexdigest())
    return digests[0] == digests[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="bench payouts the database should hold")
    parser.add_argument("--skip-build", action="store_true", help="measure what the database holds, build nothing")
    parser.add_argument(
        "--only",
        choices=list(MEASUREMENTS),
        action="append",
        help=f"run only these measurements (repeatable; default {' '.join(DEFAULT_MEASUREMENTS)})",
    )
    parser.add_argument(
        "--sample", type=int, help="measure on the payouts paid on the days before the SAMPLE-th (about SAMPLE rows)"
    )
    parser.add_argument(
        "--check", type=int, metavar="ROWS", help="compare the database's CSV with Python's on ROWS rows, and stop"
    )
    parser.add_argument("--measure", choices=list(MEASUREMENTS), help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(measure(args.measure, args.sample)))
        return 0
    if not BENCH_URL.startswith(("postgres://", "postgresql://")):
        print(f"BENCH_DATABASE_URL must name a PostgreSQL database, not {BENCH_URL}")
        return 1
    if not ensure_database(BENCH_URL):
        return 0

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from payments.models import Payout

    call_command("migrate", verbosity=0, interactive=False)
    if not args.skip_build:
        build(args.rows)
    total = Payout.objects.count()
    print(f"{connection.vendor} {connection.pg_version // 10000}, {total:,} payouts in the ledger")
    connection.close()

    if args.check:
        same = check_same_csv(args.check)
        print(f"CSV on {args.check:,} rows: the database's {'is' if same else 'is NOT'} Python's, byte for byte")
        return 0 if same else 1

    results = []
    sample = ["--sample", str(args.sample)] if args.sample else []
    for kind in args.only or DEFAULT_MEASUREMENTS:
        done = subprocess.run(  # noqa: S603 (this script, by its own path)
            [sys.executable, __file__, "--measure", kind, *sample], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(f"{kind}: FAILED\n{done.stderr[-2000:]}")
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append((kind, result))
        print(f"  {kind}: {result['rows']:,} rows in {result['seconds']:.1f} s", flush=True)

    print()
    head = ("measurement", "rows", "s", "rows/s", "first byte s", "first row s", "MB", "peak RSS +MB", "RSS +MB")
    print(
        f"{head[0]:<36} {head[1]:>10} {head[2]:>7} {head[3]:>9} {head[4]:>12} {head[5]:>11} {head[6]:>7} {head[7]:>12}"
        f" {head[8]:>8}"
    )
    for kind, r in results:
        print(
            f"{MEASUREMENTS[kind]:<36} {r['rows']:>10,} {r['seconds']:>7.1f} {r['rows'] / r['seconds']:>9,.0f} "
            f"{r['first_byte'] or 0:>12.2f} {r['first_row'] or 0:>11.2f} {r['bytes'] / 1e6:>7.1f} "
            f"{r['peak_growth_kb'] / 1024:>12.1f} {r['sampled_growth_kb'] / 1024:>8.1f}"
        )
    print(f"(baseline RSS after Django setup: {results[0][1]['baseline_kb'] / 1024:.0f} MB; peak RSS +MB: the growth")
    print(" of ru_maxrss over it; RSS +MB: the highest resident memory seen at the sink's writes over the")
    print(" resident memory when the export started)")
    copy = dict(results).get("copy")
    if copy:
        ratios = ", ".join(f"{kind} {r['seconds'] / copy['seconds']:.2f}×" for kind, r in results if kind != "copy")
        print(f"time / COPY's: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
