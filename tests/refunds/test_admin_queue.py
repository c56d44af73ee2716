"""The approval queue (待我审批) in the admin: whose requests, in which order, its columns and
filters, its search, its bounded queries, and the bulk approval of small requests."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from refunds.admin import lists
from refunds.admin.decisions import AUTO_CHECK_OUTCOME, bulk_approve_plan, bulk_approve_run
from refunds.models import ApprovalStep, RefundRequest, RefundStatus, StepDecision
from refunds.rules import step_can_act
from refunds.selectors import approval_queue_for_admin, refund_queue_for_staff
from refunds.services import (
    RefundActionError,
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_steps_escalate,
)
from schoolops.models import StaffRole
from tests import factories

from .helpers import (
    LIST_URL,
    QUEUE_URL,
    approved_refund,
    bulk_data,
    footprint,
    order_at,
    queue_row_url,
    queue_rows,
    set_settings,
    submit,
    submitted,
    zh,
)

pytestmark = pytest.mark.django_db


def _queue(client, user, **params):
    client.force_login(user)
    response = client.get(QUEUE_URL, params)
    assert response.status_code == 200
    return response


# --- Whose requests, in which order -------------------------------------------------------------


def test_the_homeroom_teacher_sees_her_requests_and_the_supervisor_does_not_yet(
    client, student, homeroom, supervisor, campus
):
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    assert queue_rows(_queue(client, homeroom.user)) == [refund]
    assert queue_rows(_queue(client, supervisor.user)) == []


def test_after_her_approval_the_request_moves_to_the_supervisors_queue(client, student, homeroom, supervisor, campus):
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert queue_rows(_queue(client, homeroom.user)) == []
    assert queue_rows(_queue(client, supervisor.user)) == [refund]


def test_a_delegate_sees_the_absent_teachers_requests_marked_as_hers(client, student, homeroom, campus):
    colleague = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, name="郑老师")
    today = timezone.localdate()
    homeroom.delegate = colleague
    homeroom.delegate_from, homeroom.delegate_until = today, today + datetime.timedelta(days=3)
    homeroom.save()
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    response = _queue(client, colleague.user)
    assert queue_rows(response) == [refund]
    assert "孙老师" in response.content.decode()  # "for 孙老师 (you are the delegate)"


def test_finance_sees_the_finance_pool(client, student, homeroom, supervisor, finance, campus):
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    refund_approve(request_id=refund.pk, actor=supervisor.user)
    other_finance = factories.make_staff(role=StaffRole.FINANCE, campus=campus)
    assert queue_rows(_queue(client, finance.user)) == [refund]
    assert queue_rows(_queue(client, other_finance.user)) == [refund]


def test_escalations_come_first_then_the_oldest_step(client, student, homeroom, supervisor, campus):
    now = timezone.now()
    old, middle, new = (
        submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"), at=now - ago)
        for ago in (datetime.timedelta(hours=10), datetime.timedelta(hours=5), datetime.timedelta(hours=1))
    )
    ApprovalStep.objects.filter(request=new, decision=StepDecision.PENDING).update(
        escalated_at=now, escalated_to=supervisor
    )
    assert queue_rows(_queue(client, homeroom.user)) == [new, old, middle]
    assert queue_rows(_queue(client, supervisor.user)) == [new]  # escalated to her


def test_an_overdue_step_escalated_by_the_clock_shows_first_in_the_managers_queue(
    client, student, homeroom, supervisor, campus
):
    now = timezone.now()
    late = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"), at=now)
    refund_steps_escalate(now=now + datetime.timedelta(hours=25))
    response = _queue(client, supervisor.user)
    assert queue_rows(response) == [late]
    assert zh("Escalated") in response.content.decode()


def test_a_delegate_who_approved_an_earlier_tier_does_not_see_the_next_one(
    client, student, homeroom, supervisor, campus
):
    """The queue leaves out what separation of duties would refuse (the selector's fix)."""
    today = timezone.localdate()
    supervisor.delegate = homeroom
    supervisor.delegate_from, supervisor.delegate_until = today, today + datetime.timedelta(days=3)
    supervisor.save()
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    step = ApprovalStep.objects.select_related("request", "assignee__delegate").get(
        request=refund, decision=StepDecision.PENDING
    )
    assert step.assignee == supervisor
    assert step_can_act(step=step, staff=homeroom, on=today) == (True, True)  # the delegation alone allows it
    with pytest.raises(RefundActionError) as refused:
        refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert refused.value.code == "twice"
    assert list(refund_queue_for_staff(user=homeroom.user)) == []
    assert list(refund_queue_for_staff(user=supervisor.user)) == [refund]


def test_the_queue_of_someone_who_is_not_staff_is_empty(admin_user, student, homeroom, campus):
    submitted(student=student, homeroom=homeroom, campus=campus)
    assert list(approval_queue_for_admin(user=admin_user)) == []


# --- Columns ------------------------------------------------------------------------------------


def test_the_row_shows_age_amount_course_reason_risk_and_time_left(client, student, homeroom, campus):
    student.high_risk = True
    student.high_risk_note = "多次退费"
    student.save()
    now = timezone.now()
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    refund = submit(order, at=now - datetime.timedelta(hours=30))  # 24 hours to decide: 6 hours overdue
    page = _queue(client, homeroom.user).content.decode()
    row = _row_of(page, refund.request_no)
    assert "¥900.00" in row
    assert order.course.name in row
    assert zh("Time conflict") in row
    assert "risk-flag" in row and "多次退费" in row
    assert "sla-overdue" in row
    assert re.search(r"1 \S+ 6 \S+", row), row  # waiting 1 d 6 h
    assert f'href="/admin/refunds/refundrequest/{refund.pk}/change/"' in row  # the row opens the request page


def test_a_row_in_time_shows_the_hours_left_and_no_flag(client, student, homeroom, campus):
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    row = _row_of(_queue(client, homeroom.user).content.decode(), refund.request_no)
    assert "sla-left" in row and "sla-overdue" not in row
    assert "risk-flag" not in row


def test_the_queue_row_address_leads_to_the_request_page(client, student, homeroom, campus):
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus)
    client.force_login(homeroom.user)
    response = client.get(queue_row_url(refund))
    assert response.status_code == 302
    assert response["Location"] == f"/admin/refunds/refundrequest/{refund.pk}/change/"


