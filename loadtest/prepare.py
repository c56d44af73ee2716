"""The load test's database: created, migrated and filled once, then the cast of each run.

The school is ``bench/refund_load.py``'s (100,000 refund requests and 1,000,000 orders in five
campuses by default; about four minutes on two CPUs, kept for the next run in
``LOADTEST_DATABASE_URL``). Each run then picks its cast from it and writes it to
``var/loadtest/cast.json`` for the locustfile:

- students, each with at least one refund request and at least one order she can still apply
  for (paid by WeChat Pay or Alipay in the last 30 days, no request yet: the apply form asks for no
  bank account); a run's applications use those orders up, so the next run picks again;
- staff: per campus the first four homeroom teachers, the first supervisor and the campus head.

Every member gets the load test's password (hashed as production hashes it, so each log-in costs
what it costs in production).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db.models import Exists, OuterRef
from django.utils import timezone

from orders.models import Order, OrderStatus, PaymentChannel
from refunds.models import RefundRequest, RequestKind
from schoolops.models import Campus, User
from students.models import Student

PASSWORD = "loadtest-password"  # noqa: S105 - generated accounts on the load test's own loopback database
STAFF_PER_CAMPUS = ("teacher01", "teacher02", "teacher03", "teacher04", "supervisor01", "head")
FRESH_DAYS = 30


@dataclass
class StudentPart:
    login: str
    orders: list[str]
    refundable: list[str]
    requests: list[str]


def school_ensured(*, requests: int, orders: int, stdout) -> None:
    """Migrate, then generate the school once (the data stays for the next run)."""
    call_command("migrate", verbosity=0, interactive=False)
    if Campus.objects.filter(code__startswith="load-").exists():
        return
    from bench.refund_load import Command as RefundLoad  # the generator, set up on this database

    stdout.write(f"generating {requests:,} refund requests and {orders:,} orders (once; kept for the next run) ...\n")
    call_command(RefundLoad(), requests=requests, orders=orders, stdout=stdout)


def static_collected() -> None:
    """Production serves the hashed names of the static manifest (WhiteNoise); collect them."""
    call_command("collectstatic", verbosity=0, interactive=False)


def cast_written(*, students: int, path: Path) -> dict:
    """Pick this run's students and staff, give them the password, write them to ``path``."""
    now = timezone.now()
    free = Order.objects.filter(
        status=OrderStatus.PAID,
        channel__in=[PaymentChannel.WECHAT, PaymentChannel.ALIPAY],
        paid_at__gte=now - datetime.timedelta(days=FRESH_DAYS),
        student__user__username__startswith="load",
    ).exclude(Exists(RefundRequest.objects.filter(order=OuterRef("pk"))))
    chosen = list(
        Student.objects.filter(Exists(free.filter(student=OuterRef("pk"))))
        .filter(Exists(RefundRequest.objects.filter(student=OuterRef("pk"), kind=RequestKind.REFUND)))
        .select_related("user")
        .order_by("pk")[:students]
    )
    parts = []
    for student in chosen:
        mine = Order.objects.filter(student=student).order_by("-paid_at")
        parts.append(
            StudentPart(
                login=student.user.phone,
                orders=list(mine.values_list("order_no", flat=True)),
                refundable=list(free.filter(student=student).values_list("order_no", flat=True)),
                requests=list(
                    RefundRequest.objects.filter(student=student, kind=RequestKind.REFUND)
                    .order_by("-submitted_at")
                    .values_list("request_no", flat=True)
                ),
            )
        )
    campuses = Campus.objects.filter(code__startswith="load-").order_by("code")
    staff_names = [f"load{c.code.removeprefix('load-')}-{name}" for c in campuses for name in STAFF_PER_CAMPUS]
    staff = list(User.objects.filter(username__in=staff_names).order_by("username").values_list("username", flat=True))
    hashed = make_password(PASSWORD)
    User.objects.filter(pk__in=[s.user_id for s in chosen]).update(password=hashed)
    User.objects.filter(username__in=staff).update(password=hashed)
    cast = {"password": PASSWORD, "students": [asdict(p) for p in parts], "staff": staff}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cast, ensure_ascii=False, indent=1))
    return cast


def cast_path() -> Path:
    return Path(settings.VAR_DIR) / "loadtest" / "cast.json"
