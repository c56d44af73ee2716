"""Logging in with a phone number or a username."""

import pytest
from django.contrib.auth import authenticate
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD


def test_student_logs_in_with_her_phone_and_lands_on_her_orders(client, order, student):
    response = client.post(reverse("login"), {"username": student.phone, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("students:home")
    assert order.order_no in response.content.decode()


def test_student_logs_in_with_her_username(student):
    assert authenticate(username=student.user.username, password=PASSWORD) == student.user


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_password_does_not_log_in(client, student, password):
    response = client.post(reverse("login"), {"username": student.phone, "password": password})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_unknown_login_does_not_log_in(db):
    assert authenticate(username="13000000000", password=PASSWORD) is None


def test_inactive_user_cannot_log_in(student):
    student.user.is_active = False
    student.user.save()
    assert authenticate(username=student.phone, password=PASSWORD) is None


def test_login_form_without_csrf_token_is_refused(student):
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post(reverse("login"), {"username": student.phone, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in csrf_client.session


def test_staff_logs_in_to_the_admin_with_username(client, homeroom):
    assert client.login(username=homeroom.user.username, password=PASSWORD)
    assert client.get(reverse("admin:index")).status_code == 200