def test_the_queue_is_listed_in_the_admin_for_every_staff_role(client, homeroom, finance, campus):
    for user in (homeroom.user, finance.user):
        client.force_login(user)
        page = client.get("/admin/refunds/").content.decode()
        assert QUEUE_URL in page


def _row_of(page: str, request_no: str) -> str:
    rows = [row for row in re.findall(r"<tr[^>]*>.*?</tr>", page, flags=re.S) if request_no in row]
    assert rows, f"{request_no} is not listed"
    return rows[0]


# --- Filters and search -------------------------------------------------------------------------


@pytest.fixture
def mixed(student, other_student, homeroom, campus):
    """Four requests: small, medium, large (flagged student), and an old quality complaint."""
    now = timezone.now()
    other_student.high_risk = True
    other_student.save()
    small = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    medium = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    large = submit(order_at(student=other_student, homeroom=homeroom, campus=campus, price="5000.00"))
    old = submit(
        order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"),
        at=now - datetime.timedelta(days=4),
        reason="other",
        details="课程时间和工作冲突，无法继续学习。",
    )
    return {"small": small, "medium": medium, "large": large, "old": old}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"small", "medium", "large", "old"}),
        ({"amount": "small"}, {"small"}),
        ({"amount": "medium"}, {"medium", "old"}),
        ({"amount": "large"}, {"large"}),
        ({"risk": "flagged"}, {"large"}),
        ({"risk": "clear"}, {"small", "medium", "old"}),
        ({"age": "3d"}, {"old"}),
        ({"age": "7d"}, set()),
        ({"reason__exact": "other"}, {"old"}),
        ({"tier": "homeroom"}, {"small", "medium", "large", "old"}),
        ({"tier": "supervisor"}, set()),
        ({"deadline": "overdue"}, {"old"}),
        ({"deadline": "on_time"}, {"small", "medium", "large"}),
        ({"deadline": "escalated"}, set()),
    ],
)
def test_the_filters(client, homeroom, campus, mixed, params, expected):
    rows = queue_rows(_queue(client, homeroom.user, **params))
    assert {key for key, refund in mixed.items() if refund in rows} == expected


