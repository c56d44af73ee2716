"""Payout benchmark: refunds per second from approval to confirmed, with 1 and 2 worker
processes, next to what the gateway simulator does alone.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_payouts.py [--refunds 300] [--approvers 2]``. Needs
PostgreSQL and Redis (``DATABASE_URL`` / ``REDIS_URL``; defaults: the local ones). Works in a
throwaway test database ``test_<name>``. The simulator runs in this process; the approvals come from
``--approvers`` processes at once, as from several web processes; the gateways' callbacks reach the
app under gunicorn (2 workers, production's config), and the Celery workers are processes of their own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/schoolops_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

import django  # noqa: E402

django.setup()

from _cpu import cpu_snapshot, cpu_split, descends_from  # noqa: E402 - bench/ is the script's own directory
from _school import submitted_requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

from gatewaysim.server import GatewaySimulator  # noqa: E402
from orders.models import PaymentChannel  # noqa: E402
from payments.gateways.alipay import AlipayGateway  # noqa: E402
from payments.gateways.base import RefundCall  # noqa: E402
from payments.gateways.wechat import WeChatPayGateway  # noqa: E402
from payments.testing import (  # noqa: E402
    WebProcess,
    WorkerProcess,
    purge_queue,
    queue_env,
    route_tasks_to,
    routed_queues,
    worker_env,
)
from refunds.models import RefundRequest, RefundStatus  # noqa: E402
from refunds.services import refund_approve  # noqa: E402
from schoolops import queues  # noqa: E402


def simulator_alone(sim: GatewaySimulator, count: int, threads: int) -> float:
    """Refund calls per second straight through the adapters (SDK + HTTPS + simulator), no database."""
    gateways = [WeChatPayGateway(), AlipayGateway()]
    per_thread = count // threads

    def run(offset: int) -> None:
        for i in range(per_thread):
            n = offset + i
            gateways[n % 2].refund(
                RefundCall(
                    payout_no=f"SIM{uuid.uuid4().hex[:16].upper()}",
                    order_no=f"SIMORDER{n:08d}",
                    trade_no=f"4200SIM{n:012d}",
                    order_total=Decimal("100.00"),
                    amount=Decimal("1.00"),
                )
            )

    workers = [threading.Thread(target=run, args=(t * per_thread,)) for t in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - start)


def _approve(args: tuple[int, list[int]]) -> None:
    """One approver process's share (a forked child: its own database connection)."""
    actor_id, request_ids = args
    from schoolops.models import User

    actor = User.objects.get(pk=actor_id)
    for request_id in request_ids:
        refund_approve(request_id=request_id, actor=actor)
    connections.close_all()


def approve_all(actor_id: int, ids: list[int], approvers: int) -> float:
    """Approve ``ids`` from ``approvers`` processes at once, as several web processes do; seconds."""
    begin = time.perf_counter()
    connections.close_all()  # the children open their own
    with multiprocessing.get_context("fork").Pool(approvers) as pool:
        pool.map(_approve, [(actor_id, ids[n::approvers]) for n in range(approvers)])
    return time.perf_counter() - begin


def end_to_end(
    sim: GatewaySimulator,
    *,
    workers: int,
    count: int,
    approvers: int,
    log_dir: Path,
    approve_first: bool = False,
) -> dict:
    """Approve ``count`` requests and time until all are refunded. With ``approve_first`` the
    approvals fill the queue before the workers start, and only the draining is timed."""
    homeroom, ids = submitted_requests(count, channels=(PaymentChannel.ALIPAY, PaymentChannel.WECHAT))
    queue = f"bench-payouts-{uuid.uuid4().hex[:8]}"
    saved = route_tasks_to(queue)
    # The gateways' callbacks reach the app under gunicorn, as in production.
    web = WebProcess(log_dir=log_dir)
    env = worker_env(sim=sim, notify_base_url=web.url, **queue_env(queue))
    sim.alipay_notify_url = web.url + "/payments/alipay/notify/"
    web.start(env=env)
    approving = approve_all(homeroom.user_id, ids, approvers) if approve_first else 0.0
    # The payout workers consume the payouts queue only, as in production: the messages, receipts
    # and analytics refreshes the refunds cause wait in their own queues for their own workers.
    started = []
    try:
        started = [
            WorkerProcess(queue=queue, env=env, log_dir=log_dir, consumes=(queues.PAYOUTS,)).start()
            for _ in range(workers)
        ]
        start = time.perf_counter()
        before = cpu_snapshot()
        # A worker ready before the others has started on a filled queue: what it did is not timed.
        already = RefundRequest.objects.filter(pk__in=ids, status=RefundStatus.REFUNDED).count()
        if not approve_first:
            approving = approve_all(homeroom.user_id, ids, approvers)
        approved = start + approving
        while RefundRequest.objects.filter(pk__in=ids, status=RefundStatus.REFUNDED).count() < count:
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"not all refunded after 600 s:\n{started[0].log()}\n{web.log()}")
            time.sleep(0.05)
        done = time.perf_counter()
        spent = cpu_split(before, cpu_snapshot(), _grouping(started, web))
        left = waiting_tasks(queue)
    finally:
        for worker in started:
            worker.stop()
        web.stop()
        from schoolops.celery import app

        app.conf.update(saved)
        purge_queue(queue)
    executed = sim.refunds_executed()
    return {
        "workers": workers,
        "refunds": count,
        "approve_per_s": count / (approved - start),
        "end_to_end_per_s": (count - already) / (done - start),
        "cpu_ms_per_refund": {group: 1000 * seconds / (count - already) for group, seconds in spent.most_common()},
        "seconds": done - start,
        "max_moves_per_number": max(executed.values()) if executed else 0,
        "left": left,
    }


