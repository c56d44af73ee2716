"""Logging in with a phone number or a username."""

import pytest
from axes.exceptions import AxesBackendRequestParameterRequired
from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD


def test_student_logs_in_with_her_phone_and_lands_on_her_orders(client, order, student):
    response = client.post(reverse("login"), {"username": student.phone, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert order.order_no in response.content.decode()


def test_student_logs_in_with_her_username(client, student):
    response = client.post(reverse("login"), {"username": student.user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(student.user.pk)


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_password_does_not_log_in(client, student, password):
    response = client.post(reverse("login"), {"username": student.phone, "password": password})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_unknown_login_does_not_log_in(client, db):
    response = client.post(reverse("login"), {"username": "13000000000", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_inactive_user_cannot_log_in(client, student):
    student.user.is_active = False
    student.user.save()
    response = client.post(reverse("login"), {"username": student.phone, "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_password_check_without_a_request_is_refused_so_no_way_in_skips_the_throttle(student):
    with pytest.raises(AxesBackendRequestParameterRequired):
        authenticate(username=student.phone, password=PASSWORD)


def test_login_form_without_csrf_token_is_refused(student):
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(reverse("login"), {"username": student.phone, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in csrf_client.session


def test_staff_logs_in_to_the_admin_with_username(client, homeroom):
    response = client.post(reverse("admin:login"), {"username": homeroom.user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