def test_the_campus_filter_offers_only_the_users_campus(client, homeroom, campus, other_campus, mixed):
    response = _queue(client, homeroom.user)
    page = response.content.decode()
    assert campus.name in page
    assert other_campus.name not in page
    assert len(queue_rows(_queue(client, homeroom.user, campus=campus.pk))) == 4
    assert queue_rows(_queue(client, homeroom.user, campus=other_campus.pk)) == []


@pytest.mark.parametrize("by", ["order_no", "request_no", "phone", "name", "part_of_name"])
def test_the_search(client, homeroom, campus, mixed, other_student, by):
    large = mixed["large"]
    term = {
        "order_no": large.order.order_no,
        "request_no": large.request_no.lower(),
        "phone": other_student.user.phone,
        "name": other_student.user.name,
        "part_of_name": other_student.user.name[1:],
    }[by]
    assert queue_rows(_queue(client, homeroom.user, q=term)) == [large]


# --- Bounded queries ----------------------------------------------------------------------------


def _queue_queries(client, user) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(QUEUE_URL).status_code == 200
    return [query["sql"] for query in captured.captured_queries]


# session, user, 2 permissions, staff, queue's staff, her pending steps, campus filter, settings, count, rows,
# and the rows' students, orders and pending steps
QUEUE_QUERIES = 14


@pytest.mark.parametrize("count", [3, 30])
def test_the_queue_takes_a_fixed_number_of_queries(client, student, homeroom, campus, count, django_assert_num_queries):
    submitted(student=student, homeroom=homeroom, campus=campus, count=count)
    client.force_login(homeroom.user)
    client.get(QUEUE_URL)  # content types and the like, cached for the process
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(QUEUE_URL)
    assert len(queue_rows(response)) == count


LIST_QUERIES = 9  # session, user, 2 permissions, staff, campus filter, settings, count, rows


@pytest.mark.parametrize("count", [3, 30])
def test_the_request_list_takes_a_fixed_number_of_queries(
    client, student, homeroom, campus, count, django_assert_num_queries
):
    submitted(student=student, homeroom=homeroom, campus=campus, count=count)
    client.force_login(homeroom.user)
    client.get(LIST_URL)
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST_URL)
    assert len(queue_rows(response)) == count


def test_the_queue_with_every_filter_still_takes_a_fixed_number_of_queries(
    client, homeroom, campus, mixed, django_assert_num_queries
):
    client.force_login(homeroom.user)
    params = {"amount": "medium", "risk": "clear", "age": "1d", "reason__exact": "other", "tier": "homeroom", "q": "王"}
    client.get(QUEUE_URL, params)
    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(QUEUE_URL, params)
    assert queue_rows(response) == [mixed["old"]]


def test_no_count_runs_over_the_whole_table(client, student, homeroom, campus):
    """Django counts the filtered rows, and without show_full_result_count=False all rows too;
    here every count is of a LIMITed subquery."""
    submitted(student=student, homeroom=homeroom, campus=campus, count=3)
    client.force_login(homeroom.user)
    for url in (QUEUE_URL, "/admin/refunds/refundrequest/", "/admin/refunds/refundrequest/?status__exact=approved"):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        assert counts, f"{url}: no count at all?"
        for sql in counts:
            assert re.search(r"LIMIT 1001\)", sql), f"{url}: an unbounded count: {sql}"


def test_a_list_longer_than_the_cap_says_more_than(client, student, homeroom, campus, monkeypatch):
    monkeypatch.setattr(lists.CappedPaginator, "cap", 4)
    submitted(student=student, homeroom=homeroom, campus=campus, count=6)
    client.force_login(homeroom.user)
    response = client.get(QUEUE_URL)
    assert response.context["cl"].result_count == 4
    assert response.context["cl"].paginator.is_capped
    paginator = re.search(r'<p class="paginator">(.*?)</p>', response.content.decode(), flags=re.S).group(1)
    assert zh("More than %(count)s") % {"count": 4} in paginator


