"""A student's wrong link on a phone, with DEBUG on as in `make run`: the school's 404 page in
Chinese, fitting the screen, with its way back. Screenshot: artifacts/screenshots/test_*-404.png."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories

from .conftest import fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_students_wrong_link_on_a_phone(phone_page, live_server, student, settings):
    settings.DEBUG = True
    login(phone_page, live_server, student.user.phone, factories.PASSWORD)
    response = phone_page.goto(f"{live_server.url}/orders/NO-SUCH-ORDER/")
    assert response is not None and response.status == 404
    expect(phone_page.locator("#error-page h1")).to_have_text("您访问的页面不存在")
    fits_the_phone(phone_page)
    shot(phone_page, "404")
    phone_page.get_by_role("link", name="返回个人中心").click()
    phone_page.wait_for_url(f"{live_server.url}/")
