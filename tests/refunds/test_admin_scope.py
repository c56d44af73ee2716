"""Every approval admin view and action, tried by every role: who sees what, and that a refused
attempt changes nothing.

The request waits for its homeroom teacher (孙老师). Nobody else may decide it; staff of another
campus do not even find it (404); a logged-in user who is not staff is sent to the admin login; a
staff account without a role is refused (403).
"""

from __future__ import annotations

import pytest

from refunds.admin.decisions import ADJUST, APPROVE, REJECT, RETURN
from refunds.models import RefundStatus
from refunds.services import refund_approve
from schoolops.models import StaffRole
from tests import factories

from .helpers import (
    DECISION_DATA,
    LIST_URL,
    QUEUE_URL,
    bulk_data,
    decide_url,
    footprint,
    history_url,
    page_url,
    queue_row_url,
    submitted,
)

pytestmark = pytest.mark.django_db

DECISIONS = (APPROVE, REJECT, RETURN, ADJUST)
LOGIN = "/admin/login/"


@pytest.fixture
def refund(student, homeroom, supervisor, campus):
    [made] = submitted(student=student, homeroom=homeroom, campus=campus, price="300.00")  # small: bulk-approvable
    return made


@pytest.fixture
def users(
    homeroom, supervisor, campus_head, finance, operations, outsider, other_campus_homeroom, campus, other_campus
):
    return {
        "homeroom": homeroom.user,
        "supervisor": supervisor.user,
        "campus_head": campus_head.user,
        "finance": finance.user,
        "operations": operations.user,
        "service": factories.make_staff(role=StaffRole.SERVICE, campus=campus).user,
        "quality": factories.make_staff(role=StaffRole.QUALITY, campus=campus).user,
        "other_campus_homeroom": other_campus_homeroom.user,
        "other_campus_operations": factories.make_head_office(role=StaffRole.OPERATIONS, campus=other_campus).user,
        "outsider": outsider,
        "staff_without_role": factories.make_user(is_staff=True),
    }


def _attempts(refund) -> list[tuple[str, str, str, dict | None]]:
    """(name, method, url, data) of every view and action of the approval admin on ``refund``."""
    attempts = [
        ("queue", "get", QUEUE_URL, None),
        ("list", "get", LIST_URL, None),
        ("page", "get", page_url(refund), None),
        ("history", "get", history_url(refund), None),
        ("queue row", "get", queue_row_url(refund), None),
        ("bulk preview", "post", QUEUE_URL, bulk_data(refund, confirm=False)),
        ("bulk approve", "post", QUEUE_URL, bulk_data(refund)),
    ]
    for action in DECISIONS:
        attempts.append((f"{action} page", "get", decide_url(refund, action), None))
        attempts.append((f"{action}", "post", decide_url(refund, action), DECISION_DATA[action]))
    return attempts