def test_the_capped_paginator_counts_exactly_below_the_cap(student, homeroom, campus):
    submitted(student=student, homeroom=homeroom, campus=campus, count=3)
    paginator = lists.CappedPaginator(RefundRequest.objects.order_by("pk"), 2)
    assert (paginator.count, paginator.num_pages, paginator.is_capped) == (3, 2, False)


# --- The filters use indexes ------------------------------------------------------------------


def _plan(queryset) -> str:
    """PostgreSQL's plan of ``queryset`` with sequential scans priced out: what the indexes allow."""
    sql, params = queryset.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def crowd(student, homeroom, campus, other_campus):
    """Three open requests among 3000 closed ones of two campuses, every reason and amount; analysed,
    so that the planner weighs the indexes as it would on a full table."""
    open_ones = submitted(student=student, homeroom=homeroom, campus=campus, count=3)
    model = open_ones[0]
    closed = [RefundStatus.REFUNDED, RefundStatus.REJECTED, RefundStatus.CANCELLED]
    reasons = ["time_conflict", "illness", "relocation", "duplicate_purchase", "technical"]
    now = timezone.now()
    RefundRequest.objects.bulk_create(
        RefundRequest(
            request_no=f"RFLOAD{n:08d}",
            order_id=model.order_id,
            student_id=model.student_id,
            campus=campus if n % 2 else other_campus,
            status=closed[n % 3],
            reason=reasons[n % 5],
            quote_id=model.quote_id,
            requested_amount=Decimal(100 + n),
            approved_amount=Decimal(100 + n),
            route=["homeroom"],
            submitted_at=now - datetime.timedelta(hours=n),
        )
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE refunds_refundrequest")
        cursor.execute("ANALYZE refunds_approvalstep")
    return open_ones


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        # Newest first: the campus's own index, or the newest-first one filtered by campus.
        ({}, ("refund_campus_submitted", "refund_submitted_newest")),
        ({"reason": "other"}, ("refund_campus_reason", "refund_reason_newest")),
        (
            {"status": RefundStatus.PENDING_HOMEROOM, "approved_amount__lt": Decimal("500")},
            ("refund_campus_status_amount",),
        ),
    ],
)
def test_the_request_list_filters_use_an_index(campus, crowd, lookup, index):
    queryset = RefundRequest.objects.filter(campus=campus, **lookup).order_by("-submitted_at", "-pk")[:50]
    plan = _plan(queryset)
    assert any(name in plan for name in index), plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("lookup", "index"), [({}, "refund_submitted_newest"), ({"reason": "other"}, "refund_reason_newest")]
)
def test_head_office_lists_of_every_campus_use_an_index(crowd, lookup, index):
    queryset = RefundRequest.objects.filter(**lookup).order_by("-submitted_at", "-pk")[:50]
    plan = _plan(queryset)
    assert index in plan, plan
    assert "Seq Scan" not in plan, plan


@pytest.mark.postgres
@pytest.mark.parametrize("role", [StaffRole.HOMEROOM, StaffRole.FINANCE])
@pytest.mark.parametrize("lookup", [{}, {"approved_amount__lt": Decimal("500")}, {"reason": "other"}])
def test_the_queue_reads_requests_and_steps_through_indexes(homeroom, campus, crowd, role, lookup):
    user = homeroom.user if role == StaffRole.HOMEROOM else factories.make_staff(role=role, campus=campus).user
    plan = _plan(refund_queue_for_staff(user=user).filter(**lookup)[:50])
    assert "Seq Scan" not in plan, plan


# --- Bulk approval of small requests ----------------------------------------------------------


@pytest.fixture
def small_ones(student, other_student, homeroom, campus):
    """Two small requests (route: homeroom, automatic check), one medium, one small of a flagged student."""
    other_student.high_risk = True
    other_student.save()
    first, second = submitted(student=student, homeroom=homeroom, campus=campus, price="300.00", count=2)
    medium = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    flagged = submit(order_at(student=other_student, homeroom=homeroom, campus=campus, price="300.00"))
    return first, second, medium, flagged