def _grouping(workers: list[WorkerProcess], web: WebProcess):
    """Which part of the run a process is: the payout workers, the web answering the callbacks,
    PostgreSQL, this process (the simulator, the approvals' parent, the polling), Redis."""
    me = os.getpid()
    worker_pids = [worker.process.pid for worker in workers if worker.process is not None]
    web_pid = web.process.pid if web.process is not None else -1

    def group_of(pid: int, command: str, snapshot: dict) -> str | None:
        if any(descends_from(pid, worker, snapshot) for worker in worker_pids):
            return "payout workers"
        if descends_from(pid, web_pid, snapshot):
            return "web (callbacks)"
        if descends_from(pid, me, snapshot):
            return "simulator, approvals, this process"
        if "postgres" in command:
            return "PostgreSQL"
        if "redis" in command:
            return "Redis"
        return None

    return group_of


def waiting_tasks(queue: str) -> dict[str, int]:
    """Tasks waiting in each of the other queues (what the refunds left for their workers)."""
    from schoolops.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        others = (queues.NOTIFICATIONS, queues.DOCUMENTS, queues.DEFAULT)
        return {name: client.llen(key) for name, key in zip(others, routed_queues(queue, others), strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refunds", type=int, default=300, help="refunds per run (default 300)")
    parser.add_argument("--approvers", type=int, default=2, help="processes approving at once (default 2)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench_payouts needs PostgreSQL: set DATABASE_URL (worker processes share the database).")

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sim = GatewaySimulator(Path(tmp) / "sim", port=0).start()
            settings.WECHAT_PAY = sim.wechat_pay_settings()
            settings.ALIPAY = sim.alipay_settings()
            try:
                print(f"Refunds per run: {args.refunds}; PostgreSQL {connection.settings_dict['NAME']}; Redis")
                print()
                print("| measurement | refunds/s |")
                print("|---|---|")
                sim.callbacks_enabled = False  # the simulator alone: no callbacks into our app
                for threads in (1, 2):
                    rate = simulator_alone(sim, args.refunds, threads)
                    print(f"| simulator alone, {threads} caller thread(s) (adapter + SDK + HTTPS) | {rate:,.0f} |")
                sim.reset()
                runs = [(workers, first) for first in (False, True) for workers in (1, 2)]
                for workers, approve_first in runs:
                    result = end_to_end(
                        sim,
                        workers=workers,
                        count=args.refunds,
                        approvers=args.approvers,
                        log_dir=Path(tmp),
                        approve_first=approve_first,
                    )
                    assert result["max_moves_per_number"] == 1, result
                    timed = f"{result['end_to_end_per_s']:,.1f} ({result['seconds']:.1f} s)"
                    left = ", ".join(f"{name} {count / args.refunds:.1f}" for name, count in result["left"].items())
                    print(f"|   tasks per refund left for the other queues ({workers} payout worker(s)) | {left} |")
                    cpu = ", ".join(f"{group} {ms:.1f}" for group, ms in result["cpu_ms_per_refund"].items())
                    print(f"|   CPU ms per refund ({workers} payout worker(s)) | {cpu} |")
                    if approve_first:
                        print(f"| queue drained (approved beforehand), {workers} worker process(es) | {timed} |")
                    else:
                        approvals = f"{result['approve_per_s']:,.0f}"
                        who = f"{args.approvers} processes"
                        print(f"| approvals alone ({who}), with {workers} worker(s) running | {approvals} |")
                        print(f"| end to end, approve → refunded, {workers} worker process(es) | {timed} |")
            finally:
                sim.stop()
    finally:
        os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + old_name
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
