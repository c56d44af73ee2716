"""The admin home: today's counts for the person looking, each linked to its list, in fixed queries."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from refunds.dashboard import admin_home_cards, admin_home_counts, queue_url
from refunds.models import ApprovalStep, RefundRequest, RefundStatus, StepDecision
from refunds.services import refund_approve, refund_steps_escalate
from schoolops.models import StaffRole
from tests import factories

from .helpers import order_at, submit

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")
# The home by role (analytics.home). Session, user, the user's permissions (2), the staff row; a
# supervisor's queue: its staff lookup, its counts, its first requests, the campus's overdue steps.
HOME_QUERIES_STAFF = 9
# Operations: the same first five, then approval settings, templates, alert rules, open alerts.
HOME_QUERIES_HEAD_OFFICE = 9
COUNTS_QUERIES = 5  # with the user's permissions already cached, as on the home page


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


def _fresh(user):
    """The user as a request loads it, with its permissions cached as the home page has them."""
    user = type(user).objects.get(pk=user.pk)
    user.get_all_permissions()
    return user


# --- The counts -------------------------------------------------------------------------------


def test_a_teacher_counts_her_queue_the_campus_overdue_steps_and_failed_payouts(
    student, homeroom, campus, other_campus_world
):
    mine = [_request(student, homeroom, campus) for _ in range(3)]
    _overdue(mine[0])
    _payout_failed(_approved_small(homeroom, campus))
    counts = admin_home_counts(user=homeroom.user)
    assert (counts.waiting, counts.escalated, counts.overdue, counts.payouts_failed) == (3, 0, 1, 1)


def test_escalated_steps_count_for_the_person_they_went_to(student, homeroom, supervisor, campus):
    request = _request(student, homeroom, campus)
    _overdue(request)
    refund_steps_escalate()
    teacher, boss = admin_home_counts(user=homeroom.user), admin_home_counts(user=supervisor.user)
    assert (teacher.waiting, teacher.escalated) == (1, 1)  # still hers to decide, and late
    assert (boss.waiting, boss.escalated) == (1, 1)
    assert boss.overdue == 1


def test_a_delegate_counts_the_absent_colleagues_queue(student, homeroom, campus):
    from schoolops.services import staff_delegate_set

    stand_in = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus)
    _request(student, homeroom, campus)
    today = timezone.localdate()
    staff_delegate_set(staff=homeroom, delegate=stand_in, date_from=today, date_until=today)
    assert admin_home_counts(user=stand_in.user).waiting == 1


def test_head_office_counts_every_campus_but_has_no_queue(student, homeroom, campus, operations, other_campus_world):
    _overdue(_request(student, homeroom, campus))
    _payout_failed(_approved_small(homeroom, campus))
    counts = admin_home_counts(user=operations.user)
    assert (counts.waiting, counts.escalated, counts.overdue, counts.payouts_failed) == (0, 0, 2, 1)


def test_another_campus_counts_nothing_of_this_one(student, homeroom, campus, other_campus_homeroom):
    _overdue(_request(student, homeroom, campus))
    _payout_failed(_approved_small(homeroom, campus))
    counts = admin_home_counts(user=other_campus_homeroom.user)
    assert (counts.waiting, counts.escalated, counts.overdue, counts.payouts_failed) == (0, 0, 0, 0)


def test_someone_without_a_staff_row_counts_nothing_of_any_campus(student, homeroom, campus):
    _overdue(_request(student, homeroom, campus))
    user = factories.make_user(is_staff=True)
    counts = admin_home_counts(user=user)
    assert (counts.waiting, counts.escalated, counts.overdue, counts.payouts_failed) == (0, 0, 0, 0)


def test_a_decided_step_is_no_longer_overdue(student, homeroom, supervisor, campus):
    request = _request(student, homeroom, campus)
    _overdue(request)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    assert admin_home_counts(user=supervisor.user).overdue == 0


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


def test_each_card_links_to_the_list_of_what_it_counts(homeroom):
    now = timezone.now()
    cards = {card.key: card for card in admin_home_cards(user=homeroom.user, now=now)}
    assert cards["waiting"].url == cards["escalated"].url == queue_url()
    overdue = urlsplit(cards["overdue"].url)
    assert overdue.path == reverse("admin:refunds_approvalstep_changelist")
    assert parse_qs(overdue.query)["decision__exact"] == [StepDecision.PENDING]
    failed = urlsplit(cards["payouts_failed"].url)
    assert failed.path == reverse("admin:refunds_refundrequest_changelist")
    assert parse_qs(failed.query) == {"status__exact": [RefundStatus.PAYOUT_FAILED]}


def _overdue_list(client, user):
    client.force_login(user)
    cards = {card.key: card for card in admin_home_cards(user=user)}
    return client.get(cards["overdue"].url)


def test_the_overdue_link_lists_exactly_the_overdue_steps(client, student, homeroom, campus, operations):
    late = _request(student, homeroom, campus)
    _request(student, homeroom, campus)
    _overdue(late)
    response = _overdue_list(client, operations.user)
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
    cards = {card.key: card for card in admin_home_cards(user=finance.user)}
    response = client.get(cards["payouts_failed"].url)
    assert response.status_code == 200
    assert [r.pk for r in response.context["cl"].result_list] == [failed.pk]


def test_the_queue_link_falls_back_to_the_waiting_requests_until_the_queue_exists(monkeypatch, client, homeroom):
    from django.urls import NoReverseMatch

    import refunds.dashboard as dashboard

    real = dashboard.reverse

    def without_queue(name, *args, **kwargs):
        if name == "admin:refunds_approvalqueueitem_changelist":
            raise NoReverseMatch(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(dashboard, "reverse", without_queue)
    url = urlsplit(dashboard.queue_url())
    assert url.path == reverse("admin:refunds_refundrequest_changelist")
    assert parse_qs(url.query)["status__in"][0].split(",")[0] == RefundStatus.PENDING_SERVICE
    client.force_login(homeroom.user)
    assert client.get(dashboard.queue_url()).status_code == 200


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


def test_the_counts_take_a_fixed_number_of_queries(student, homeroom, supervisor, campus, django_assert_num_queries):
    user = _fresh(supervisor.user)
    with django_assert_num_queries(COUNTS_QUERIES):
        admin_home_counts(user=user)
    _many(student, homeroom, supervisor, campus, 4)
    user = _fresh(supervisor.user)
    with django_assert_num_queries(COUNTS_QUERIES):
        counts = admin_home_counts(user=user)
    assert counts.escalated == 4


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


def test_the_counts_query_once_each_with_no_row_loaded(student, homeroom, supervisor, campus):
    _many(student, homeroom, supervisor, campus, 3)
    user = _fresh(supervisor.user)
    with CaptureQueriesContext(connection) as captured:
        admin_home_counts(user=user)
    counting = [q["sql"] for q in captured if "COUNT(" in q["sql"]]
    assert len(counting) == 3  # queue (waiting + escalated in one), overdue, failed payouts
