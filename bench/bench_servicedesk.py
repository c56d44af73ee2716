"""The service desk at a school's scale: the escalation beat, opening a ticket, the help center's
search, the ticket admin, and the dashboard's desk metrics.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_servicedesk.py [--tickets 50000] [--runs 15]``.
Not a test.

Works in ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/schoolops_bench_desk``),
created and migrated on first use and filled once with ``--tickets`` tickets of one campus over
the last 180 days (bulk rows: 85% resolved or archived, 10% open and answered, 5% open and past
their reply deadline; a rating for half the resolved ones) and 500 help articles beside the ten
shipped. It measures, median and p95 over ``--runs`` calls:

- the escalation beat (``tickets_escalate``): the first run, which escalates every late ticket at
  every level it reached (in a transaction rolled back afterwards, so each run finds the same
  work), and a run with nothing new to do (the cost every 5 minutes once caught up);
- ``ticket_open`` (the clock, the owner, the student's and the owner's messages), rolled back;
- the help center's search (jieba and PostgreSQL's ranking) for ten students' questions;
- the ticket list and one ticket's page in the admin, as customer service;
- the dashboard's desk metrics for the last 90 days (``desk_metrics``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/schoolops_bench_desk"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
os.environ["DATABASE_URL"] = BENCH_URL  # before Django reads its settings
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

from _postgres import django_on  # noqa: E402 - bench/ is the script's own directory
from _timing import timed  # noqa: E402

CAMPUS = "bench-desk"
QUESTIONS = [
    "退款多久到账",
    "回放打不开怎么办",
    "怎么开发票",
    "想换到下一期的班",
    "老师不回消息",
    "课程过期了还能看吗",
    "退费金额怎么算的",
    "手机号换了怎么登录",
    "申请被驳回了",
    "直播课卡顿",
]


class Rollback(Exception):
    """Raised to undo what a measured call wrote."""


def rolled_back(fn: Callable[[], object]) -> Callable[[], object]:
    from django.db import transaction

    def run() -> object:
        result = None
        try:
            with transaction.atomic():
                result = fn()
                raise Rollback
        except Rollback:
            pass
        return result

    return run


def fill(count: int) -> None:
    """One campus, its staff, ``count`` students and tickets, ratings and 500 articles (once)."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from schoolops.models import Campus, Staff, StaffRole, User
    from servicedesk.helpcenter import help_article_index
    from servicedesk.models import HelpArticle, HelpSection, Rating, Ticket, TicketCategory, TicketStatus
    from students.models import Student

    campus, created = Campus.objects.get_or_create(code=CAMPUS, defaults={"name": "压测校区"})
    if not created and Ticket.objects.filter(campus=campus).count() >= count:
        return
    started = time.perf_counter()
    password = make_password("bench-desk")

    def staff(username: str, role: str, manager: Staff | None = None) -> Staff:
        user, _ = User.objects.get_or_create(username=username, defaults={"name": username, "password": password})
        found = Staff.objects.filter(user=user).first()
        return found or Staff.objects.create(user=user, role=role, campus=campus, manager=manager)

    head = staff("desk-head", StaffRole.CAMPUS_HEAD)
    supervisor = staff("desk-supervisor", StaffRole.SUPERVISOR, head)
    agents = [staff(f"desk-agent{n}", StaffRole.SERVICE, supervisor) for n in range(8)]
    rng = random.Random(2026)
    users = User.objects.bulk_create(
        User(username=f"desk-student{n}", name=f"学员{n}", password=password) for n in range(count // 5)
    )
    students = Student.objects.bulk_create(
        Student(user=user, student_no=f"DESK{n:07d}", campus=campus) for n, user in enumerate(users)
    )
    now = timezone.now()
    categories = list(TicketCategory.values)
    rows = []
    for n in range(count):
        at = now - datetime.timedelta(minutes=rng.randint(30, 180 * 24 * 60))
        roll = rng.random()
        ticket = Ticket(
            ticket_no=f"TKB{n:013d}",
            student=students[n % len(students)],
            campus=campus,
            category=rng.choice(categories),
            subject="压测工单",
            description="压测",
            owner=agents[n % len(agents)],
            contacted_at=at,
            created_at=at,
            first_response_at=at + datetime.timedelta(minutes=40),
            first_response_seconds=rng.randint(60, 6 * 3600),
            resolution_due_at=at + datetime.timedelta(days=4),
            resolution_warn_at=at + datetime.timedelta(days=3),
        )
        if roll < 0.85:
            ticket.status = TicketStatus.RESOLVED if roll < 0.45 else TicketStatus.ARCHIVED
            ticket.solution_kind, ticket.solution = "answer", "已答复"
            ticket.root_cause = "other"
            ticket.resolved_at = at + datetime.timedelta(hours=rng.randint(1, 96))
            ticket.resolution_seconds = rng.randint(3600, 48 * 3600)
        elif roll < 0.95:
            ticket.status = TicketStatus.OPEN
            ticket.resolution_due_at = now + datetime.timedelta(days=3)
            ticket.resolution_warn_at = ticket.next_escalation_at = now + datetime.timedelta(days=2)
        else:  # late: nobody answered
            ticket.status = TicketStatus.OPEN
            ticket.first_response_at = ticket.first_response_seconds = None
            ticket.awaiting_reply_since = now - datetime.timedelta(hours=6)
            ticket.response_warn_at = now - datetime.timedelta(hours=3)
            ticket.response_due_at = now - datetime.timedelta(hours=2)
            ticket.resolution_due_at = now + datetime.timedelta(days=2)
            ticket.resolution_warn_at = now + datetime.timedelta(days=1)
            ticket.next_escalation_at = ticket.response_warn_at
        rows.append(ticket)
    tickets = Ticket.objects.bulk_create(rows, batch_size=2000)
    Rating.objects.bulk_create(
        (
            Rating(
                student=t.student,
                campus=campus,
                staff=t.owner,
                subject="ticket",
                ticket=t,
                score=rng.randint(1, 5),
                created_at=t.resolved_at or now,
                updated_at=t.resolved_at or now,
            )
            for t in tickets[::2]
            if t.status != TicketStatus.OPEN
        ),
        batch_size=2000,
    )
    articles = []
    sections = list(HelpSection.values)
    for n in range(500):
        article = HelpArticle(
            title=f"常见问题第{n}条：{rng.choice(QUESTIONS)}？",
            section=sections[n % len(sections)],
            body="请在个人中心查看课程、订单和退费进度，如有疑问可联系客服。" * 3,
            position=n + 20,
        )
        help_article_index(article)
        articles.append(article)
    HelpArticle.objects.bulk_create(articles)
    print(f"filled {count} tickets in {time.perf_counter() - started:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    stop = django_on(BENCH_URL)
    if stop is not None:
        return stop
    fill(args.tickets)

    from django.conf import settings

    # The caught-up run commits its messages; with eager tasks (DEBUG) they are delivered at once:
    # to memory, not to the console.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from schoolops.models import Campus, Staff
    from servicedesk.helpcenter import help_articles_search
    from servicedesk.metrics import desk_metrics
    from servicedesk.models import Ticket, TicketStatus
    from servicedesk.services import ticket_open, tickets_escalate

    campus = Campus.objects.get(code=CAMPUS)
    tickets = Ticket.objects.filter(campus=campus)
    late = tickets.filter(status=TicketStatus.OPEN, first_response_at__isnull=True).count()
    print(f"{tickets.count()} tickets, {late} past their reply deadline, PostgreSQL")
    results: list[tuple[str, float, float]] = []

    def measure(label: str, fn: Callable[[], object], runs: int = args.runs) -> None:
        median, p95 = timed(fn, runs)
        results.append((label, median, p95))
        print(f"  {label:<58} median {median:9.1f} ms   p95 {p95:9.1f} ms", flush=True)

    first = rolled_back(tickets_escalate)
    escalated = first()
    measure(f"escalation beat, first run ({escalated} escalations)", first, runs=max(3, args.runs // 5))
    tickets_escalate()  # caught up: every late ticket escalated at the levels it reached
    measure("escalation beat, nothing new (every 5 minutes)", tickets_escalate)

    student = tickets.first().student
    measure(
        "ticket_open (clock, owner, messages)",
        rolled_back(lambda: ticket_open(student=student, category="question", subject="压测", description="压测提问")),
    )
    queries = iter(QUESTIONS * (args.runs + 2))
    measure("help center search (jieba + PostgreSQL ranking)", lambda: help_articles_search(next(queries)))

    agent = Staff.objects.filter(campus=campus, role="service").select_related("user").first()
    client = Client()
    client.force_login(agent.user)
    list_url = reverse("admin:servicedesk_ticket_changelist")
    page_url = reverse("admin:servicedesk_ticket_change", args=[tickets.order_by("-pk").first().pk])
    for url in (list_url, page_url):
        assert client.get(url).status_code == 200, url
    measure("admin: ticket list (active tickets, campus)", lambda: client.get(list_url))
    measure("admin: ticket page", lambda: client.get(page_url))
    today = timezone.localdate()
    measure(
        "dashboard desk metrics, last 90 days",
        lambda: desk_metrics(start=today - datetime.timedelta(days=89), end=today, campus_ids=[campus.pk]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
