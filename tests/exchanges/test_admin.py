"""The staff side of course exchanges: the policies' admin (who edits, who reads), the exchanges'
read-only list, an exchange request's decision page and the approval lists (the exchange's box,
its difference and direction instead of a refund amount), and the exchange desk (customer service
files an exchange for a student of its campus, with her consent).

Pages render in the default language (Simplified Chinese); their words are asserted through
``zh(msgid)``, which is the Chinese text once the translations are compiled and the English msgid
until then."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from exchanges.admin import approval_outcome, difference_words
from exchanges.desk import exchange_submit_for_student
from exchanges.models import Exchange, ExchangePolicy, ExchangeStatus
from exchanges.services import ExchangeError, exchange_submit
from orders.models import CourseType
from refunds.admin.decisions import ADJUST, APPROVE, DIRECT, REJECT, RETURN, bulk_approve_plan
from refunds.models import (
    ApprovalStep,
    ConsentChannel,
    QuoteSnapshot,
    RefundEvent,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    RequestKind,
)
from refunds.selectors import approval_queue_for_admin
from refunds.services import (
    RefundActionError,
    refund_adjust_amount,
    refund_approve,
    refund_approve_directly,
    refund_submit,
)
from schoolops.models import StaffRole
from servicedesk.models import TicketCategory
from servicedesk.services import ticket_open
from tests import factories

pytestmark = pytest.mark.django_db

DESK_URL = reverse("admin:exchanges_exchange_add")
EXCHANGES_URL = reverse("admin:exchanges_exchange_changelist")
POLICIES_URL = reverse("admin:exchanges_exchangepolicy_changelist")
POLICY_ADD_URL = reverse("admin:exchanges_exchangepolicy_add")
QUEUE_URL = reverse("admin:refunds_approvalqueueitem_changelist")
LIST_URL = reverse("admin:refunds_refundrequest_changelist")
DETAILS = "学员来电：上课时间与工作冲突，想换到周末班。"


def zh(msgid: str) -> str:
    """What a page in the default language shows for ``msgid`` (the msgid until it is translated)."""
    with translation.override("zh-hans"):
        return gettext(msgid)


def zh_format(msgid: str, **values: object) -> str:
    return zh(msgid) % values


def page_url(request: RefundRequest) -> str:
    return reverse("admin:refunds_refundrequest_change", args=[request.pk])


def decide_url(request: RefundRequest, action: str) -> str:
    return reverse("admin:refunds_refundrequest_decide", args=[request.pk, action])


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- The cast --------------------------------------------------------------------------------


@pytest.fixture
def service(campus, supervisor):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, manager=supervisor, name="客服小林")


@pytest.fixture
def other_service(other_campus):
    return factories.make_staff(role=StaffRole.SERVICE, campus=other_campus, name="客服小周")


@pytest.fixture
def policy(shipped_data):
    """Recorded courses may move to another recorded course of the campus within 30 days."""
    return ExchangePolicy.objects.create(
        name="录播课换课",
        course_type=CourseType.RECORDED,
        window_days=30,
        pay_within_hours=48,
        description="购课 30 天内、学习进度不超过 50% 可换课一次。",
    )


def _future_course(campus, price: str):
    return factories.make_course(
        campus=campus, price=price, starts_at=timezone.now() + datetime.timedelta(days=7), days=90
    )


@pytest.fixture
def dearer_course(campus):
    """3600.00, not started: a 3000.00 order moved here leaves 600.00 to pay."""
    return _future_course(campus, "3600.00")


@pytest.fixture
def cheaper_course(campus):
    """2000.00, not started: a 3000.00 order moved here gets 1000.00 back."""
    return _future_course(campus, "2000.00")


@pytest.fixture
def exchange_order(student, course, homeroom):
    """3000.00 paid five days ago for a course of 30 lessons, none used: all of it carries over."""
    return factories.make_order(student=student, course=course, homeroom_teacher=homeroom)


def file_exchange(order, target, **extra) -> Exchange:
    """The student files the exchange herself (the portal's way)."""
    values = {"reason": "time_conflict", "details": DETAILS}
    values.update(extra)
    return exchange_submit(student=order.student, order_no=order.order_no, target_code=target.code, **values)


@pytest.fixture
def pay_exchange(policy, exchange_order, dearer_course, supervisor):
    return file_exchange(exchange_order, dearer_course)


# --- Policies: operations edit them, every staff member reads them ---------------------------


def _policy_form(**overrides) -> dict:
    data = {
        "name": "直播课换课",
        "course_type": CourseType.LIVE,
        "is_active": "on",
        "target_campus": "same",
        "target_type": "same",
        "max_exchanges": "1",
        "description": "",
        "window_days": "14",
        "window_anchor": "purchase",
        "window_progress_ceiling": "30.00",
        "allow_after_window": "on",
        "exchange_fee": "50.00",
        "carry_progress": "",
        "prorate_started_target": "on",
        "pay_within_hours": "24",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


@pytest.mark.parametrize(
    ("role", "may_edit"),
    [
        (StaffRole.OPERATIONS, True),
        (StaffRole.SERVICE, False),
        (StaffRole.HOMEROOM, False),
        (StaffRole.SUPERVISOR, False),
        (StaffRole.CAMPUS_HEAD, False),
        (StaffRole.FINANCE, False),
        (StaffRole.QUALITY, False),
    ],
)
def test_every_role_reads_the_policies_and_only_operations_edit_them(policy, campus, role, may_edit):
    client = login(factories.make_staff(role=role, campus=campus).user)
    listing = client.get(POLICIES_URL)
    assert listing.status_code == 200
    assert "录播课换课" in listing.content.decode()
    change_url = reverse("admin:exchanges_exchangepolicy_change", args=[policy.pk])
    assert client.get(change_url).status_code == 200  # a read-only page for those who may not edit
    assert (client.get(POLICY_ADD_URL).status_code == 200) is may_edit

    response = client.post(POLICY_ADD_URL, _policy_form())
    assert ExchangePolicy.objects.filter(name="直播课换课").exists() is may_edit
    assert response.status_code == (302 if may_edit else 403)


def test_a_saved_change_of_a_policy_is_a_new_version_with_its_history(policy, operations):
    client = login(operations.user)
    change_url = reverse("admin:exchanges_exchangepolicy_change", args=[policy.pk])
    page = client.get(change_url).content.decode()
    for heading in ("Which courses", "The window", "The value carried over", "The difference"):
        assert zh(heading) in page  # the fields grouped in plain words

    response = client.post(
        change_url,
        _policy_form(name="录播课换课", course_type=CourseType.RECORDED, window_days="21", exchange_fee="0.00"),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert (policy.window_days, policy.version) == (21, 2)
    assert policy.history.count() == 2
    assert policy.history.first().history_user == operations.user
    history = client.get(reverse("admin:exchanges_exchangepolicy_history", args=[policy.pk]))
    assert history.status_code == 200


def test_a_second_active_policy_for_a_course_type_is_refused_next_to_the_field(policy, operations):
    response = login(operations.user).post(POLICY_ADD_URL, _policy_form(course_type=CourseType.RECORDED))
    assert response.status_code == 200
    assert "course_type" in response.context["adminform"].form.errors
    assert ExchangePolicy.objects.filter(course_type=CourseType.RECORDED).count() == 1


# --- The exchanges' list and record -----------------------------------------------------------


@pytest.mark.parametrize(
    "role", [StaffRole.SERVICE, StaffRole.SUPERVISOR, StaffRole.CAMPUS_HEAD, StaffRole.FINANCE, StaffRole.HOMEROOM]
)
def test_staff_of_the_campus_read_its_exchanges(pay_exchange, campus, role):
    client = login(factories.make_staff(role=role, campus=campus).user)
    listing = client.get(EXCHANGES_URL).content.decode()
    assert pay_exchange.request.request_no in listing
    assert page_url(pay_exchange.request) in listing  # the number leads to the decision page
    assert zh_format("To pay: ¥%(amount)s", amount="600.00") in listing

    record = client.get(reverse("admin:exchanges_exchange_change", args=[pay_exchange.pk]))
    assert record.status_code == 200
    text = record.content.decode()
    assert pay_exchange.lines[0]["label"] in text and pay_exchange.lines[0]["explanation"] in text
    assert "录播课换课" in text


def test_another_campus_does_not_see_the_exchange(pay_exchange, other_campus):
    client = login(factories.make_staff(role=StaffRole.SUPERVISOR, campus=other_campus).user)
    assert pay_exchange.request.request_no not in client.get(EXCHANGES_URL).content.decode()
    assert client.get(reverse("admin:exchanges_exchange_change", args=[pay_exchange.pk])).status_code == 404


def test_nobody_changes_or_deletes_an_exchange_by_hand(pay_exchange, operations):
    client = login(operations.user)
    change_url = reverse("admin:exchanges_exchange_change", args=[pay_exchange.pk])
    client.post(change_url, {"status": ExchangeStatus.COMPLETED, "rating": "5"})
    delete_url = reverse("admin:exchanges_exchange_delete", args=[pay_exchange.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    pay_exchange.refresh_from_db()
    assert (pay_exchange.status, pay_exchange.rating) == (ExchangeStatus.IN_REVIEW, None)


# --- The decision page of an exchange request ---------------------------------------------------


def test_the_decision_page_shows_the_exchange_box_in_plain_words(pay_exchange, service, dearer_course):
    request = pay_exchange.request
    assert request.status == RefundStatus.PENDING_SERVICE
    page = login(service.user).get(page_url(request)).content.decode()
    decision_panel = page[page.index('id="decision-panel"') : page.index('id="learning-panel"')]

    assert 'id="exchange-box"' in decision_panel
    assert decision_panel.index('id="exchange-box"') < decision_panel.index('class="review-status"')  # at the top
    assert zh("Course exchange request") in decision_panel
    assert dearer_course.name in decision_panel and pay_exchange.old_order.course.name in decision_panel
    for line in pay_exchange.lines:
        assert line["label"] in decision_panel and line["explanation"] in decision_panel
    assert "¥3,000.00" in decision_panel  # the value carried over
    assert "¥3,600.00" in decision_panel  # the new course's price
    assert zh_format("To pay: ¥%(amount)s", amount="600.00") in decision_panel
    outcome = zh(
        "The exchange is approved: the student is asked to pay the difference of ¥%(amount)s online within "
        "%(hours)d hours; the new course opens once she has paid. Unpaid by then, the exchange lapses and "
        "nothing changes."
    ) % {"amount": "600.00", "hours": 48}
    assert outcome in decision_panel
    # Not a refund: the panel does not speak of an amount to refund.
    assert zh("amount to refund") not in decision_panel


def test_an_exchange_with_money_back_says_approving_refunds_it(policy, exchange_order, cheaper_course, supervisor):
    exchange = file_exchange(exchange_order, cheaper_course)
    assert exchange.refund_amount == Decimal("1000.00")
    assert difference_words(exchange) == gettext("To refund: ¥%(amount)s") % {"amount": "1,000.00"}
    assert "1,000.00" in approval_outcome(exchange)
    with translation.override("zh-hans"):
        expected = approval_outcome(exchange)
    page = login(supervisor.user).get(page_url(exchange.request)).content.decode()
    assert expected in page


def test_an_even_exchange_says_it_completes_at_once(policy, exchange_order, campus, supervisor):
    even = _future_course(campus, "3000.00")
    exchange = file_exchange(exchange_order, even)
    with translation.override("zh-hans"):
        words, outcome = difference_words(exchange), approval_outcome(exchange)
    assert words == zh("No difference")
    page = login(supervisor.user).get(page_url(exchange.request)).content.decode()
    assert words in page and outcome in page


def test_a_refund_requests_page_has_no_exchange_box(policy, exchange_order, supervisor, homeroom):
    refund = refund_submit(
        student=exchange_order.student, order_no=exchange_order.order_no, reason="time_conflict", details=DETAILS
    )
    page = login(homeroom.user).get(page_url(refund)).content.decode()
    assert 'id="exchange-box"' not in page
    assert zh("amount to refund") in page


def test_customer_service_decides_its_tier_of_an_exchange_but_neither_skips_nor_adjusts_it(pay_exchange, service):
    request = pay_exchange.request
    client = login(service.user)
    page = client.get(page_url(request)).content.decode()
    for action in (APPROVE, REJECT, RETURN):
        assert decide_url(request, action) in page
    for action in (DIRECT, ADJUST):
        assert decide_url(request, action) not in page

    confirm = client.get(decide_url(request, APPROVE)).content.decode()
    assert zh_format("Approve exchange request %(no)s", no=request.request_no) in confirm
    assert zh_format("To pay: ¥%(amount)s", amount="600.00") in confirm
    assert client.post(decide_url(request, APPROVE), {"comment": "已与学员确认换课意向。"}).status_code == 302
    request.refresh_from_db()
    assert request.status == RefundStatus.PENDING_SUPERVISOR  # the supervisor still decides


def test_the_services_refuse_a_direct_approval_or_an_adjusted_amount_of_an_exchange(pay_exchange, service, supervisor):
    request = pay_exchange.request
    with pytest.raises(RefundActionError) as direct:
        refund_approve_directly(request_id=request.pk, actor=service.user)
    assert direct.value.code == "exchange"
    refund_approve(request_id=request.pk, actor=service.user)
    with pytest.raises(RefundActionError) as adjust:
        refund_adjust_amount(request_id=request.pk, actor=supervisor.user, amount=Decimal("0.00"), reason="试试")
    assert adjust.value.code == "exchange"
    request.refresh_from_db()
    assert (request.status, request.approved_amount) == (RefundStatus.PENDING_SUPERVISOR, Decimal("0.00"))


def test_the_page_is_titled_as_an_exchange_request(pay_exchange, supervisor):
    page = login(supervisor.user).get(page_url(pay_exchange.request)).content.decode()
    assert f"<h1>{zh('Course exchange request')}</h1>" in page


def test_the_bulk_approval_of_small_requests_leaves_exchanges_out(pay_exchange, service, supervisor):
    refund_approve(request_id=pay_exchange.request_id, actor=service.user)
    rows = list(approval_queue_for_admin(user=supervisor.user))
    plan = bulk_approve_plan(requests=rows, staff=supervisor, on=timezone.localdate())
    assert [(item.request.pk, item.eligible) for item in plan] == [(pay_exchange.request_id, False)]
    assert plan[0].skipped == gettext("A course exchange: decide it on its own page.")


# --- The approval lists ------------------------------------------------------------------------


def test_the_queue_marks_the_exchange_and_shows_its_difference(pay_exchange, service):
    response = login(service.user).get(QUEUE_URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert pay_exchange.request.request_no in page
    assert 'class="kind-badge kind-exchange"' in page
    assert zh(str(RequestKind.EXCHANGE.label)) in page
    assert zh_format("To pay: ¥%(amount)s", amount="600.00") in page
    assert "¥0.00" not in page  # not the refund amount an exchange does not have


def test_the_request_list_filters_by_kind(pay_exchange, policy, student, homeroom, campus, supervisor):
    other_order = factories.make_order(
        student=student,
        course=factories.make_course(campus=campus, course_type=CourseType.LIVE),
        homeroom_teacher=homeroom,
    )
    refund = refund_submit(student=student, order_no=other_order.order_no, reason="time_conflict", details=DETAILS)
    client = login(supervisor.user)
    exchanges = client.get(LIST_URL, {"kind": RequestKind.EXCHANGE})
    assert [row.pk for row in exchanges.context["cl"].result_list] == [pay_exchange.request_id]
    refunds = client.get(LIST_URL, {"kind": RequestKind.REFUND})
    assert [row.pk for row in refunds.context["cl"].result_list] == [refund.pk]
    everything = client.get(LIST_URL).content.decode()
    assert 'class="kind-badge kind-refund"' in everything and 'class="kind-badge kind-exchange"' in everything


def test_the_lists_read_the_exchanges_with_their_rows(pay_exchange, campus, homeroom, supervisor, service):
    """The amount column reads each row's exchange: joined to the rows, not a query per row."""

    def queries(client, url) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured.captured_queries)

    clients = {LIST_URL: login(supervisor.user), QUEUE_URL: login(service.user)}
    for url, client in clients.items():
        client.get(url)  # the first page of a session reads what later pages find cached
    one = {url: queries(client, url) for url, client in clients.items()}
    for _ in range(3):
        order = factories.make_order(
            student=factories.make_student(campus=campus),
            course=pay_exchange.old_order.course,
            homeroom_teacher=homeroom,
        )
        file_exchange(order, pay_exchange.target_course)
    assert {url: queries(client, url) for url, client in clients.items()} == one


# --- The exchange desk: customer service files an exchange for a student -------------------------


def _desk_data(order, target, *, button: str, **extra) -> dict:
    data = {
        "student": str(order.student_id),
        "order": str(order.pk),
        "target": target.code,
        "reason": "time_conflict",
        "details": DETAILS,
        "consent_channel": ConsentChannel.PHONE,
        "consent_at": timezone.localtime(timezone.now() - datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M"),
        "consent_note": "通话录音 0412-1032",
        button: "1",
    }
    data.update(extra)
    return data


def _counts() -> dict[str, int]:
    return {
        "requests": RefundRequest.objects.count(),
        "exchanges": Exchange.objects.count(),
        "snapshots": QuoteSnapshot.objects.count(),
        "steps": ApprovalStep.objects.count(),
        "transitions": RefundTransition.objects.count(),
        "events": RefundEvent.objects.count(),
    }


def test_customer_service_files_an_exchange_for_a_student_with_her_consent(
    policy, exchange_order, dearer_course, service, student
):
    client = login(service.user)
    start = client.get(DESK_URL, {"student": student.pk, "order": exchange_order.pk})
    assert start.status_code == 200
    assert exchange_order.order_no in start.content.decode()

    calculated = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="calculate"))
    assert calculated.status_code == 200
    page = calculated.content.decode()
    assert 'id="desk-lines"' in page and 'id="desk-file"' in page
    assert zh_format("To pay: ¥%(amount)s", amount="600.00") in page
    assert Exchange.objects.count() == 0  # calculating saves nothing
    key = calculated.context["quote_key"]

    filed = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="file", quoted=key))
    exchange = Exchange.objects.get()
    request = exchange.request
    assert filed.status_code == 302 and filed["Location"] == page_url(request)
    assert (exchange.old_order, exchange.target_course, exchange.pay_amount) == (
        exchange_order,
        dearer_course,
        Decimal("600.00"),
    )
    assert (request.kind, request.student, request.filed_by) == (RequestKind.EXCHANGE, student, service.user)
    assert (request.consent_channel, request.consent_note) == (ConsentChannel.PHONE, "通话录音 0412-1032")
    # In customer service's pool: the first tier of an exchange, no one person assigned.
    assert request.status == RefundStatus.PENDING_SERVICE
    step = ApprovalStep.objects.get(request=request)
    assert (step.tier, step.assignee) == ("service", None)
    assert request.request_no in login(service.user).get(QUEUE_URL).content.decode()


def test_the_desk_shows_her_orders_and_the_courses_each_may_move_to(policy, exchange_order, dearer_course, service):
    response = login(service.user).post(DESK_URL, {"student": str(exchange_order.student_id), "choose": "1"})
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.errors
    assert [order.pk for order, _offer in form.order_rows()] == [exchange_order.pk]
    assert dearer_course.code in response.content.decode()  # offered under the order


def test_the_desk_finds_students_of_its_own_campus_as_one_types(policy, service, other_service, student):
    params = {"term": "王小", "app_label": "refunds", "model_name": "refundrequest", "field_name": "student"}
    url = reverse("admin:autocomplete")
    found = login(service.user).get(url, params).json()["results"]
    assert [row["id"] for row in found] == [str(student.pk)]
    assert login(other_service.user).get(url, params).json()["results"] == []
    first = login(service.user).get(DESK_URL).content.decode()
    assert 'id="desk-orders"' not in first and 'id="desk-no-orders"' not in first  # no student chosen yet


def test_another_campus_service_user_cannot_file_for_the_student(
    policy, exchange_order, dearer_course, other_service, student
):
    before = _counts()
    response = login(other_service.user).post(DESK_URL, _desk_data(exchange_order, dearer_course, button="calculate"))
    assert response.status_code == 200
    assert "student" in response.context["form"].errors  # not among her campus's students
    assert response.context["quote"] is None

    with pytest.raises(ExchangeError) as refused:
        exchange_submit_for_student(
            actor=other_service.user,
            student_id=student.pk,
            order_no=exchange_order.order_no,
            target_code=dearer_course.code,
            reason="time_conflict",
            details=DETAILS,
            consent_channel=ConsentChannel.PHONE,
            consent_at=timezone.now() - datetime.timedelta(minutes=5),
        )
    assert refused.value.code == "student"
    assert _counts() == before


@pytest.mark.parametrize("role", [StaffRole.SUPERVISOR, StaffRole.OPERATIONS, StaffRole.HOMEROOM, StaffRole.FINANCE])
def test_only_customer_service_has_the_desk(policy, exchange_order, dearer_course, campus, role):
    staff = factories.make_staff(role=role, campus=campus)
    client = login(staff.user)
    assert client.get(DESK_URL).status_code == 403
    before = _counts()
    response = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="file", quoted="x"))
    assert response.status_code == 403
    assert _counts() == before
    with pytest.raises(ExchangeError) as refused:
        exchange_submit_for_student(
            actor=staff.user,
            student_id=exchange_order.student_id,
            order_no=exchange_order.order_no,
            target_code=dearer_course.code,
            reason="time_conflict",
            consent_channel=ConsentChannel.PHONE,
            consent_at=timezone.now(),
        )
    assert refused.value.code == "forbidden"


