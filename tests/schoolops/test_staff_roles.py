"""Which role, campus and account a staff row gives is its own permission, never over one's own row."""

from __future__ import annotations

import datetime
import logging

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from schoolops.models import Staff, StaffRole, User
from schoolops.roles import role_group_name
from schoolops.services import staff_delegate_set
from tests import factories

pytestmark = pytest.mark.django_db

FINANCE_ONLY = "payments.record_transfer"


def _change(staff: Staff) -> str:
    return reverse("admin:schoolops_staff_change", args=[staff.pk])


def _staff_form(staff: Staff, **changes) -> dict:
    data = {
        "user": str(staff.user_id),
        "role": staff.role,
        "campus": str(staff.campus_id),
        "manager": str(staff.manager_id or ""),
        "delegate": str(staff.delegate_id or ""),
        "delegate_from": staff.delegate_from.isoformat() if staff.delegate_from else "",
        "delegate_until": staff.delegate_until.isoformat() if staff.delegate_until else "",
    }
    return {**data, **changes}


def _assignment(staff: Staff) -> tuple:
    staff.refresh_from_db()
    return staff.user_id, staff.role, staff.campus_id


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def role_admin(campus):
    """A staff member trusted with roles (the permission given directly: no role holds it)."""
    staff = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus, name="人事")
    _grant(staff.user, "change_staff_role", "change_staff", "view_staff", "add_staff")
    return staff


# --- The self-promotion of the issue ------------------------------------------------------------


def test_operations_cannot_make_themselves_finance_of_another_campus(client, operations, other_campus):
    client.force_login(operations.user)
    before = _assignment(operations)
    client.post(_change(operations), _staff_form(operations, role=StaffRole.FINANCE, campus=str(other_campus.pk)))
    assert _assignment(operations) == before
    assert not User.objects.get(pk=operations.user_id).has_perm(FINANCE_ONLY)


def test_on_ones_own_row_role_campus_and_account_are_read_only_even_for_a_superuser(client, campus, other_campus):
    boss = factories.make_staff(role=StaffRole.OPERATIONS, campus=campus)
    boss.user.is_superuser = True
    boss.user.save()
    client.force_login(boss.user)
    form = client.get(_change(boss)).context["adminform"].form
    assert not {"user", "role", "campus"} & set(form.fields)
    before = _assignment(boss)
    client.post(_change(boss), _staff_form(boss, role=StaffRole.FINANCE, campus=str(other_campus.pk)))
    assert _assignment(boss) == before


def test_operations_change_nobodys_role_campus_or_account(client, operations, homeroom, other_campus, outsider):
    client.force_login(operations.user)
    before = _assignment(homeroom)
    for change in ({"role": StaffRole.FINANCE}, {"campus": str(other_campus.pk)}, {"user": str(outsider.pk)}):
        client.post(_change(homeroom), _staff_form(homeroom, **change))
        assert _assignment(homeroom) == before
    form = client.get(_change(homeroom)).context["adminform"].form
    assert not {"user", "role", "campus"} & set(form.fields)
    assert "manager" in form.fields


def test_reverting_to_an_old_version_does_not_bring_back_its_role(client, operations, homeroom, admin_client):
    admin_client.post(_change(homeroom), _staff_form(homeroom, role=StaffRole.FINANCE))
    admin_client.post(_change(homeroom), _staff_form(homeroom, role=StaffRole.HOMEROOM))
    as_finance = homeroom.history.filter(role=StaffRole.FINANCE).get()
    assert _assignment(homeroom)[1] == StaffRole.HOMEROOM
    client.force_login(operations.user)
    revert = reverse("admin:schoolops_staff_simple_history", args=[homeroom.pk, as_finance.history_id])
    response = client.post(revert, _staff_form(homeroom))
    assert response.status_code == 403
    assert _assignment(homeroom)[1] == StaffRole.HOMEROOM


def test_no_role_holds_the_permission_to_assign_roles(db):
    holders = Group.objects.filter(permissions__codename="change_staff_role")
    assert list(holders) == []


def test_operations_no_longer_add_staff_since_a_new_row_gives_a_role(client, operations):
    client.force_login(operations.user)
    assert client.get(reverse("admin:schoolops_staff_add")).status_code == 403


# --- Those who may: another person's row, recorded ------------------------------------------------


def test_a_superuser_changes_someones_role_and_campus_and_the_history_says_who_and_what(
    admin_client, admin_user, homeroom, other_campus, caplog
):
    with caplog.at_level(logging.INFO, logger="schoolops.services"):
        response = admin_client.post(
            _change(homeroom), _staff_form(homeroom, role=StaffRole.FINANCE, campus=str(other_campus.pk))
        )
    assert response.status_code == 302
    assert _assignment(homeroom)[1:] == (StaffRole.FINANCE, other_campus.pk)
    last = homeroom.history.order_by("-history_date", "-history_id").first()
    assert last.history_user_id == admin_user.pk
    assert last.history_change_reason == f"role homeroom -> finance; campus north -> {other_campus.code}"
    assert (last.role, last.campus_id) == (StaffRole.FINANCE, other_campus.pk)
    assert set(homeroom.user.groups.values_list("name", flat=True)) == {role_group_name(StaffRole.FINANCE)}
    assert f"Staff role changed by {admin_user.username} for staff #{homeroom.pk}" in caplog.text


