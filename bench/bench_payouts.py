"""Payout benchmark: refunds per second from approval to confirmed, with 1 and 2 worker
processes, next to what the gateway simulator does alone.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_payouts.py [--refunds 300]``. Needs PostgreSQL
and Redis (``DATABASE_URL`` / ``REDIS_URL``; defaults: the local ones). Works in a throwaway test
database ``test_<name>``; the simulator and a callback server run in this process, the Celery
workers as separate processes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/schoolops_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")

import django  # noqa: E402

django.setup()

from _school import submitted_requests  # noqa: E402 - bench/ is the script's own directory
from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

from gatewaysim.server import GatewaySimulator  # noqa: E402
from orders.models import PaymentChannel  # noqa: E402
from payments.gateways.alipay import AlipayGateway  # noqa: E402
from payments.gateways.base import RefundCall  # noqa: E402
from payments.gateways.wechat import WeChatPayGateway  # noqa: E402
from payments.testing import WorkerProcess, purge_queue, queue_env, route_tasks_to, routed_queues, worker_env  # noqa: E402
from refunds.models import RefundRequest, RefundStatus  # noqa: E402
from refunds.services import refund_approve  # noqa: E402
from schoolops import queues  # noqa: E402


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - wsgiref's signature
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def callback_server() -> tuple[str, _ThreadingWSGIServer]:
    """Our app on a loopback port, so the simulator's callbacks reach the real endpoints."""
    server = make_server(
        "127.0.0.1", 0, get_wsgi_application(), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


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


def end_to_end(
    sim: GatewaySimulator,
    *,
    workers: int,
    count: int,
    round_no: int,
    notify_url: str,
    log_dir: Path,
    approve_first: bool = False,
) -> dict:
    """Approve ``count`` requests and time until all are refunded. With ``approve_first`` the
    approvals fill the queue before the workers start, and only the draining is timed."""
    homeroom, ids = submitted_requests(count, channels=(PaymentChannel.ALIPAY, PaymentChannel.WECHAT))
    queue = f"bench-payouts-{uuid.uuid4().hex[:8]}"
    saved = route_tasks_to(queue)
    env = worker_env(sim=sim, notify_base_url=notify_url, **queue_env(queue))

    def approve_all() -> float:
        begin = time.perf_counter()
        for request_id in ids:
            refund_approve(request_id=request_id, actor=homeroom.user)
        return time.perf_counter() - begin

    approving = approve_all() if approve_first else 0.0
    # The payout workers consume the payouts queue only, as in production: the messages, receipts
    # and analytics refreshes the refunds cause wait in their own queues for their own workers.
    started = [
        WorkerProcess(queue=queue, env=env, log_dir=log_dir, consumes=(queues.PAYOUTS,)).start() for _ in range(workers)
    ]
    try:
        start = time.perf_counter()
        if not approve_first:
            approving = approve_all()
        approved = start + approving
        while RefundRequest.objects.filter(pk__in=ids, status=RefundStatus.REFUNDED).count() < count:
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"not all refunded after 600 s:\n{started[0].log()}")
            time.sleep(0.05)
        done = time.perf_counter()
        left = waiting_tasks(queue)
    finally:
        for worker in started:
            worker.stop()
        from schoolops.celery import app

        app.conf.update(saved)
        purge_queue(queue)
    executed = sim.refunds_executed()
    return {
        "workers": workers,
        "refunds": count,
        "approve_per_s": count / (approved - start),
        "end_to_end_per_s": count / (done - start),
        "seconds": done - start,
        "max_moves_per_number": max(executed.values()) if executed else 0,
        "left": left,
    }


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
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("bench_payouts needs PostgreSQL: set DATABASE_URL (worker processes share the database).")

    # The callback server answers each request on a thread of its own: no connection may outlive it.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sim = GatewaySimulator(Path(tmp) / "sim", port=0).start()
            settings.WECHAT_PAY = sim.wechat_pay_settings()
            settings.ALIPAY = sim.alipay_settings()
            notify_url, server = callback_server()
            settings.PAYMENTS_NOTIFY_BASE_URL = notify_url
            sim.alipay_notify_url = notify_url + "/payments/alipay/notify/"
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
                sim.alipay_notify_url = notify_url + "/payments/alipay/notify/"
                runs = [(workers, first) for first in (False, True) for workers in (1, 2)]
                for round_no, (workers, approve_first) in enumerate(runs, start=1):
                    result = end_to_end(
                        sim,
                        workers=workers,
                        count=args.refunds,
                        round_no=round_no,
                        notify_url=notify_url,
                        log_dir=Path(tmp),
                        approve_first=approve_first,
                    )
                    assert result["max_moves_per_number"] == 1, result
                    timed = f"{result['end_to_end_per_s']:,.1f} ({result['seconds']:.1f} s)"
                    left = ", ".join(f"{name} {count / args.refunds:.1f}" for name, count in result["left"].items())
                    print(f"|   tasks per refund left for the other queues ({workers} payout worker(s)) | {left} |")
                    if approve_first:
                        print(f"| queue drained (approved beforehand), {workers} worker process(es) | {timed} |")
                    else:
                        approvals = f"{result['approve_per_s']:,.0f}"
                        print(f"| approvals alone (this process), with {workers} worker(s) running | {approvals} |")
                        print(f"| end to end, approve → refunded, {workers} worker process(es) | {timed} |")
            finally:
                server.shutdown()
                sim.stop()
    finally:
        os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + old_name
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
