"""Failed log-ins are throttled per account and per address, on the student and the admin log-in."""

from __future__ import annotations

import datetime
import logging

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.factories import PASSWORD

LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")
CHINESE_MESSAGE = "登录失败次数过多"
ENGLISH_MESSAGE = "Too many failed log-in attempts"


WRONG = "wrong-password"


def _try(client, username: str, password: str = WRONG, *, url: str = LOGIN, address: str = "10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def _attempts() -> str:
    return reverse("admin:axes_accessattempt_changelist")


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client, username: str, times: int, **kwargs) -> None:
    for _ in range(times):
        _try(client, username, **kwargs)


def _accounts(n: int) -> list[str]:
    return [factories.make_user(phone=f"1390000{i:04d}").phone for i in range(n)]


# --- The account ----------------------------------------------------------------------------


def test_thirty_wrong_passwords_then_the_right_one_does_not_let_a_student_in(client, student):
    _fail(client, student.phone, 30)
    response = _try(client, student.phone, PASSWORD)
    assert response.status_code == 429
    assert not _logged_in(client)


def test_thirty_wrong_passwords_then_the_right_one_does_not_let_staff_into_the_admin(client, homeroom):
    _fail(client, homeroom.user.username, 30, url=ADMIN_LOGIN)
    response = _try(client, homeroom.user.username, PASSWORD, url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert not _logged_in(client)
    assert client.get(reverse("admin:index")).status_code == 302


def test_fewer_failures_than_the_limit_lock_nothing(client, student, settings):
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT - 1)
    assert _try(client, student.phone, PASSWORD).status_code == 302
    assert _logged_in(client)


def test_a_locked_account_is_locked_from_every_address(client, student, settings):
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT, address="10.0.0.1")
    assert _try(client, student.phone, PASSWORD, address="172.16.5.9").status_code == 429
    assert not _logged_in(client)


def test_typing_the_username_instead_of_the_phone_buys_no_extra_attempts(client, student, settings):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _try(client, student.phone if i % 2 else f" {student.user.username} ")
    assert _try(client, student.user.username, PASSWORD).status_code == 429
    assert not _logged_in(client)
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {student.user.username}


def test_a_success_clears_the_accounts_failures(client, student, settings):
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT - 1)
    assert _try(client, student.phone, PASSWORD).status_code == 302
    client.logout()
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT - 1)
    assert _try(client, student.phone, PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(client, student, settings):
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT)
    AccessAttempt.objects.update(attempt_time=datetime.datetime.now(datetime.UTC) - settings.AXES_COOLOFF_TIME)
    assert _try(client, student.phone, PASSWORD).status_code == 302


# --- The address ------------------------------------------------------------------------------


