"""``make loadtest``: 200 students and 30 staff against gunicorn (4 workers) on 100,000 refund
requests and 1,000,000 orders, next to a bare Django view; prints per page p50/p95/p99, the ratio
to the bare view's, errors and queries per page.

``PYTHONPATH=. .venv/bin/python loadtest/run.py [--run-time 5m] [--max-requests 40000]``

1. ``LOADTEST_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/schoolops_load``, never
   ``DATABASE_URL``) is created, migrated and filled once (``loadtest/prepare.py``); the cast is
   picked and the static manifest collected.
2. Queries per page with Django's test client (``loadtest/querycount.py``).
3. gunicorn with production's config (``deploy/gunicorn.conf.py``), 4 workers on a free loopback
   port, the load test's settings (``loadtest/settings.py``: production's, DEBUG off).
4. locust, headless, bounded by ``--run-time`` and ``--max-requests``; its CSV stats in
   ``var/loadtest/``. Students and staff read each page 10–30 s (``--think``) before the next: about
   11 requests a second from the 230 of them, 9 more from the bare view's 10 users (0.5–1.5 s). On
   two shared CPUs that already queues at times in gunicorn's backlog (the bare view's p95 ~200 ms);
   at 5–15 s every page, the bare view too, waited seconds there.
5. gunicorn stopped; the table over the requests made once everybody had logged in (log-ins
   hash the password as production does, about a second of CPU each, and would swamp the start).

Exit status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "loadtest.settings"

BIN = Path(sys.executable).parent
STUDENT_P95_TIMES_BARE = 3.0
QUEUE_P50_MS = 60.0
QUEUE = "staff: approval queue"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="refund requests generated once (100000)")
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders generated once (1000000)")
    parser.add_argument("--students", type=int, default=200, help="simulated students (200)")
    parser.add_argument("--staff", type=int, default=30, help="simulated staff, at most 6 per campus (30)")
    parser.add_argument("--bare-users", type=int, default=10, help="users requesting the bare view (10)")
    parser.add_argument("--spawn-rate", type=float, default=4, help="users started per second (4)")
    parser.add_argument("--run-time", default="5m", help="locust's --run-time, log-ins included (5m)")
    parser.add_argument("--max-requests", type=int, default=40_000, help="stop after this many requests (40000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument(
        "--think", default="10-30", help="seconds a student or member of staff reads a page before the next (10-30)"
    )
    parser.add_argument("--skip-querycount", action="store_true", help="do not count queries per page first")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from bench._postgres import ensure_database
    from loadtest import prepare, querycount

    out = Path(settings.VAR_DIR) / "loadtest"
    out.mkdir(parents=True, exist_ok=True)
    if not ensure_database(settings.LOADTEST_DATABASE_URL):
        print("error: no PostgreSQL server for LOADTEST_DATABASE_URL", file=sys.stderr)
        return 2
    started = time.monotonic()
    prepare.school_ensured(requests=args.requests, orders=args.orders, stdout=sys.stdout)
    prepare.static_collected()
    cast = prepare.cast_written(students=args.students, path=out / "cast.json")
    cast["staff"] = cast["staff"][: args.staff]
    (out / "cast.json").write_text(json.dumps(cast, ensure_ascii=False, indent=1))
    print(
        f"database ready ({time.monotonic() - started:.0f} s): {len(cast['students'])} students, "
        f"{len(cast['staff'])} staff, {sum(len(s['refundable']) for s in cast['students'])} orders to apply for"
    )
    if not args.skip_querycount:
        print_queries(querycount.page_queries(students=[s["login"] for s in cast["students"]], staff=cast["staff"]))
    from django.db import connections

    connections.close_all()
    redis_flushed(settings.REDIS_URL)

    port = free_port()
    host = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "loadtest.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # one key for every worker
        "PYTHONPATH": str(ROOT),
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    env.pop("DATABASE_URL", None)
    log = (out / "gunicorn.log").open("w")
    gunicorn = subprocess.Popen(  # noqa: S603 - our own virtualenv's gunicorn
        [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "schoolops.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_up(f"{host}/healthz", gunicorn)
        print(f"gunicorn: {args.workers} workers on {host} (log: {out / 'gunicorn.log'})")
        samples_path = out / "samples.json"
        samples_path.unlink(missing_ok=True)
        users = len(cast["students"]) + len(cast["staff"]) + args.bare_users
        locust = [
            str(BIN / "locust"),
            "-f",
            str(ROOT / "loadtest" / "locustfile.py"),
            "--headless",
            "--host",
            host,
            "--users",
            str(users),
            "--spawn-rate",
            str(args.spawn_rate),
            "--run-time",
            args.run_time,
            "--stop-timeout",
            "20",
            "--csv",
            str(out / "locust"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        print(f"locust: {users} users, {args.run_time} at most, {args.max_requests:,} requests at most ...")
        subprocess.run(  # noqa: S603
            locust,
            cwd=ROOT,
            check=False,
            stdout=(out / "locust.log").open("w"),
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "LOADTEST_CAST": str(out / "cast.json"),
                "LOADTEST_SAMPLES": str(samples_path),
                "LOADTEST_MAX_REQUESTS": str(args.max_requests),
                "LOADTEST_BARE_USERS": str(args.bare_users),
                "LOADTEST_THINK_MIN": args.think.split("-")[0],
                "LOADTEST_THINK_MAX": args.think.split("-")[-1],
            },
        )
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(timeout=40)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
        redis_flushed(settings.REDIS_URL)
    if not samples_path.exists():
        print(f"error: locust wrote no samples; see {out / 'locust.log'}", file=sys.stderr)
        return 1
    return report(json.loads(samples_path.read_text()), out)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see var/loadtest/gunicorn.log")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer {url} within {timeout:.0f} s")


def redis_flushed(url: str) -> None:
    """The load test's Redis database holds only its cache and the tasks its requests queued
    (no worker consumes them): emptied before and after a run."""
    import redis

    redis.Redis.from_url(url).flushdb()


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def print_queries(measured) -> None:
    print(
        "\nQueries per page and its time alone (Django's test client, no server, no load: median of 5), for little"
        " and much data; flat = the same number of queries:"
    )
    width = max(len(m.page) for m in measured)
    by_page: dict[str, list] = defaultdict(list)
    for m in measured:
        by_page[m.page].append(m)
    for page, rows in by_page.items():
        counts = " / ".join(f"{m.queries} q, {m.ms:.0f} ms ({m.who}{', ' + m.rows if m.rows else ''})" for m in rows)
        numbers = {m.queries for m in rows}
        verdict = "flat" if len(numbers) == 1 else "DIFFERS"
        print(f"  {page:<{width}}  {verdict:<7}  {counts}")
    print()


def report(data: dict, out: Path) -> int:
    measure_from = data["measure_from"]
    samples = data["samples"]
    if measure_from is None:
        print("warning: not every user logged in; the table covers the whole run")
        measure_from = 0
    times: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    first = min((s[1] for s in samples), default=0)
    last = max((s[1] for s in samples), default=0)
    for name, at, ms, error in samples:
        if error:
            errors[name].append(error)
        if at >= measure_from:
            times[name].append(ms)
    bare = sorted(times.get("bare view (baseline)", [])) or [1.0]
    base = {q: percentile(bare, q) for q in (0.5, 0.95, 0.99)}
    seconds = last - max(measure_from, first)
    print(
        f"\n{len(samples):,} requests in {last - first:.0f} s; measured: those started after every log-in "
        f"({sum(len(v) for v in times.values()):,} in {seconds:.0f} s, "
        f"{sum(len(v) for v in times.values()) / max(seconds, 1):.1f}/s). Times in ms; "
        "× = the bare view's same percentile."
    )
    names = sorted(times, key=lambda n: (n.startswith("bare"), n.split(":")[0], n))
    width = max(len(n) for n in [*names, "page"])
    columns = ("n", "err", "p50", "p95", "p99", "p50 ×", "p95 ×", "p99 ×")
    header = f"{'page':<{width}}  " + "  ".join(f"{c:>{4 if c == 'err' else 6}}" for c in columns)
    print(header)
    print("-" * len(header))
    for name in names:
        ordered = sorted(times[name])
        p = {q: percentile(ordered, q) for q in (0.5, 0.95, 0.99)}
        ratios = "  ".join(f"{p[q] / base[q]:>6.1f}" for q in (0.5, 0.95, 0.99))
        print(
            f"{name:<{width}}  {len(ordered):>6}  {len(errors.get(name, [])):>4}  "
            f"{p[0.5]:>6.0f}  {p[0.95]:>6.0f}  {p[0.99]:>6.0f}  {ratios}"
        )
    print()
    failed = sum(len(v) for v in errors.values())
    student_misses = [
        n
        for n in names
        if n.startswith("student:") and percentile(sorted(times[n]), 0.95) > STUDENT_P95_TIMES_BARE * base[0.95]
    ]
    queue = sorted(times.get(QUEUE, [])) or [float("inf")]
    print("Goals:")
    print(
        f"  student pages p95 ≤ {STUDENT_P95_TIMES_BARE:.0f}× the bare view's "
        f"({STUDENT_P95_TIMES_BARE * base[0.95]:.0f} ms): "
        + ("met" if not student_misses else "MISSED by " + ", ".join(student_misses))
    )
    queue_p50 = percentile(queue, 0.5)
    print(
        f"  approval queue p50 ≤ {QUEUE_P50_MS:.0f} ms: {queue_p50:.0f} ms, "
        + ("met" if queue_p50 <= QUEUE_P50_MS else "MISSED")
    )
    print(f"  no errors: {'met' if not failed else f'MISSED, {failed} failed'}")
    for name, messages in errors.items():
        print(f"    {name}: {len(messages)} × {messages[0]}")
    print(f"locust's own CSV stats (the whole run): {out / 'locust_stats.csv'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
