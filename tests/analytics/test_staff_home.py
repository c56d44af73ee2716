"""The admin home by role: approvers see their queue, finance the payouts that need a person,
operations the settings and open alerts; each in their own campus, in a fixed number of queries."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.home import staff_home
from analytics.models import Alert, AlertKind, AlertRule
from orders.models import PaymentChannel
from payments.models import Payout, PayoutStatus
from refunds.models import ApprovalStep, RefundRequest, StepDecision
from refunds.services import refund_approve
from tests import factories
from tests.refunds.helpers import order_at, submit

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")
TABLES = reverse("admin_all_tables")


def _request(student, homeroom, campus, price="1000.00", **kwargs):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs))


def _due_in(request, delta: datetime.timedelta) -> None:
    ApprovalStep.objects.filter(request=request, decision=StepDecision.PENDING).update(due_at=timezone.now() + delta)


def _payout_failed(request) -> None:
    request = RefundRequest.objects.get(pk=request.pk)
    request.start_payout()
    request.save()
    request.fail_payout()
    request.save()


def _bank_transfer_waiting(homeroom, campus) -> Payout:
    """A small refund of a bank-card order, approved: its payout waits for finance to record the transfer."""
    student = factories.make_student(campus=campus)
    request = _request(student, homeroom, campus, price="200.00", channel=PaymentChannel.CARD)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    return Payout.objects.get(request=request)


def _open_alert(campus) -> Alert:
    rule = AlertRule.objects.create(
        name=f"spike {uuid.uuid4().hex[:8]}", kind=AlertKind.SPIKE, threshold=Decimal("150"), window_days=10, minimum=1
    )
    today = timezone.localdate()
    return Alert.objects.create(
        rule=rule,
        kind=AlertKind.SPIKE,
        occurrence=f"spike-{campus.pk}-{today}",
        campus=campus,
        day=today,
        since=today,
        created_at=timezone.now(),
    )


def _sections(user) -> dict:
    user = type(user).objects.get(pk=user.pk)
    return {section.key: section for section in staff_home(user=user)}


def _counts(section) -> dict[str, int]:
    return {item.key: item.count for item in section.counts}


# --- Approvers ----------------------------------------------------------------------------------


def test_a_homeroom_teacher_sees_her_queue_by_deadline_with_its_first_requests(student, homeroom, campus):
    late, soon, later = (_request(student, homeroom, campus) for _ in range(3))
    _due_in(late, -datetime.timedelta(hours=2))
    _due_in(soon, datetime.timedelta(hours=1))
    _due_in(later, datetime.timedelta(days=2))
    RefundRequest.objects.filter(pk=later.pk).update(appealed_at=timezone.now())

    sections = _sections(homeroom.user)

    assert list(sections) == ["approver"]
    counts = _counts(sections["approver"])
    assert (counts["waiting"], counts["soon"], counts["overdue"], counts["appeals"]) == (3, 1, 1, 1)
    rows = {row.request_no: row for row in sections["approver"].rows}
    assert set(rows) == {late.request_no, soon.request_no, later.request_no}
    assert rows[late.request_no].overdue and not rows[soon.request_no].overdue
    assert rows[later.request_no].appeal
    assert rows[soon.request_no].url == reverse("admin:refunds_refundrequest_change", args=[soon.pk])
    assert rows[soon.request_no].time_left  # e.g. "59 min"


def test_the_home_page_shows_the_queue_and_links_each_request(client, student, homeroom, campus):
    refund = _request(student, homeroom, campus)
    client.force_login(homeroom.user)
    page = client.get(HOME).content.decode()
    assert 'id="home-approver"' in page
    assert 'id="home-finance"' not in page and 'id="home-operations"' not in page
    assert reverse("admin:refunds_refundrequest_change", args=[refund.pk]) in page
    assert refund.request_no in page


def test_a_teacher_of_another_campus_sees_none_of_this_campus(student, homeroom, campus, other_campus_homeroom):
    _request(student, homeroom, campus)
    counts = _counts(_sections(other_campus_homeroom.user)["approver"])
    assert counts["waiting"] == 0


def test_a_supervisor_also_sees_the_campus_overdue_steps(student, homeroom, supervisor, campus):
    _due_in(_request(student, homeroom, campus), -datetime.timedelta(hours=1))
    counts = _counts(_sections(supervisor.user)["approver"])
    assert counts["waiting"] == 0  # the step is the homeroom teacher's
    assert counts["campus_overdue"] == 1


# --- Finance --------------------------------------------------------------------------------------


def test_finance_sees_the_payouts_that_need_a_person(student, homeroom, campus, finance):
    transfer = _bank_transfer_waiting(homeroom, campus)
    assert transfer.status == PayoutStatus.QUEUED
    checked = _bank_transfer_waiting(homeroom, campus)
    Payout.objects.filter(pk=checked.pk).update(needs_check_since=timezone.now())
    _payout_failed(
        refund_approve(request_id=_request(student, homeroom, campus, price="200.00").pk, actor=homeroom.user)
    )

    sections = _sections(finance.user)

    assert "finance" in sections and "operations" not in sections
    counts = _counts(sections["finance"])
    assert (counts["transfers"], counts["needs_check"], counts["failed"]) == (2, 1, 1)


def test_finance_of_another_campus_counts_none_of_this_campus(homeroom, campus, other_campus):
    _bank_transfer_waiting(homeroom, campus)
    elsewhere = factories.make_staff(role="finance", campus=other_campus)
    counts = _counts(_sections(elsewhere.user)["finance"])
    assert (counts["transfers"], counts["needs_check"], counts["failed"]) == (0, 0, 0)


def test_the_finance_page_links_the_payouts_to_record(client, homeroom, campus, finance):
    _bank_transfer_waiting(homeroom, campus)
    client.force_login(finance.user)
    page = client.get(HOME).content.decode()
    assert 'id="home-finance"' in page
    section = next(s for s in staff_home(user=type(finance.user).objects.get(pk=finance.user.pk)) if s.key == "finance")
    url = next(item.url for item in section.counts if item.key == "transfers")
    listed = client.get(url)
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 1


# --- Operations -----------------------------------------------------------------------------------


def test_operations_see_the_settings_and_the_open_alerts(operations, campus, other_campus):
    _open_alert(campus)
    _open_alert(other_campus)  # operations see every campus
    sections = _sections(operations.user)
    assert list(sections) == ["operations"]
    counts = _counts(sections["operations"])
    assert counts["open_alerts"] == 2
    assert counts["alert_rules"] == AlertRule.objects.filter(is_active=True).count()
    for item in sections["operations"].counts:
        assert item.url.startswith("/admin/")


def test_a_campus_head_counts_only_her_campus_alerts(campus_head, campus, other_campus):
    _open_alert(campus)
    _open_alert(other_campus)
    head = type(campus_head.user).objects.get(pk=campus_head.user.pk)
    from analytics.home import operations_section

    counts = _counts(operations_section(user=head, now=timezone.now()))
    assert counts["open_alerts"] == 1


def test_a_superuser_sees_every_section(client):
    boss = factories.make_user(is_staff=True, is_superuser=True)
    assert list(_sections(boss)) == ["approver", "finance", "operations"]
    client.force_login(boss)
    page = client.get(HOME).content.decode()
    for key in ("approver", "finance", "operations"):
        assert f'id="home-{key}"' in page


# --- All data tables ------------------------------------------------------------------------------


def test_the_home_links_every_table_and_shows_no_model_list(client, homeroom):
    client.force_login(homeroom.user)
    page = client.get(HOME).content.decode()
    assert f'href="{TABLES}"' in page
    assert "app-refunds" not in page
    assert reverse("admin:refunds_quotesnapshot_changelist") not in page  # an internal table


def test_the_all_tables_page_lists_the_tables_the_user_may_read(client, homeroom):
    client.force_login(homeroom.user)
    response = client.get(TABLES)
    assert response.status_code == 200
    page = response.content.decode()
    assert "app-refunds" in page
    assert reverse("admin:refunds_refundrequest_changelist") in page
    assert reverse("admin:payments_payout_changelist") not in page  # not hers to read


def test_the_all_tables_page_is_for_staff_only(client, student):
    assert client.get(TABLES).status_code == 302
    client.force_login(student.user)
    assert client.get(TABLES).status_code == 302


# --- Queries --------------------------------------------------------------------------------------


def _home_queries(client, user) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(HOME).status_code == 200
    return len(queries)


def test_the_home_costs_the_same_queries_however_much_there_is(client, student, homeroom, campus):
    """A homeroom teacher who is also a superuser: every section, her queue filling up."""
    type(homeroom.user).objects.filter(pk=homeroom.user.pk).update(is_superuser=True)
    boss = type(homeroom.user).objects.get(pk=homeroom.user.pk)
    _request(student, homeroom, campus)
    few = _home_queries(client, boss)

    for _ in range(6):
        _request(factories.make_student(campus=campus), homeroom, campus)
        _bank_transfer_waiting(homeroom, campus)
        _open_alert(campus)
    many = _home_queries(client, boss)

    assert many == few
