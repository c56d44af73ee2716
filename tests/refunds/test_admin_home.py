"""The admin home: today's counts for the person looking, each linked to its list, in fixed queries."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.home import queue_url, staff_home
from refunds.models import ApprovalStep, RefundRequest, StepDecision
from refunds.services import refund_approve, refund_steps_escalate
from schoolops.models import StaffRole
from tests import factories

from .helpers import order_at, submit

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")
# The home by role (analytics.home). Session, user, the user's permissions (2), the staff row; a
# supervisor's queue: its staff lookup, her pending steps, its counts, its first requests, the campus's
# overdue steps.
HOME_QUERIES_STAFF = 10
# Operations: the same first five, then approval settings, templates, alert rules, open alerts.
HOME_QUERIES_HEAD_OFFICE = 9


def _request(student, homeroom, campus, price="1000.00"):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price=price))


def _overdue(request) -> None:
    """Put the request's pending step a day past its deadline."""
    ApprovalStep.objects.filter(request=request, decision=StepDecision.PENDING).update(
        due_at=timezone.now() - datetime.timedelta(days=1)
    )


def _payout_failed(request) -> RefundRequest:
    """Take an approved request through a payout the gateway refused."""
    request = RefundRequest.objects.get(pk=request.pk)
    request.start_payout()
    request.save()
    request.fail_payout()
    request.save()
    return request


@pytest.fixture
def other_campus_world(other_campus, other_campus_homeroom):
    """A request of another campus: overdue, and one whose payout failed. Counted by head office only."""
    student = factories.make_student(campus=other_campus)
    waiting = _request(student, other_campus_homeroom, other_campus)
    _overdue(waiting)
    return waiting


def _approved_small(homeroom, campus):
    """A small request of a new student that the homeroom teacher approves; the automatic check passes it."""
    request = _request(factories.make_student(campus=campus), homeroom, campus, price="200.00")
    return refund_approve(request_id=request.pk, actor=homeroom.user)


# --- The page ---------------------------------------------------------------------------------


def test_the_home_shows_her_queue_with_its_counts_and_links(client, student, homeroom, campus):
    """The home is by role now (analytics.home): the queue's section replaces the "today" cards."""
    _request(student, homeroom, campus)
    client.force_login(homeroom.user)
    response = client.get(HOME)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="home-approver"' in page
    waiting = page[page.index("home-count-waiting") :]
    assert f'href="{queue_url()}"' in waiting[:400].replace("&amp;", "&")
    assert '<span class="home-count-n">1</span>' in waiting[: waiting.index("</li>")]
    assert reverse("admin:schoolops_staff_my_delegate") in page


def _count(user, key: str):
    """The home's count ``key`` for ``user`` (analytics.home)."""
    return next(count for section in staff_home(user=user) for count in section.counts if count.key == key)


def _overdue_list(client, user):
    client.force_login(user)
    return client.get(_count(user, "campus_overdue").url)


def test_the_overdue_link_lists_exactly_the_overdue_steps(client, student, homeroom, campus, campus_head):
    late = _request(student, homeroom, campus)
    _request(student, homeroom, campus)
    _overdue(late)
    assert _count(campus_head.user, "campus_overdue").count == 1
    response = _overdue_list(client, campus_head.user)
    assert response.status_code == 200
    assert [step.request_id for step in response.context["cl"].result_list] == [late.pk]


def test_campus_staff_open_the_overdue_list_of_their_campus(
    client, student, homeroom, campus, supervisor, other_campus_world
):
    late = _request(student, homeroom, campus)
    _overdue(late)
    response = _overdue_list(client, supervisor.user)
    assert response.status_code == 200
    assert [step.request_id for step in response.context["cl"].result_list] == [late.pk]


def test_the_failed_payouts_link_lists_them(client, student, homeroom, campus, finance):
    failed = _payout_failed(_approved_small(homeroom, campus))
    _request(student, homeroom, campus)
    client.force_login(finance.user)
    count = _count(finance.user, "failed")
    assert count.count == 1
    response = client.get(count.url)
    assert response.status_code == 200
    assert [r.pk for r in response.context["cl"].result_list] == [failed.pk]


@pytest.mark.parametrize("role", StaffRole.values)
def test_every_role_opens_the_home(client, campus, role):
    client.force_login(factories.make_staff(role=role, campus=campus).user)
    assert client.get(HOME).status_code == 200


def test_someone_who_is_not_staff_is_sent_to_the_login_page(client, outsider):
    client.force_login(outsider)
    response = client.get(HOME)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# --- Fixed number of queries ------------------------------------------------------------------


def _many(student, homeroom, supervisor, campus, n: int) -> None:
    for _ in range(n):
        request = _request(student, homeroom, campus)
        _overdue(request)
    refund_steps_escalate()
    for _ in range(n):
        _payout_failed(_approved_small(homeroom, campus))


@pytest.mark.parametrize(
    ("who", "queries"), [("supervisor", HOME_QUERIES_STAFF), ("operations", HOME_QUERIES_HEAD_OFFICE)]
)
def test_the_home_page_takes_a_pinned_number_of_queries_whatever_the_data(
    client, student, homeroom, supervisor, operations, campus, who, queries, django_assert_num_queries
):
    user = supervisor.user if who == "supervisor" else operations.user
    client.force_login(user)
    client.get(HOME)  # warm: content types and the like are cached after the first page
    with django_assert_num_queries(queries):
        assert client.get(HOME).status_code == 200
    _many(student, homeroom, supervisor, campus, 5)
    with django_assert_num_queries(queries):
        page = client.get(HOME).content.decode()
    if who == "supervisor":  # the five escalated to her, waiting
        assert '<span class="home-count-n">5</span>' in page
