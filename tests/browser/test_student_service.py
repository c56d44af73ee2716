"""Student service in a real browser: the dashboard's student-service section draws its eight-week
trend (ECharts from our static files, nothing refused by the Content-Security-Policy), and a student
answers the first-lesson question on a phone with JavaScript turned off.

Screenshots: artifacts/screenshots/test_*-student_service*.png, test_*-lesson_feedback*.png.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from service.models import FeedbackAnswer, LessonFeedback, ServiceTask, TaskKind
from tests import factories
from tests.refunds.helpers import zh
from tests.service.test_metrics_dashboard import PERIOD, at, task

from .conftest import PHONE, _context, fits_the_phone, login, shot
from .test_analytics import admin_login
from .test_analytics_service_desk import watch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def service_weeks(campus, homeroom):
    """孙老师's tasks of the weeks from 2026-11-09 and 2026-11-16: 1 of 1 and 1 of 2 on time."""
    course = factories.make_course(campus=campus, starts_at=at("2026-11-01 09:00"), days=90)
    task(course, homeroom, due="2026-11-10 10:00", done="2026-11-10 09:00")
    task(course, homeroom, due="2026-11-18 10:00", done="2026-11-18 09:00")
    task(course, homeroom, due="2026-11-20 10:00")


def test_the_student_service_section_draws_its_trend(page, live_server, campus_head, service_weeks):
    errors = watch(page)
    admin_login(page, live_server, campus_head.user)
    page.goto(f"{live_server.url}{reverse('admin:analytics_dashboard')}?{urlencode(PERIOD)}")
    chart = page.locator('[data-service-chart="trend"]')
    expect(chart).to_have_attribute("data-rendered", "true")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.locator(".analytics-service-card-on_time .analytics-card-value")).to_have_text("50.0%")
    expect(page.locator("#analytics-service-teachers table")).to_contain_text("孙老师")
    page.locator("#analytics-service").scroll_into_view_if_needed()
    shot(page, "student_service")
    assert page.evaluate("window.__cspViolations || []") == []
    assert [e for e in errors if "status of 404" not in e] == []


def test_she_answers_the_first_lesson_question_on_a_phone_without_javascript(browser, live_server, student, order):
    LessonFeedback.objects.create(enrollment=order.enrollment, asked_at=timezone.now())
    context = _context(browser, **PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        login(page, live_server, student.user.username, factories.PASSWORD)
        page.goto(f"{live_server.url}{reverse('portal:home')}")
        page.locator(".feedback-card").get_by_role("link").click()
        expect(page.locator("h1")).to_have_text(zh("How was your first lesson?"))
        fits_the_phone(page)
        shot(page, "lesson_feedback")
        page.locator("label.feedback-bad").click()
        page.locator("textarea[name=comment]").fill("老师语速太快")
        page.get_by_role("button", name=zh("Send my answer")).click()
        expect(page.locator("#feedback-follow-up")).to_be_visible()
        fits_the_phone(page)
        shot(page, "lesson_feedback_answered")
    finally:
        context.close()
    feedback = LessonFeedback.objects.get()
    assert (feedback.answer, feedback.comment) == (FeedbackAnswer.BAD, "老师语速太快")
    assert ServiceTask.objects.filter(kind=TaskKind.FEEDBACK, enrollment=order.enrollment).count() == 1
