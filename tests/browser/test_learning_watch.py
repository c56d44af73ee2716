"""The learning watch (学习看板) in a real browser: readable at 1280 px (one row per student, the
summary on top), usable on a 390 px phone (each student a card, nothing wider than the screen),
sorting by a click and no Content-Security-Policy violation.

Screenshots: artifacts/screenshots/test_*_learning_watch*.png.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests.service.watch_data import build_school

from .conftest import fits_the_phone, shot
from .test_analytics import admin_login
from .test_content_security_policy import COLLECT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def school(campus, other_campus, homeroom, supervisor, other_campus_homeroom):
    return build_school(
        now=timezone.now(),
        campus=campus,
        other_campus=other_campus,
        homeroom=homeroom,
        supervisor=supervisor,
        other_campus_homeroom=other_campus_homeroom,
    )


def open_watch(page, live_server, user, query: str = "") -> list[str]:
    """Log in and open the watch; the list the page's errors will be gathered in."""
    page.context.add_init_script(COLLECT_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    admin_login(page, live_server, user)
    page.goto(f"{live_server.url}{reverse('admin:service_learning_watch')}{query}")
    return errors


def test_a_supervisor_reads_the_watch_at_1280_px_and_sorts_it(page, live_server, supervisor, school):
    errors = open_watch(page, live_server, supervisor.user)

    expect(page.locator("#watch-list tbody tr")).to_have_count(8)
    expect(page.locator("#watch-summary .watch-total [data-count='students']")).to_have_text("8")
    expect(page.locator("#watch-summary tbody tr")).to_have_count(4)  # everyone, 孙老师, 李老师, 郑老师
    first_row = page.locator("#watch-list tbody tr").first
    expect(first_row).to_contain_text("己同学")  # never learned: first by default
    assert page.locator("#watch-list thead").is_visible()  # a table, not cards, at 1280 px
    page.locator("#watch-list thead a[data-sort='completion']").click()
    page.wait_for_url("**o=completion**")
    expect(page.locator("#watch-list tbody tr").first).to_contain_text("己同学")
    page.locator("#watch-list thead a[data-sort='completion']").click()
    page.wait_for_url("**o=-completion**")
    expect(page.locator("#watch-list tbody tr").first).to_contain_text("庚同学")  # 60 %
    shot(page, "learning_watch")
    assert page.evaluate("window.__cspViolations || []") == []
    assert [e for e in errors if "status of 404" not in e] == []


def test_a_teacher_uses_the_watch_on_a_phone(phone_page, live_server, homeroom, school):
    errors = open_watch(phone_page, live_server, homeroom.user, "?flag=any")

    rows = phone_page.locator("#watch-list tbody tr")
    expect(rows).to_have_count(4)
    assert not phone_page.locator("#watch-list thead").is_visible()  # each student is a card
    expect(rows.first.locator(".watch-flags")).to_be_visible()
    fits_the_phone(phone_page)
    shot(phone_page, "learning_watch_phone")
    assert phone_page.evaluate("window.__cspViolations || []") == []
    assert [e for e in errors if "status of 404" not in e] == []
