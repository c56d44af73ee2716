"""Every staff member sets their own out-of-office delegate; nobody else's, and only a colleague."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from refunds.selectors import refund_queue_for_staff
from schoolops.models import Staff, StaffRole
from schoolops.services import staff_delegate_set
from tests import factories
from tests.refunds.helpers import order_at, submit

pytestmark = pytest.mark.django_db

URL = reverse("admin:schoolops_staff_my_delegate")
TODAY = timezone.localdate


def _days(n: int) -> str:
    return (TODAY() + datetime.timedelta(days=n)).isoformat()


def _form(delegate, *, start: int = 0, end: int = 7, **extra) -> dict:
    return {
        "delegate": str(delegate.pk) if delegate else "",
        "delegate_from": _days(start),
        "delegate_until": _days(end),
        **extra,
    }


def _state(staff: Staff) -> tuple:
    staff.refresh_from_db()
    return staff.delegate_id, staff.delegate_from, staff.delegate_until


@pytest.fixture
def colleague(campus):
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, name="周老师")


@pytest.fixture
def logged_in(client, homeroom):
    client.force_login(homeroom.user)
    return client


# --- Setting and clearing -------------------------------------------------------------------


@pytest.mark.parametrize("role", StaffRole.values)
def test_every_role_sets_their_own_delegate(client, campus, colleague, role):
    staff = factories.make_staff(role=role, campus=campus)
    client.force_login(staff.user)
    assert client.get(URL).status_code == 200
    response = client.post(URL, _form(colleague, start=1, end=5))
    assert response.status_code == 302
    assert _state(staff) == (colleague.pk, TODAY() + datetime.timedelta(days=1), TODAY() + datetime.timedelta(days=5))


def test_the_change_is_in_the_staff_history_with_who_made_it(logged_in, homeroom, colleague):
    logged_in.post(URL, _form(colleague))
    record = homeroom.history.order_by("-history_date", "-history_id").first()
    assert record.delegate_id == colleague.pk
    assert record.history_user_id == homeroom.user_id
    assert record.history_change_reason == "delegate set"


def test_the_delegate_then_works_the_absent_persons_queue(logged_in, homeroom, colleague, student, campus):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    assert not refund_queue_for_staff(user=colleague.user).filter(pk=request.pk).exists()
    logged_in.post(URL, _form(colleague, start=0, end=3))
    assert refund_queue_for_staff(user=colleague.user).filter(pk=request.pk).exists()


def test_clearing_removes_the_delegate_and_the_dates(logged_in, homeroom, colleague):
    logged_in.post(URL, _form(colleague))
    response = logged_in.post(URL, {"clear": "1", "delegate": "", "delegate_from": "", "delegate_until": ""})
    assert response.status_code == 302
    assert _state(homeroom) == (None, None, None)
    assert homeroom.history.order_by("-history_date", "-history_id").first().history_change_reason == (
        "delegate cleared"
    )


def test_an_empty_form_clears_too(logged_in, homeroom, colleague):
    logged_in.post(URL, _form(colleague))
    response = logged_in.post(URL, {"delegate": "", "delegate_from": "", "delegate_until": ""})
    assert response.status_code == 302
    assert _state(homeroom) == (None, None, None)


def test_the_page_shows_the_current_delegation_and_whom_one_stands_in_for(client, homeroom, colleague):
    staff_delegate_set(
        staff=homeroom, delegate=colleague, date_from=TODAY(), date_until=TODAY() + datetime.timedelta(days=2)
    )
    client.force_login(homeroom.user)
    page = client.get(URL).content.decode()
    assert colleague.user.name in page
    client.force_login(colleague.user)
    response = client.get(URL)
    assert list(response.context["standing_in_for"]) == [homeroom]
    assert homeroom.user.name in response.content.decode()


# --- What can be chosen -----------------------------------------------------------------------


def test_only_active_colleagues_of_the_same_campus_are_offered(
    logged_in, homeroom, colleague, supervisor, other_campus_homeroom, campus
):
    gone = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus)
    gone.user.is_active = False
    gone.user.save()
    offered = set(logged_in.get(URL).context["form"].fields["delegate"].queryset)
    assert colleague in offered
    assert supervisor in offered
    assert homeroom not in offered
    assert other_campus_homeroom not in offered
    assert gone not in offered


@pytest.mark.parametrize(
    ("who", "field"),
    [
        ("other_campus", "delegate"),
        ("inactive", "delegate"),
        ("self", "delegate"),
    ],
)
def test_a_delegate_who_cannot_act_is_refused_and_nothing_changes(
    logged_in, homeroom, other_campus_homeroom, who, field
):
    if who == "other_campus":
        candidate = other_campus_homeroom
    elif who == "self":
        candidate = homeroom
    else:
        candidate = factories.make_staff(role=StaffRole.HOMEROOM, campus=homeroom.campus)
        candidate.user.is_active = False
        candidate.user.save()
    response = logged_in.post(URL, _form(candidate))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert _state(homeroom) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"delegate_from": _days(5), "delegate_until": _days(2)}, "delegate_until"),
        ({"delegate_from": "", "delegate_until": _days(2)}, "delegate_from"),
        ({"delegate_from": _days(0), "delegate_until": ""}, "delegate_until"),
        ({"delegate_from": _days(-9), "delegate_until": _days(-2)}, "delegate_until"),
        ({"delegate_from": "2026-13-01", "delegate_until": _days(2)}, "delegate_from"),
    ],
    ids=["end-before-start", "no-start", "no-end", "already-over", "not-a-date"],
)
def test_dates_that_make_no_delegation_are_refused_on_their_field(logged_in, homeroom, colleague, data, field):
    response = logged_in.post(URL, {"delegate": str(colleague.pk), **data})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert _state(homeroom) == (None, None, None)


def test_dates_without_a_delegate_are_refused(logged_in, homeroom):
    response = logged_in.post(URL, _form(None))
    assert response.status_code == 200
    assert "delegate" in response.context["form"].errors
    assert _state(homeroom) == (None, None, None)


# --- Nobody else's delegation -----------------------------------------------------------------


def test_posting_someone_elses_ids_changes_only_ones_own_row(logged_in, homeroom, colleague, supervisor):
    logged_in.post(URL, _form(colleague, staff=str(supervisor.pk), user=str(supervisor.user_id), id=str(supervisor.pk)))
    assert _state(supervisor) == (None, None, None)
    assert _state(homeroom)[0] == colleague.pk


def test_staff_of_another_campus_cannot_open_or_change_a_colleagues_staff_page(
    client, homeroom, colleague, other_campus_homeroom
):
    client.force_login(other_campus_homeroom.user)
    change = reverse("admin:schoolops_staff_change", args=[homeroom.pk])
    assert client.get(change).status_code == 404
    # Without the change permission the admin refuses a POST before it looks the row up.
    assert client.post(change, {"delegate": str(colleague.pk)}).status_code in (403, 404)
    assert _state(homeroom) == (None, None, None)


def test_a_teacher_cannot_change_a_colleagues_staff_row_in_the_staff_admin(logged_in, homeroom, colleague, supervisor):
    change = reverse("admin:schoolops_staff_change", args=[colleague.pk])
    response = logged_in.post(change, {"delegate": str(supervisor.pk), "delegate_from": _days(0)})
    assert response.status_code == 403
    assert _state(colleague) == (None, None, None)


def test_the_form_needs_its_csrf_token(homeroom, colleague):
    client = Client(enforce_csrf_checks=True)
    client.force_login(homeroom.user)
    assert client.post(URL, _form(colleague)).status_code == 403
    assert _state(homeroom) == (None, None, None)
    page = client.get(URL).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_someone_who_is_not_staff_is_sent_to_the_login_page(client, outsider, homeroom, colleague):
    client.force_login(outsider)
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert client.post(URL, _form(colleague)).status_code == 302


def test_an_admin_account_without_a_staff_row_gets_403(client, db):
    user = factories.make_user(is_staff=True)
    client.force_login(user)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"delegate": ""}).status_code == 403


# --- Operations, through the staff admin --------------------------------------------------------


def _staff_form(staff: Staff, **changes) -> dict:
    data = {
        "user": str(staff.user_id),
        "role": staff.role,
        "campus": str(staff.campus_id),
        "manager": str(staff.manager_id or ""),
        "delegate": "",
        "delegate_from": "",
        "delegate_until": "",
    }
    return {**data, **changes}


def test_operations_set_anyones_delegate_in_the_staff_admin(client, operations, homeroom, colleague):
    client.force_login(operations.user)
    change = reverse("admin:schoolops_staff_change", args=[homeroom.pk])
    data = _staff_form(homeroom, delegate=str(colleague.pk), delegate_from=_days(0), delegate_until=_days(3))
    response = client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert _state(homeroom)[0] == colleague.pk


def test_the_staff_admin_refuses_a_delegate_of_another_campus(client, operations, homeroom, other_campus_homeroom):
    client.force_login(operations.user)
    change = reverse("admin:schoolops_staff_change", args=[homeroom.pk])
    data = _staff_form(
        homeroom, delegate=str(other_campus_homeroom.pk), delegate_from=_days(0), delegate_until=_days(3)
    )
    response = client.post(change, data)
    assert response.status_code == 200
    assert "delegate" in response.context["adminform"].form.errors
    assert _state(homeroom) == (None, None, None)


def test_the_staff_admin_still_saves_other_changes_of_a_row_with_a_delegate(
    client, operations, homeroom, colleague, campus_head
):
    staff_delegate_set(staff=homeroom, delegate=colleague, date_from=TODAY(), date_until=TODAY())
    client.force_login(operations.user)
    change = reverse("admin:schoolops_staff_change", args=[homeroom.pk])
    data = _staff_form(
        homeroom,
        manager=str(campus_head.pk),
        delegate=str(colleague.pk),
        delegate_from=_days(0),
        delegate_until=_days(0),
    )
    assert client.post(change, data).status_code == 302
    homeroom.refresh_from_db()
    assert homeroom.manager_id == campus_head.pk


# --- Reachable --------------------------------------------------------------------------------


def test_the_page_is_linked_from_the_admin_home_and_every_pages_user_links(logged_in):
    home = logged_in.get(reverse("admin:index")).content.decode()
    assert f'href="{URL}"' in home
    other = logged_in.get(reverse("admin:schoolops_staff_changelist")).content.decode()
    tools = other[other.index('id="user-tools"') :]
    assert f'href="{URL}"' in tools[: tools.index("</div>")]


# --- The service itself -----------------------------------------------------------------------


def test_the_service_refuses_a_colleague_of_another_campus(homeroom, other_campus_homeroom):
    with pytest.raises(ValidationError) as excinfo:
        staff_delegate_set(staff=homeroom, delegate=other_campus_homeroom, date_from=TODAY(), date_until=TODAY())
    assert "delegate" in excinfo.value.message_dict
    assert _state(homeroom) == (None, None, None)


def test_the_service_names_the_actor_in_the_history(homeroom, colleague, operations):
    staff_delegate_set(staff=homeroom, delegate=colleague, date_from=TODAY(), date_until=TODAY(), actor=operations.user)
    assert homeroom.history.order_by("-history_date", "-history_id").first().history_user_id == operations.user_id