def test_the_desk_link_shows_for_customer_service_only(policy, service, supervisor):
    assert DESK_URL in login(service.user).get(EXCHANGES_URL).content.decode()
    assert DESK_URL not in login(supervisor.user).get(EXCHANGES_URL).content.decode()


def test_the_ticket_page_leads_customer_service_to_the_desk_with_the_student_chosen(
    policy, exchange_order, service, supervisor, student
):
    ticket = ticket_open(
        student=student,
        category=TicketCategory.COURSE_CHANGE,
        subject="想换到周末班",
        description="工作日晚上没时间上课，想换课。",
        order_id=exchange_order.pk,
    )
    ticket_url = reverse("admin:servicedesk_ticket_change", args=[ticket.pk])
    link = f"{DESK_URL}?student={student.pk}&amp;order={exchange_order.pk}"
    assert link in login(service.user).get(ticket_url).content.decode()
    assert DESK_URL not in login(supervisor.user).get(ticket_url).content.decode()
    desk = login(service.user).get(DESK_URL, {"student": student.pk, "order": exchange_order.pk})
    assert desk.context["form"].initial["order"] == str(exchange_order.pk)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"consent_channel": ""}, "consent_channel"),
        ({"consent_at": ""}, "consent_at"),
        (
            {"consent_at": timezone.localtime(timezone.now() - datetime.timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")},
            "consent_at",
        ),
    ],
)
def test_a_missing_or_stale_consent_is_refused_next_to_its_field_and_nothing_is_saved(
    policy, exchange_order, dearer_course, service, extra, field
):
    client = login(service.user)
    key = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="calculate")).context["quote_key"]
    before = _counts()
    response = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="file", quoted=key, **extra))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert response.context["quote"] is not None  # the calculation stays on the page
    assert _counts() == before


def test_filing_a_calculation_of_another_choice_files_nothing(
    policy, exchange_order, dearer_course, cheaper_course, service
):
    client = login(service.user)
    key = client.post(DESK_URL, _desk_data(exchange_order, cheaper_course, button="calculate")).context["quote_key"]
    before = _counts()
    response = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="file", quoted=key))
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    # The page now shows the calculation of the course chosen, to file after a look.
    assert response.context["quote"].pay_amount == Decimal("600.00")
    assert _counts() == before


def test_an_order_with_a_request_in_progress_is_refused_next_to_the_order(pay_exchange, dearer_course, service):
    response = login(service.user).post(DESK_URL, _desk_data(pay_exchange.old_order, dearer_course, button="calculate"))
    assert response.status_code == 200
    assert "order" in response.context["form"].errors
    assert response.context["quote"] is None


def test_the_desk_form_is_csrf_protected(policy, exchange_order, dearer_course, service):
    client = Client(enforce_csrf_checks=True)
    client.force_login(service.user)
    before = _counts()
    response = client.post(DESK_URL, _desk_data(exchange_order, dearer_course, button="file", quoted="x"))
    assert response.status_code == 403
    assert _counts() == before