# What each role gets: a status for every attempt (by name), "*" for the rest.
SAME_CAMPUS = {
    "*": 302,  # the decisions: refused, back to the request page with the reason
    "queue": 200,
    "list": 200,
    "page": 200,
    "history": 200,
    "queue row": 302,  # on to the request page
    "bulk preview": 200,  # a confirmation page with nothing to approve
    "bulk approve": 302,
}
EXPECTED = {
    "supervisor": SAME_CAMPUS,
    "campus_head": SAME_CAMPUS,
    "finance": SAME_CAMPUS,
    "operations": SAME_CAMPUS,
    "service": SAME_CAMPUS,
    "quality": SAME_CAMPUS,
    # Head office sees every campus, but decides nothing at another campus (the services refuse it).
    "other_campus_operations": SAME_CAMPUS,
    "other_campus_homeroom": {
        "*": 404,
        "queue": 200,
        "list": 200,
        "bulk preview": 200,  # nothing selected of hers: an empty confirmation
        "bulk approve": 302,
    },
    "outsider": {"*": 302},  # to the admin login
    "staff_without_role": {"*": 403},
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_every_view_and_action_refused_or_limited_changes_nothing(client, refund, users, role):
    client.force_login(users[role])
    expected = EXPECTED[role]
    before = footprint(refund.pk)
    for name, method, url, data in _attempts(refund):
        response = getattr(client, method)(url, data or {})
        wanted = expected.get(name, expected["*"])
        assert response.status_code == wanted, f"{role} {name}: {response.status_code}, not {wanted}"
        if role == "outsider":
            assert response["Location"].startswith(LOGIN), f"{name}: {response['Location']}"
        elif wanted == 302 and (name == "queue row" or name.split()[0] in DECISIONS):
            assert response["Location"] == page_url(refund), f"{name}: {response['Location']}"
        assert footprint(refund.pk) == before, f"{role} {name} changed the request"
        if name in ("queue", "list", "bulk preview") and wanted == 200 and role == "other_campus_homeroom":
            assert refund.request_no not in response.content.decode(), f"{role} sees it in the {name}"
        if name == "queue" and wanted == 200:
            assert refund.request_no not in response.content.decode(), f"{role} has it in her queue"


def test_the_homeroom_teacher_sees_everything_and_may_decide(client, refund, homeroom):
    client.force_login(homeroom.user)
    for name, method, url, _data in _attempts(refund):
        if method == "get":
            response = client.get(url)
            assert response.status_code in (200, 302), name
            if name == "queue":
                assert refund.request_no in response.content.decode()
    response = client.post(QUEUE_URL, bulk_data(refund, confirm=False))
    assert [item.request for item in response.context["eligible"]] == [refund]


@pytest.mark.parametrize("action", DECISIONS)
def test_the_homeroom_teacher_may_take_each_decision(client, refund, homeroom, action):
    client.force_login(homeroom.user)
    response = client.post(decide_url(refund, action), DECISION_DATA[action] | {"amount": "200.00"})
    assert response.status_code == 302
    refund.refresh_from_db()
    expected = {
        APPROVE: RefundStatus.APPROVED,  # small: the automatic check passed
        REJECT: RefundStatus.REJECTED,
        RETURN: RefundStatus.NEEDS_INFO,
        ADJUST: RefundStatus.PENDING_HOMEROOM,
    }[action]
    assert refund.status == expected


def test_another_campus_request_is_missing_from_her_list(client, refund, other_campus_homeroom, operations):
    client.force_login(other_campus_homeroom.user)
    assert refund.request_no not in client.get(LIST_URL).content.decode()
    client.force_login(operations.user)  # head office: every campus
    assert refund.request_no in client.get(LIST_URL).content.decode()


def test_the_queue_of_another_campus_holds_none_of_ours(client, refund, other_campus, student):
    other_homeroom = factories.make_staff(role=StaffRole.HOMEROOM, campus=other_campus)
    client.force_login(other_homeroom.user)
    assert refund.request_no not in client.get(QUEUE_URL).content.decode()


def test_a_superuser_without_a_staff_row_sees_but_cannot_decide(admin_client, refund):
    before = footprint(refund.pk)
    assert admin_client.get(page_url(refund)).status_code == 200
    assert admin_client.get(decide_url(refund, APPROVE)).status_code == 302
    assert admin_client.post(decide_url(refund, APPROVE), {"comment": ""}).status_code == 302
    assert footprint(refund.pk) == before


RECORD_LISTS = ("approvalstep", "refundtransition", "refundevent", "refundevidence")


@pytest.mark.parametrize("model", RECORD_LISTS)
def test_campus_staff_open_the_lifecycle_records_of_their_campus_only(
    client, refund, homeroom, other_campus_homeroom, model
):
    url = f"/admin/refunds/{model}/"
    client.force_login(homeroom.user)
    response = client.get(url)
    assert response.status_code == 200
    client.force_login(other_campus_homeroom.user)
    response = client.get(url)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


STEPS_LIST_QUERIES = 7  # session, user, 2 permissions, staff (campus scope), count, rows with their people


@pytest.mark.parametrize("count", [2, 20])
def test_the_steps_list_takes_a_fixed_number_of_queries(
    client, student, homeroom, supervisor, campus, count, django_assert_num_queries
):
    for made in submitted(student=student, homeroom=homeroom, campus=campus, count=count):
        refund_approve(request_id=made.pk, actor=homeroom.user)  # a decided step and an open one each
    client.force_login(supervisor.user)
    client.get("/admin/refunds/approvalstep/")
    with django_assert_num_queries(STEPS_LIST_QUERIES):
        response = client.get("/admin/refunds/approvalstep/")
    assert len(response.context["cl"].result_list) == 2 * count