def test_the_holder_of_the_permission_changes_a_colleagues_role(client, role_admin, homeroom):
    client.force_login(role_admin.user)
    assert client.post(_change(homeroom), _staff_form(homeroom, role=StaffRole.SUPERVISOR)).status_code == 302
    assert _assignment(homeroom)[1] == StaffRole.SUPERVISOR


def test_the_holder_of_the_permission_cannot_change_their_delegates_role(client, role_admin, homeroom):
    today = timezone.localdate()
    staff_delegate_set(staff=role_admin, delegate=homeroom, date_from=today, date_until=today)
    client.force_login(role_admin.user)
    before = _assignment(homeroom)
    client.post(_change(homeroom), _staff_form(homeroom, role=StaffRole.FINANCE))
    assert _assignment(homeroom) == before


def test_a_superuser_adds_staff_and_the_history_names_them(admin_client, admin_user, campus, outsider):
    data = {"user": str(outsider.pk), "role": StaffRole.FINANCE, "campus": str(campus.pk), "manager": ""}
    data |= {"delegate": "", "delegate_from": "", "delegate_until": ""}
    assert admin_client.post(reverse("admin:schoolops_staff_add"), data).status_code == 302
    staff = Staff.objects.get(user=outsider)
    first = staff.history.get()
    assert first.history_user_id == admin_user.pk
    assert first.history_change_reason.startswith("added: role finance")


def test_nobody_gives_themselves_a_staff_row(client, campus):
    boss = factories.make_user(is_staff=True, is_superuser=True)
    client.force_login(boss)
    data = {"user": str(boss.pk), "role": StaffRole.FINANCE, "campus": str(campus.pk), "manager": ""}
    data |= {"delegate": "", "delegate_from": "", "delegate_until": ""}
    response = client.post(reverse("admin:schoolops_staff_add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert not Staff.objects.filter(user=boss).exists()


# --- The user admin and the "my delegate" page ----------------------------------------------------


def _user_form(user, **changes) -> dict:
    now = timezone.localtime(user.date_joined)
    data = {
        "username": user.username,
        "name": user.name,
        "phone": user.phone or "",
        "email": user.email,
        "is_active": "on",
        "date_joined_0": now.date().isoformat(),
        "date_joined_1": now.time().strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
    }
    return {**data, **changes}


def _user_change(user) -> str:
    return reverse("admin:schoolops_user_change", args=[user.pk])


def test_a_superuser_cannot_change_their_own_flags_groups_or_permissions(admin_client, admin_user):
    form = admin_client.get(_user_change(admin_user)).context["adminform"].form
    assert not {"is_staff", "is_superuser", "groups", "user_permissions"} & set(form.fields)
    admin_client.post(_user_change(admin_user), _user_form(admin_user))  # the boxes left unticked
    admin_user.refresh_from_db()
    assert admin_user.is_superuser and admin_user.is_staff


def test_a_superuser_still_grants_permissions_to_someone_else(admin_client, outsider):
    group = Group.objects.get(name=role_group_name(StaffRole.FINANCE))
    response = admin_client.post(_user_change(outsider), _user_form(outsider, is_staff="on", groups=[str(group.pk)]))
    assert response.status_code == 302
    outsider.refresh_from_db()
    assert outsider.is_staff
    assert list(outsider.groups.all()) == [group]


@pytest.fixture
def user_clerk(homeroom):
    """A staff member allowed to edit accounts, but no superuser."""
    _grant(homeroom.user, "view_user", "change_user")
    return homeroom


def test_someone_who_edits_accounts_grants_no_flag_group_or_permission_to_themselves(client, user_clerk):
    client.force_login(user_clerk.user)
    user = user_clerk.user
    finance = Group.objects.get(name=role_group_name(StaffRole.FINANCE))
    perm = Permission.objects.get(codename="change_staff_role")
    client.post(
        _user_change(user),
        _user_form(user, is_staff="on", is_superuser="on", groups=[str(finance.pk)], user_permissions=[str(perm.pk)]),
    )
    user.refresh_from_db()
    assert not user.is_superuser
    assert not user.groups.filter(pk=finance.pk).exists()
    assert not user.user_permissions.filter(pk=perm.pk).exists()


def test_someone_who_edits_accounts_grants_nothing_to_others_either(client, user_clerk, outsider):
    client.force_login(user_clerk.user)
    client.post(_user_change(outsider), _user_form(outsider, is_staff="on", is_superuser="on"))
    outsider.refresh_from_db()
    assert not outsider.is_superuser
    assert not outsider.is_staff


def test_someone_who_edits_accounts_cannot_touch_a_superusers_account_or_password(client, user_clerk, admin_user):
    client.force_login(user_clerk.user)
    assert client.post(_user_change(admin_user), _user_form(admin_user, username="taken")).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.username != "taken"
    password = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    response = client.post(password, {"password1": "Another-pass-123", "password2": "Another-pass-123"})
    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert not admin_user.check_password("Another-pass-123")


def test_the_my_delegate_page_changes_no_role_or_campus(client, homeroom, other_campus):
    client.force_login(homeroom.user)
    url = reverse("admin:schoolops_staff_my_delegate")
    until = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    client.post(url, {"delegate": "", "delegate_until": until, "role": "finance", "campus": str(other_campus.pk)})
    assert _assignment(homeroom)[1:] == (StaffRole.HOMEROOM, homeroom.campus_id)
