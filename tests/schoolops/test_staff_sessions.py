"""Staff sessions end with the browser, after an idle spell and at a maximum age; students keep
Django's dated cookie."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.urls import reverse

from schoolops.sessions import SEEN_KEY, STARTED_KEY
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ADMIN_HOME = reverse("admin:index")


def _log_in(client, username: str, *, url: str = reverse("login")):
    response = client.post(url, {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "the log-in was refused"
    return response.cookies[settings.SESSION_COOKIE_NAME]


def _age_session(client, key: str, seconds: float) -> None:
    """Move one of the session's clocks back, as if that much time had passed."""
    session = client.session
    session[key] -= seconds
    session.save()


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", [reverse("login"), reverse("admin:login")], ids=["site-login", "admin-login"])
def test_a_staff_login_gets_a_cookie_that_ends_with_the_browser(client, homeroom, url):
    cookie = _log_in(client, homeroom.user.username, url=url)
    assert cookie.value
    assert cookie["expires"] == ""
    assert cookie["max-age"] == ""


def test_a_student_login_keeps_a_dated_cookie(client, student):
    cookie = _log_in(client, student.phone)
    assert cookie["max-age"] == settings.SESSION_COOKIE_AGE
    assert cookie["expires"]
    assert STARTED_KEY not in client.session


def test_a_staff_session_idle_past_the_limit_is_logged_out_on_the_next_admin_request(client, homeroom):
    _log_in(client, homeroom.user.username)
    _age_session(client, SEEN_KEY, settings.ADMIN_SESSION_IDLE_SECONDS + 1)

    response = client.get(ADMIN_HOME)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not _logged_in(client)
    login_page = client.get(response["Location"]).content.decode()
    assert "没有操作" in login_page or "without activity" in login_page


def test_a_staff_session_used_within_the_idle_limit_stays_logged_in(client, homeroom):
    _log_in(client, homeroom.user.username)
    _age_session(client, SEEN_KEY, settings.ADMIN_SESSION_IDLE_SECONDS - 60)
    assert client.get(ADMIN_HOME).status_code == 200
    assert _logged_in(client)
    assert time.time() - client.session[SEEN_KEY] < 60  # the request counted as activity


def test_a_staff_session_past_its_maximum_age_is_logged_out_however_active(client, homeroom):
    _log_in(client, homeroom.user.username)
    _age_session(client, STARTED_KEY, settings.ADMIN_SESSION_MAX_AGE_SECONDS + 1)
    assert client.get(ADMIN_HOME).status_code == 302
    assert not _logged_in(client)


def test_the_idle_limit_is_a_setting(client, homeroom, settings):
    settings.ADMIN_SESSION_IDLE_SECONDS = 300
    _log_in(client, homeroom.user.username)
    _age_session(client, SEEN_KEY, 301)
    assert client.get(ADMIN_HOME).status_code == 302
    assert not _logged_in(client)


def test_a_staff_session_from_before_these_limits_gets_them_at_its_next_request(client, homeroom):
    client.force_login(homeroom.user)
    session = client.session
    for key in (SEEN_KEY, STARTED_KEY):
        session.pop(key, None)
    session.set_expiry(None)
    session.save()

    response = client.get(ADMIN_HOME)

    assert response.status_code == 200
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == ""
    assert client.session.get_expire_at_browser_close()
    assert STARTED_KEY in client.session


def test_a_student_is_never_logged_out_for_being_idle(client, student):
    _log_in(client, student.phone)
    session = client.session
    session[SEEN_KEY] = time.time() - 30 * 24 * 3600  # even if a staff clock were somehow there
    session.save()
    assert client.get(reverse("portal:home")).status_code == 200
    assert _logged_in(client)
