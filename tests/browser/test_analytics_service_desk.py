"""The service desk section of the analytics dashboard in a real browser, at 1280 px and on a phone:
its charts draw (ECharts, from our static files), the Content-Security-Policy blocks nothing, and
nothing of the section is wider than the phone's screen.

Screenshots: artifacts/screenshots/test_*_service_desk*.png.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from servicedesk import services
from servicedesk.models import RootCause, SolutionKind, TicketCategory
from servicedesk.satisfaction import rating_for_ticket
from tests import factories
from tests.analytics.test_service_metrics import at, named_course

from .conftest import shot
from .test_analytics import admin_login
from .test_content_security_policy import COLLECT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOVEMBER = {"period": "custom", "start": "2026-11-01", "end": "2026-11-30", "grain": "week"}
CHARTS = ("category", "root_cause", "courses", "teachers")


@pytest.fixture
def desk(campus, supervisor, homeroom):
    """Six tickets of November on two courses, answered, resolved, archived and rated."""
    agent = factories.make_staff(role="service", campus=campus, manager=supervisor, name="客服小林")
    courses = [named_course(campus, "雅思口语直播班"), named_course(campus, "托福听力录播课")]
    for n in range(6):
        student = factories.make_student(campus=campus)
        order = factories.make_order(student=student, course=courses[n % 2], homeroom_teacher=homeroom)
        category = TicketCategory.COMPLAINT if n % 2 else TicketCategory.QUESTION
        day = f"2026-11-{2 + n:02d}"
        ticket = services.ticket_open(
            student=student,
            category=category,
            subject="问题",
            description="请帮我看看。",
            order_id=order.pk,
            at=at(f"{day} 10:00"),
        )
        services.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="收到。", at=at(f"{day} 11:00"))
        services.ticket_resolve(
            actor=agent.user,
            ticket_id=ticket.pk,
            solution_kind=SolutionKind.ANSWER,
            solution="已处理。",
            at=at(f"{day} 15:00"),
        )
        services.ticket_archive(
            actor=agent.user, ticket_id=ticket.pk, root_cause=RootCause.values[n % 3], at=at(f"{day} 16:00")
        )
        rating_for_ticket(student=student, ticket_no=ticket.ticket_no, score=2 + n % 4, at=at(f"{day} 17:00"))


def watch(page) -> list[str]:
    page.context.add_init_script(COLLECT_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def open_dashboard(page, live_server, user) -> None:
    admin_login(page, live_server, user)
    page.goto(f"{live_server.url}{reverse('admin:analytics_dashboard')}?{urlencode(NOVEMBER)}")
    for key in CHARTS:
        chart = page.locator(f'[data-desk-chart="{key}"]')
        expect(chart).to_have_attribute("data-rendered", "true")
        expect(chart.locator("canvas")).to_have_count(1)


def test_the_service_desk_section_draws_at_1280_px(page, live_server, supervisor, desk):
    errors = watch(page)
    open_dashboard(page, live_server, supervisor.user)
    expect(page.locator(".analytics-desk-card-tickets .analytics-card-value")).to_have_text("6")
    expect(page.locator("#analytics-desk-courses table")).to_contain_text("雅思口语直播班")
    expect(page.locator("#analytics-desk-staff table")).to_contain_text("客服小林")
    page.locator("#analytics-desk").scroll_into_view_if_needed()
    shot(page, "service_desk")
    assert page.evaluate("window.__cspViolations || []") == []
    assert [e for e in errors if "status of 404" not in e] == []


def test_the_service_desk_section_fits_a_phone(phone_page, live_server, supervisor, desk):
    errors = watch(phone_page)
    open_dashboard(phone_page, live_server, supervisor.user)
    width = phone_page.viewport_size["width"]
    # Every block of the section (cards, charts, tables' frames) within the screen; a wide table
    # scrolls inside its own frame.
    overflowing = phone_page.evaluate(
        """(width) => Array.from(document.querySelectorAll(
            '#analytics-desk .analytics-card, #analytics-desk .analytics-chart, #analytics-desk .analytics-table'
        )).filter((element) => element.getBoundingClientRect().right > width + 1)
          .map((element) => element.className)""",
        width,
    )
    assert overflowing == []
    shot(phone_page, "service_desk_phone")
    assert phone_page.evaluate("window.__cspViolations || []") == []
    assert [e for e in errors if "status of 404" not in e] == []
