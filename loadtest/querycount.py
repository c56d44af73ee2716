"""Queries per page, for a user with little data and one with much: a page whose count grows
with her rows is a finding (each row fetching its own). Django's test client, on the load test's
database, before gunicorn starts."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, OuterRef
from django.test import Client
from django.test.utils import CaptureQueriesContext

from orders.models import Order
from refunds.models import RefundRequest, RequestKind
from schoolops.models import User
from students.models import Student


@dataclass
class Measured:
    page: str
    who: str
    rows: str
    queries: int | str
    ms: float = 0.0


def _queries(client: Client, url: str) -> tuple[int | str, float]:
    """(queries, median ms of 5 requests) of ``url``, after one warm-up request."""
    client.get(url)  # warm: caches, translations, the first connection
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    # Now: every request empties the connection's query log (request_started).
    queries = len(captured) if response.status_code == 200 else f"HTTP {response.status_code}"
    times = []
    for _ in range(5):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return queries, statistics.median(times)


def _student_pages(student: Student) -> list[tuple[str, str]]:
    order = Order.objects.filter(student=student).order_by("-paid_at").first()
    request = RefundRequest.objects.filter(student=student, kind=RequestKind.REFUND).order_by("-submitted_at").first()
    assert order is not None and request is not None
    return [
        ("student: home", "/"),
        ("student: order page", f"/orders/{order.order_no}/"),
        ("student: quote", f"/orders/{order.order_no}/estimate/"),
        ("student: request page", f"/refunds/{request.request_no}/"),
        ("student: inbox", "/inbox/"),
        ("student: help", "/help/"),
        ("student: apply page with quote", f"/orders/{order.order_no}/refund/?reason=time_conflict"),
    ]


def _staff_pages(user: User) -> list[tuple[str, str]]:
    client = Client()
    client.force_login(user)
    queue = client.get("/admin/refunds/approvalqueueitem/")
    request_id = next(
        iter(RefundRequest.objects.filter(campus=user.staff.campus).order_by("-pk").values_list("pk", flat=True)), None
    )
    found = re.search(r'href="(/admin/refunds/refundrequest/\d+/change/)', queue.content.decode())
    # The first request of her own queue, else her campus's newest.
    link = found.group(1) if found else f"/admin/refunds/refundrequest/{request_id}/change/"
    return [
        ("staff: approval queue", "/admin/refunds/approvalqueueitem/"),
        ("staff: request decision page", link),
        ("staff: request list", "/admin/refunds/refundrequest/"),
    ]


def page_queries(*, students: list[str], staff: list[str]) -> list[Measured]:
    """Queries and unloaded time (the test client, no server, no other user) of each student page
    for the cast's student with the fewest orders and the school's student
    with the most; each staff page for a homeroom teacher, a supervisor and a campus head."""
    with_requests = Student.objects.filter(
        Exists(RefundRequest.objects.filter(student=OuterRef("pk"), kind=RequestKind.REFUND))
    )
    cast = with_requests.filter(user__phone__in=students).annotate(n=Count("orders")).order_by("n", "pk")
    busiest = with_requests.annotate(
        n=Count("orders", distinct=True), r=Count("refund_requests", distinct=True)
    ).order_by("-n", "-r", "pk")
    measured: list[Measured] = []
    for label, student in (("few orders", cast.first()), ("most orders", busiest.first())):
        assert student is not None
        client = Client()
        client.force_login(student.user)
        rows = (
            f"{Order.objects.filter(student=student).count()} orders, "
            f"{RefundRequest.objects.filter(student=student).count()} requests"
        )
        for page, url in _student_pages(student):
            measured.append(Measured(page, f"student, {label}", rows, *_queries(client, url)))
    for suffix in ("teacher01", "supervisor01", "head"):
        user = User.objects.filter(username__in=staff, username__endswith=suffix).select_related("staff").first()
        if user is None:
            continue
        client = Client()
        client.force_login(user)
        for page, url in _staff_pages(user):
            measured.append(Measured(page, user.username, "", *_queries(client, url)))
    measured.append(Measured("bare view (baseline)", "anonymous", "", *_queries(Client(), "/_bare/")))
    return measured
