"""Staff roles, groups, managers and out-of-office delegates."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from schoolops.models import Staff, StaffRole
from schoolops.roles import ROLE_PERMISSIONS, role_group_name
from tests import factories


def test_every_role_has_a_group_with_its_permissions(db):
    for role in StaffRole.values:
        group = Group.objects.get(name=role_group_name(role))
        perms = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert perms == set(ROLE_PERMISSIONS[role])


def test_new_staff_member_gets_admin_access_and_exactly_their_role_group(homeroom):
    homeroom.user.refresh_from_db()
    assert homeroom.user.is_staff
    assert list(homeroom.user.groups.values_list("name", flat=True)) == [role_group_name(StaffRole.HOMEROOM)]
    assert homeroom.user.has_perm("orders.view_order")
    assert not homeroom.user.has_perm("orders.change_course")


def test_changing_a_role_moves_the_user_to_the_new_group(homeroom):
    homeroom.role = StaffRole.OPERATIONS
    homeroom.save()
    names = set(homeroom.user.groups.values_list("name", flat=True))
    assert names == {role_group_name(StaffRole.OPERATIONS)}


def test_operations_may_see_every_campus_and_a_teacher_may_not(operations, homeroom):
    assert operations.user.has_perm("schoolops.view_all_campuses")
    assert not homeroom.user.has_perm("schoolops.view_all_campuses")


def test_delegate_without_dates_is_refused_by_the_database(homeroom, supervisor):
    with pytest.raises(IntegrityError), transaction.atomic():
        Staff.objects.filter(pk=homeroom.pk).update(delegate=supervisor)


def test_delegate_range_ending_before_it_starts_is_a_clear_error(homeroom, supervisor):
    homeroom.delegate = supervisor
    homeroom.delegate_from = datetime.date(2026, 12, 10)
    homeroom.delegate_until = datetime.date(2026, 12, 1)
    with pytest.raises(ValidationError) as excinfo:
        homeroom.full_clean()
    assert "delegate_until" in excinfo.value.message_dict


def test_staff_cannot_delegate_to_themselves(homeroom):
    homeroom.delegate = homeroom
    homeroom.delegate_from = homeroom.delegate_until = datetime.date(2026, 12, 1)
    with pytest.raises(ValidationError) as excinfo:
        homeroom.full_clean()
    assert "delegate" in excinfo.value.message_dict


@pytest.mark.parametrize(
    ("day", "acting"),
    [
        (datetime.date(2026, 11, 30), False),
        (datetime.date(2026, 12, 1), True),
        (datetime.date(2026, 12, 7), True),
        (datetime.date(2026, 12, 8), False),
    ],
)
def test_delegate_acts_only_inside_the_date_range(homeroom, campus, day, acting):
    stand_in = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus)
    homeroom.delegate = stand_in
    homeroom.delegate_from = datetime.date(2026, 12, 1)
    homeroom.delegate_until = datetime.date(2026, 12, 7)
    homeroom.save()
    assert (homeroom.active_delegate(on=day) == stand_in) is acting


def test_staff_history_records_each_change(homeroom, supervisor):
    homeroom.manager = None
    homeroom.save()
    assert homeroom.history.count() == 2
    assert homeroom.history.earliest().manager_id == supervisor.pk