def test_spraying_many_accounts_from_one_address_locks_the_address(client, student, settings):
    for phone in _accounts(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        _try(client, phone, address="203.0.113.7")
    assert _try(client, student.phone, PASSWORD, address="203.0.113.7").status_code == 429
    assert not _logged_in(client)
    # The accounts themselves are not locked: from elsewhere the student walks in.
    assert _try(client, student.phone, PASSWORD, address="198.51.100.2").status_code == 302


def test_a_campus_behind_one_address_is_not_locked_by_a_few_typos(client, student, settings):
    for phone in _accounts(settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        _try(client, phone)
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT
    assert _try(client, student.phone, PASSWORD).status_code == 302


def test_logging_into_ones_own_account_does_not_clear_the_addresss_failures(client, student, settings):
    attacker = factories.make_user(phone="13700000001")
    for phone in _accounts(settings.LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        _try(client, phone)
    assert _try(client, attacker.phone, PASSWORD).status_code == 302
    client.logout()
    _try(client, "13900009999")
    assert _try(client, student.phone, PASSWORD).status_code == 429


def test_behind_the_proxy_the_address_is_the_one_it_saw_not_what_the_client_wrote(client, student, settings):
    settings.LOGIN_TRUSTED_PROXY_COUNT = 1
    for i in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(
            LOGIN,
            {"username": student.phone, "password": WRONG},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 198.51.100.23",
        )
    assert set(AccessFailureLog.objects.values_list("ip_address", flat=True)) == {"198.51.100.23"}
    settings.LOGIN_TRUSTED_PROXY_COUNT = 0
    _try(client, student.phone, address="10.9.9.9")
    assert AccessFailureLog.objects.filter(ip_address="10.9.9.9").count() == 1


# --- What the locked-out visitor sees -----------------------------------------------------------


def test_the_lockout_page_is_the_login_form_with_a_chinese_message(client, student, settings):
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT)
    response = _try(client, student.phone, PASSWORD)
    page = response.content.decode()
    assert response.status_code == 429
    assert CHINESE_MESSAGE in page
    assert f"{int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} 分钟" in page
    assert 'name="password"' in page
    assert 'name="username"' in page


def test_the_lockout_message_is_in_english_when_english_is_chosen(client, student, settings):
    client.cookies["django_language"] = "en"
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT)
    page = _try(client, student.phone, PASSWORD).content.decode()
    assert ENGLISH_MESSAGE in page
    assert CHINESE_MESSAGE not in page


def test_the_admin_lockout_page_is_the_admin_login_form_with_the_message(client, homeroom, settings):
    _fail(client, homeroom.user.username, settings.AXES_FAILURE_LIMIT, url=ADMIN_LOGIN)
    response = _try(client, homeroom.user.username, PASSWORD, url=ADMIN_LOGIN)
    page = response.content.decode()
    assert response.status_code == 429
    assert CHINESE_MESSAGE in page
    assert 'id="login-form"' in page


# --- The record and unlocking -------------------------------------------------------------------


def test_every_failure_is_in_the_access_failure_log_and_the_lockout_is_logged(client, student, settings, caplog):
    with caplog.at_level(logging.WARNING, logger="schoolops.auth"):
        _fail(client, student.phone, settings.AXES_FAILURE_LIMIT)
    failures = AccessFailureLog.objects.filter(username=student.user.username).order_by("attempt_time", "pk")
    assert failures.count() == settings.AXES_FAILURE_LIMIT
    assert [f.locked_out for f in failures][-2:] == [False, True]
    assert {f.ip_address for f in failures} == {"10.0.0.1"}
    assert f"Login locked out: account={student.user.username} address=10.0.0.1" in caplog.text


def test_a_success_is_in_the_access_log(client, student):
    _try(client, student.phone, PASSWORD)
    assert AccessLog.objects.filter(username=student.user.username, ip_address="10.0.0.1").count() == 1


@pytest.fixture
def locked_student(client, student, settings):
    _fail(client, student.phone, settings.AXES_FAILURE_LIMIT)
    assert _try(client, student.phone, PASSWORD).status_code == 429
    return student


def test_operations_unlock_an_account_and_the_student_walks_in(client, locked_student, operations):
    staff = Client()
    staff.force_login(operations.user)
    listing = staff.get(_attempts(), {"q": locked_student.phone})
    assert listing.status_code == 200
    attempt = AccessAttempt.objects.get(username=locked_student.user.username)
    assert attempt in listing.context["cl"].result_list
    response = staff.post(_attempts(), {"action": "unlock_accounts", "_selected_action": [str(attempt.pk)]})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert LogEntry.objects.filter(user=operations.user, action_flag=DELETION).exists()
    assert _try(client, locked_student.phone, PASSWORD).status_code == 302
    assert _logged_in(client)


def test_unlocking_an_address_lets_everyone_behind_it_in_again(client, student, operations, settings):
    for phone in _accounts(settings.LOGIN_ADDRESS_FAILURE_LIMIT):
        _try(client, phone)
    staff = Client()
    staff.force_login(operations.user)
    one = AccessAttempt.objects.filter(ip_address="10.0.0.1").first()
    staff.post(_attempts(), {"action": "unlock_addresses", "_selected_action": [str(one.pk)]})
    assert _try(client, student.phone, PASSWORD).status_code == 302


def test_a_teacher_can_neither_see_nor_unlock_attempts(client, locked_student, homeroom):
    staff = Client()
    staff.force_login(homeroom.user)
    attempt = AccessAttempt.objects.get()
    assert staff.get(_attempts()).status_code == 403
    staff.post(_attempts(), {"action": "unlock_accounts", "_selected_action": [str(attempt.pk)]})
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_operations_hold_the_permissions_to_see_and_unlock(operations):
    for perm in ("axes.view_accessattempt", "axes.delete_accessattempt", "axes.view_accessfailurelog"):
        assert operations.user.has_perm(perm), perm


@pytest.mark.parametrize("model", [AccessFailureLog, AccessLog])
def test_the_record_of_log_ins_cannot_be_deleted_or_changed_even_by_a_superuser(admin_client, locked_student, model):
    row = model.objects.create(username="x", ip_address="10.0.0.3", user_agent="ua", http_accept="*", path_info="/")
    opts = model._meta
    delete = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_a_user_given_the_permission_directly_still_cannot_unlock_without_delete(client, locked_student, homeroom):
    homeroom.user.user_permissions.add(Permission.objects.get(codename="view_accessattempt"))
    staff = Client()
    staff.force_login(homeroom.user)
    attempt = AccessAttempt.objects.get()
    assert staff.get(_attempts()).status_code == 200
    staff.post(_attempts(), {"action": "unlock_accounts", "_selected_action": [str(attempt.pk)]})
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
