"""Refund requests in the admin: read-only records, campus-scoped; settings edited by operations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from refunds.models import ApprovalSettings, RefundRequest, RefundStatus

from .helpers import order_at, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_(student, homeroom, campus):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))


def _settings_form(campus, **overrides) -> dict:
    """The approval-settings admin form, filled in; ``overrides`` change single fields."""
    data = {
        "campus": campus.pk,
        "small_below": "300.00",
        "large_above": "3000.00",
        "service_limit": "100.00",
        "auto_max_progress": "20",
        "auto_max_recent_refunds": "1",
        "risk_refunds_per_year": "3",
        "appeal_days": "7",
        "needs_info_days": "14",
        "exchange_head_above": "2000.00",
        **{
            f"sla_{tier}_hours": "24"
            for tier in ("service", "homeroom", "quality", "supervisor", "campus_head", "finance")
        },
    }
    return {**data, **overrides}


def _url(view: str, *args) -> str:
    return reverse(f"admin:refunds_refundrequest_{view}", args=args)


def test_staff_of_the_campus_see_the_request_with_its_route_and_log(client, request_, homeroom):
    client.force_login(homeroom.user)
    page = client.get(_url("change", request_.pk)).content.decode()
    assert request_.request_no in page
    assert "submit" in page  # the transition log inline
    assert client.get(_url("history", request_.pk)).status_code == 200


@pytest.mark.parametrize("view", ["change", "history"])
def test_staff_of_another_campus_get_404(client, request_, other_campus_homeroom, view):
    client.force_login(other_campus_homeroom.user)
    assert client.get(_url(view, request_.pk)).status_code == 404
    assert request_.request_no not in client.get(_url("changelist")).content.decode()


def test_nobody_edits_the_status_by_hand(admin_client, request_):
    response = admin_client.post(_url("change", request_.pk), {"status": RefundStatus.APPROVED})
    assert response.status_code == 403
    assert RefundRequest.objects.get(pk=request_.pk).status == RefundStatus.PENDING_HOMEROOM


def test_operations_set_a_campus_thresholds(client, operations, campus):
    client.force_login(operations.user)
    response = client.post(reverse("admin:refunds_approvalsettings_add"), _settings_form(campus))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ApprovalSettings.objects.get(campus=campus).large_above == 3000


def test_thresholds_in_the_wrong_order_are_refused_on_the_field(client, operations, campus):
    client.force_login(operations.user)
    data = _settings_form(campus, small_below="3000.00", large_above="300.00")
    response = client.post(reverse("admin:refunds_approvalsettings_add"), data)
    assert response.status_code == 200
    assert "large_above" in response.context["adminform"].form.errors
    assert not ApprovalSettings.objects.exists()


def test_a_teacher_cannot_change_the_thresholds(client, homeroom, campus):
    client.force_login(homeroom.user)
    assert client.get(reverse("admin:refunds_approvalsettings_add")).status_code == 403
