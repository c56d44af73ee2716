"""The service that gives a staff row its role, campus and account: who may, and what it records."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from schoolops.models import Staff, StaffRole
from schoolops.services import staff_delegate_set, staff_role_set
from tests import factories

pytestmark = pytest.mark.django_db


def _assignment(staff: Staff) -> tuple:
    staff.refresh_from_db()
    return staff.user_id, staff.role, staff.campus_id


@pytest.fixture
def role_admin(campus):
    """A staff member trusted with roles (the permission given directly: no role holds it)."""
    staff = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus, name="人事")
    staff.user.user_permissions.add(Permission.objects.get(codename="change_staff_role"))
    return staff


def test_the_service_changes_role_and_campus_and_names_the_actor(role_admin, homeroom, other_campus):
    staff_role_set(staff=homeroom, actor=role_admin.user, role=StaffRole.SUPERVISOR, campus=other_campus)
    assert _assignment(homeroom)[1:] == (StaffRole.SUPERVISOR, other_campus.pk)
    last = homeroom.history.order_by("-history_date", "-history_id").first()
    assert last.history_user_id == role_admin.user_id
    assert last.history_change_reason == f"role homeroom -> supervisor; campus north -> {other_campus.code}"


def test_the_service_refuses_the_delegate_of_the_actor(role_admin, homeroom):
    today = timezone.localdate()
    staff_delegate_set(staff=role_admin, delegate=homeroom, date_from=today, date_until=today)
    with pytest.raises(PermissionDenied):
        staff_role_set(staff=homeroom, actor=role_admin.user, role=StaffRole.FINANCE, campus=homeroom.campus)
    assert _assignment(homeroom)[1] == StaffRole.HOMEROOM


def test_the_holder_of_the_permission_cannot_change_the_role_of_someone_they_stand_in_for(role_admin, supervisor):
    today = timezone.localdate()
    staff_delegate_set(staff=supervisor, delegate=role_admin, date_from=today, date_until=today)
    with pytest.raises(PermissionDenied):
        staff_role_set(staff=supervisor, actor=role_admin.user, role=StaffRole.FINANCE, campus=supervisor.campus)
    assert _assignment(supervisor)[1] == StaffRole.SUPERVISOR


def test_the_service_refuses_someone_without_the_permission_and_changes_nothing(operations, homeroom, other_campus):
    with pytest.raises(PermissionDenied):
        staff_role_set(staff=homeroom, actor=operations.user, role=StaffRole.FINANCE, campus=other_campus)
    assert _assignment(homeroom)[1:] == (StaffRole.HOMEROOM, homeroom.campus_id)


def test_the_service_refuses_ones_own_row_even_to_a_superuser(campus):
    boss = factories.make_staff(role=StaffRole.OPERATIONS, campus=campus)
    boss.user.is_superuser = True
    boss.user.save()
    with pytest.raises(PermissionDenied):
        staff_role_set(staff=boss, actor=boss.user, role=StaffRole.FINANCE, campus=campus)
    assert _assignment(boss)[1] == StaffRole.OPERATIONS


def test_the_service_refuses_to_move_a_role_onto_the_actors_own_account(admin_user, finance, campus):
    with pytest.raises(PermissionDenied):
        staff_role_set(staff=finance, actor=admin_user, role=finance.role, campus=campus, user=admin_user)
    assert _assignment(finance)[0] != admin_user.pk


def test_the_service_refuses_a_campus_that_rules_out_the_delegate(role_admin, homeroom, supervisor, other_campus):
    today = timezone.localdate()
    staff_delegate_set(staff=homeroom, delegate=supervisor, date_from=today, date_until=today)
    with pytest.raises(ValidationError) as excinfo:
        staff_role_set(staff=homeroom, actor=role_admin.user, role=homeroom.role, campus=other_campus)
    assert "delegate" in excinfo.value.message_dict
    assert _assignment(homeroom)[2] == homeroom.campus_id
