"""Payout benchmark: refunds per second from approval to confirmed, with 1 and 2 worker
processes, next to what the gateway simulator does alone.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_payouts.py [--refunds 300]``. Needs PostgreSQL
and Redis (``DATABASE_URL`` / ``REDIS_URL``; defaults: the local ones). Works in a throwaway test
database ``test_<name>``; the simulator and a callback server run in this process, the Celery
workers as separate processes.
"""

from __future__ import annotations

import argparse
import datetime
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

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from gatewaysim.server import GatewaySimulator  # noqa: E402
from orders.models import Course, CourseType, Order, PaymentChannel  # noqa: E402
from payments.testing import WorkerProcess, purge_queue, route_tasks_to, worker_env  # noqa: E402
from refunds.gateways.alipay import AlipayGateway  # noqa: E402
from refunds.gateways.base import RefundCall  # noqa: E402
from refunds.gateways.wechat import WeChatPayGateway  # noqa: E402
from refunds.models import RefundRequest, RefundStatus  # noqa: E402
from refunds.services import refund_approve, refund_submit  # noqa: E402
from schoolops.models import Campus, Staff, StaffRole, User  # noqa: E402
from students.models import Enrollment, Student  # noqa: E402


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


def make_requests(count: int, *, round_no: int) -> list[int]:
    """``count`` small submitted refund requests, one student each, half WeChat, half Alipay."""
    campus, _ = Campus.objects.get_or_create(code="bench", defaults={"name": "基准校区"})
    homeroom = Staff.objects.filter(campus=campus, role=StaffRole.HOMEROOM).first()
    if homeroom is None:
        user = User.objects.create_user(username="bench-teacher", password=None, name="基准老师", is_staff=True)
        homeroom = Staff.objects.create(user=user, role=StaffRole.HOMEROOM, campus=campus)
    today = timezone.now()
    course = Course.objects.create(
        code=f"bench-{round_no}-{uuid.uuid4().hex[:6]}",
        campus=campus,
        name=f"基准录播课 {round_no}",
        course_type=CourseType.RECORDED,
        price=Decimal("300.00"),
        lessons=30,
        starts_at=today - datetime.timedelta(days=3),
        ends_at=today + datetime.timedelta(days=87),
    )
    ids = []
    for i in range(count):
        n = f"{round_no}{i:06d}"
        user = User.objects.create_user(username=f"bench-student-{n}", password=None, name=f"学生{n}")
        student = Student.objects.create(user=user, campus=campus, student_no=f"BS{n}")
        channel = PaymentChannel.WECHAT if i % 2 else PaymentChannel.ALIPAY
        order = Order.objects.create(
            order_no=f"BO{n}",
            student=student,
            course=course,
            amount_paid=course.price,
            paid_at=today - datetime.timedelta(days=3),
            channel=channel,
            gateway_trade_no=f"42BENCH{n}",
        )
        Enrollment.objects.create(order=order, homeroom_teacher=homeroom)
        request = refund_submit(
            student=student, order_no=order.order_no, reason="time_conflict", details="上班时间调整，无法继续上课。"
        )
        ids.append(request.pk)
    return ids


def end_to_end(
    sim: GatewaySimulator, *, workers: int, count: int, round_no: int, notify_url: str, log_dir: Path
) -> dict:
    ids = make_requests(count, round_no=round_no)
    queue = f"bench-payouts-{uuid.uuid4().hex[:8]}"
    saved = route_tasks_to(queue)
    env = worker_env(sim=sim, notify_base_url=notify_url, CELERY_TASK_DEFAULT_QUEUE=queue)
    started = [WorkerProcess(queue=queue, env=env, log_dir=log_dir).start() for _ in range(workers)]
    homeroom = Staff.objects.get(campus__code="bench", role=StaffRole.HOMEROOM)
    try:
        start = time.perf_counter()
        for request_id in ids:
            refund_approve(request_id=request_id, actor=homeroom.user)
        approved = time.perf_counter()
        while RefundRequest.objects.filter(pk__in=ids, status=RefundStatus.REFUNDED).count() < count:
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"not all refunded after 600 s:\n{started[0].log()}")
            time.sleep(0.05)
        done = time.perf_counter()
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
    }


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
                for round_no, workers in enumerate((1, 2), start=1):
                    result = end_to_end(
                        sim,
                        workers=workers,
                        count=args.refunds,
                        round_no=round_no,
                        notify_url=notify_url,
                        log_dir=Path(tmp),
                    )
                    assert result["max_moves_per_number"] == 1, result
                    approvals = f"{result['approve_per_s']:,.0f}"
                    print(f"| approvals alone (this process), run with {workers} worker(s) | {approvals} |")
                    print(
                        f"| end to end, approve → refunded, {workers} worker process(es) | "
                        f"{result['end_to_end_per_s']:,.1f} ({result['seconds']:.1f} s) |"
                    )
            finally:
                server.shutdown()
                sim.stop()
    finally:
        os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + old_name
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