def test_the_bulk_approval_first_shows_what_will_happen_and_changes_nothing(client, homeroom, small_ones):
    first, second, medium, flagged = small_ones
    before = {r.pk: footprint(r.pk) for r in small_ones}
    client.force_login(homeroom.user)
    response = client.post(QUEUE_URL, bulk_data(*small_ones, confirm=False))
    assert response.status_code == 200
    page = response.content.decode()
    eligible = [item.request for item in response.context["eligible"]]
    skipped = {item.request: item.skipped for item in response.context["skipped"]}
    assert eligible == [first, second]
    assert set(skipped) == {medium, flagged}
    assert "¥500.00" in skipped[medium]
    assert first.request_no in page and medium.request_no in page
    assert zh(AUTO_CHECK_OUTCOME).split("%(amount)s")[0] in response.context["eligible"][0].outcome
    assert {r.pk: footprint(r.pk) for r in small_ones} == before


def test_confirming_the_bulk_approval_approves_the_small_ones_one_by_one(client, homeroom, small_ones):
    first, second, medium, flagged = small_ones
    untouched = {r.pk: footprint(r.pk) for r in (medium, flagged)}
    client.force_login(homeroom.user)
    response = client.post(QUEUE_URL, bulk_data(first, second, medium, flagged, comment="小额，同意。"), follow=True)
    assert response.status_code == 200
    for refund in (first, second):
        refund.refresh_from_db()
        assert refund.status == RefundStatus.APPROVED  # the automatic check passed
        assert refund.transitions.filter(name="approve", actor=homeroom.user, comment="小额，同意。").count() == 1
    assert {r.pk: footprint(r.pk) for r in (medium, flagged)} == untouched
    shown = [str(m) for m in response.context["messages"]]
    assert any(first.request_no in m and second.request_no in m for m in shown), shown
    assert any(medium.request_no in m and flagged.request_no in m for m in shown), shown


def test_the_bulk_approval_reports_a_request_that_changed_meanwhile(homeroom, student, small_ones):
    first, second, *_ = small_ones
    rows = list(approval_queue_for_admin(user=homeroom.user).filter(pk__in=[first.pk, second.pk]))
    plan = bulk_approve_plan(requests=rows, staff=homeroom, on=timezone.localdate())
    assert all(item.eligible for item in plan)
    refund_cancel(request_id=second.pk, student=student)  # after the confirmation page was shown
    approved, refused = bulk_approve_run(items=plan, actor=homeroom.user, comment="")
    assert approved == [first]
    assert [refund.pk for refund, _why in refused] == [second.pk]
    assert RefundRequest.objects.get(pk=second.pk).status == RefundStatus.CANCELLED


def test_the_bulk_approval_uses_each_campuss_threshold(client, homeroom, campus, small_ones):
    first, second, medium, flagged = small_ones
    set_settings(campus, small_below="200.00")
    client.force_login(homeroom.user)
    response = client.post(QUEUE_URL, bulk_data(first, second, confirm=False))
    assert response.context["eligible"] == []
    assert all("¥200.00" in item.skipped for item in response.context["skipped"])


def test_someone_who_is_not_staff_gets_no_bulk_approval(admin_client):
    response = admin_client.get(QUEUE_URL)
    assert "approve_small_requests" not in response.content.decode()


def test_a_request_rejected_meanwhile_is_refused_by_the_service_not_approved(homeroom, small_ones):
    first, *_ = small_ones
    rows = list(approval_queue_for_admin(user=homeroom.user).filter(pk=first.pk))
    plan = bulk_approve_plan(requests=rows, staff=homeroom, on=timezone.localdate())
    refund_reject(request_id=first.pk, actor=homeroom.user, reason="重复申请。")
    before = footprint(first.pk)
    approved, refused = bulk_approve_run(items=plan, actor=homeroom.user, comment="")
    assert approved == [] and len(refused) == 1
    assert footprint(first.pk) == before


def test_an_earlier_refund_makes_the_automatic_check_refer_the_request(client, homeroom, student, campus):
    """What the confirmation says (the check may refer it) is what happens."""
    earlier_order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    approved_refund(earlier_order, at=timezone.now() - datetime.timedelta(days=30))
    approved_refund(
        order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"),
        at=timezone.now() - datetime.timedelta(days=20),
    )
    [refund] = submitted(student=student, homeroom=homeroom, campus=campus, price="300.00")
    client.force_login(homeroom.user)
    client.post(QUEUE_URL, bulk_data(refund))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_SUPERVISOR
