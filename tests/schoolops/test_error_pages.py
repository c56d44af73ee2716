"""The school's own error pages: a wrong link, a refused page and a server error show the school's
pages in Chinese, not Django's, in production and (for a wrong link outside the admin) with DEBUG on."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import path

from schoolops import urls as root_urls
from tests.refunds.helpers import zh

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("the database went away")


urlpatterns = [*root_urls.urlpatterns, path("boom/", boom)]
handler500 = root_urls.handler500


@pytest.mark.parametrize("debug", [False, True])
def test_a_wrong_link_shows_the_schools_404_in_chinese(client, student, debug, settings):
    settings.DEBUG = debug
    client.force_login(student.user)
    response = client.get("/orders/NO-SUCH-ORDER/nothing/")
    assert response.status_code == 404
    body = response.content.decode()
    assert zh("This page does not exist") in body and zh("Back to my personal center") in body
    assert "Using the URLconf" not in body and "Page not found at" not in body
    assert settings.SCHOOL_NAME in body


def test_staff_keep_djangos_technical_404_in_the_admin_with_debug_on(client, campus_head, settings):
    settings.DEBUG = True
    client.force_login(campus_head.user)
    body = client.get("/admin/no-such-page/").content.decode()
    assert "Using the URLconf" in body or "Page not found" in body
    assert zh("This page does not exist") not in body


def test_a_refused_page_shows_the_schools_403(client, homeroom):
    client.force_login(homeroom.user)
    response = client.get("/admin/analytics/refundfact/")  # the dashboard: not for homeroom teachers
    assert response.status_code == 403
    body = response.content.decode()
    assert zh("You cannot open this page") in body and zh("Back to the admin") in body


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_a_server_error_shows_the_schools_500_without_the_database(settings):
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert zh("Something went wrong on our side") in body and settings.SCHOOL_NAME in body
    assert "the database went away" not in body and "Traceback" not in body
