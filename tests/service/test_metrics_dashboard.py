"""The service metrics where people read them: the analytics dashboard's student-service section
(who sees it, scoped to their campuses, the week of the period's end, the trend) and the weekly
review (its figures, its PDF page and the e-mail with the service part, on a real SMTP server).

The week is Monday 2026-11-16 to Sunday 2026-11-22 (Asia/Shanghai).
    北京海淀校区 (campus): 孙老师 (homeroom) did a follow-up due Wed 11-18 10:00 at 09:00 (on time), and
        one due Sun 11-22 23:59 at Mon 11-23 00:00 (late); a student answered the first-lesson
        question "good" on Thu 11-19. On time 1 of 2 = 50.0%.
    上海徐汇校区 (other_campus): 吴老师 left a follow-up due Wed 11-18 open (late): 0 of 1.
    The week before: 孙老师 did one task due Tue 11-10 on time (100.0%).
"""

from __future__ import annotations

import datetime
import itertools
import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import WeeklyReview
from analytics.student_service import service_review_text
from analytics.weekly import weekly_review_build, weekly_review_message_context, weekly_review_notify
from service.models import FeedbackAnswer, LessonFeedback, ServiceTask, TaskKind, TaskStatus
from tests import factories
from tests.notifications.channels import smtp
from tests.refunds.helpers import zh

smtp_server = smtp.smtp_server

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

DASHBOARD = reverse("admin:analytics_dashboard")
PERIOD = {"period": "custom", "start": "2026-11-01", "end": "2026-11-22", "grain": "week"}
WEEK = datetime.date(2026, 11, 16)
TUESDAY_AFTER = datetime.date(2026, 11, 24)
_serial = itertools.count(1)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=timezone.get_default_timezone())


def task(course, teacher, *, due: str, done: str | None = None) -> ServiceTask:
    order = factories.make_order(
        student=factories.make_student(campus=course.campus),
        course=course,
        homeroom_teacher=teacher,
        paid_at=at("2026-11-02 10:00"),
    )
    return ServiceTask.objects.create(
        enrollment=order.enrollment,
        student=order.student,
        campus=course.campus,
        teacher=teacher,
        kind=TaskKind.FOLLOW_UP,
        trigger=f"t{next(_serial)}",
        due_at=at(due),
        created_at=at(due) - datetime.timedelta(days=3),
        status=TaskStatus.DONE if done else TaskStatus.OPEN,
        done_at=at(done) if done else None,
    )


@pytest.fixture
def week(campus, other_campus, homeroom, other_campus_homeroom):
    north = factories.make_course(campus=campus, starts_at=at("2026-11-01 09:00"), days=90)
    south = factories.make_course(campus=other_campus, starts_at=at("2026-11-01 09:00"), days=90)
    task(north, homeroom, due="2026-11-18 10:00", done="2026-11-18 09:00")
    task(north, homeroom, due="2026-11-22 23:59", done="2026-11-23 00:00")
    task(south, other_campus_homeroom, due="2026-11-18 10:00")
    task(north, homeroom, due="2026-11-10 10:00", done="2026-11-10 09:00")
    answered = task(north, homeroom, due="2026-12-20 10:00")  # due later: counts nowhere this week
    LessonFeedback.objects.create(
        enrollment=answered.enrollment,
        asked_at=at("2026-11-18 10:00"),
        answer=FeedbackAnswer.GOOD,
        answered_at=at("2026-11-19 10:00"),
    )
    return north, south


def section(client, user) -> str:
    client.force_login(user)
    response = client.get(DASHBOARD, PERIOD)
    assert response.status_code == 200
    return response.content.decode()


# --- The dashboard ------------------------------------------------------------------------------


def test_a_campus_head_sees_her_campuss_service_week(client, week, campus_head, homeroom, other_campus_homeroom):
    page = section(client, campus_head.user)
    assert 'id="analytics-service"' in page
    assert "2026-11-16" in page and "2026-11-22" in page
    card = page[page.index("analytics-service-card-on_time") :]
    card = card[: card.index("</div>")]
    assert "50.0%" in card and "100.0%" in card  # this week, and the week before
    teachers = page[page.index('id="analytics-service-teachers"') :]
    teachers = teachers[: teachers.index("</table>")]
    assert homeroom.name in teachers and "50.0% (1/2)" in teachers and "1 / 0 / 0" in teachers
    assert other_campus_homeroom.name not in page
    assert 'id="analytics-service-campuses"' not in page  # one campus: no campus table
    assert 'id="student-service-data"' in page
    assert "analytics/student_service.js" in page


def test_operations_see_every_campus_with_a_campus_table(client, week, operations, homeroom, other_campus_homeroom):
    page = section(client, operations.user)
    campuses = page[page.index('id="analytics-service-campuses"') :]
    campuses = campuses[: campuses.index("</table>")]
    assert "北京海淀校区" in campuses and "上海徐汇校区" in campuses
    assert other_campus_homeroom.name in page and homeroom.name in page
    card = page[page.index("analytics-service-card-on_time") :]
    assert "33.3%" in card[: card.index("</div>")]  # 1 of 3


def test_the_campus_filter_narrows_the_section(client, week, operations, homeroom, other_campus_homeroom, other_campus):
    client.force_login(operations.user)
    page = client.get(DASHBOARD, {**PERIOD, "campus": other_campus.pk}).content.decode()
    assert other_campus_homeroom.name in page[page.index('id="analytics-service"') :]
    assert homeroom.name not in page[page.index('id="analytics-service"') :]


def test_readers_who_may_not_read_service_tasks_do_not_see_the_section(client, week, finance):
    assert 'id="analytics-service"' not in section(client, finance.user)


def test_the_trend_has_eight_weeks_ending_with_the_week_shown(client, week, campus_head):
    client.force_login(campus_head.user)
    service = client.get(DASHBOARD, PERIOD).context["service"]
    assert [point.week_start for point in service.trend] == [
        WEEK - datetime.timedelta(days=7 * back) for back in range(7, -1, -1)
    ]
    assert service.charts["trend"]["labels"][-1] == "11-16"
    on_time = next(s for s in service.charts["trend"]["series"] if s["name"] == zh("Done on time"))
    assert on_time["data"][-2:] == [100.0, 50.0]
    assert on_time["data"][0] is None  # nothing due then: no point, not zero


# --- The weekly review ------------------------------------------------------------------------------


def test_the_campus_review_keeps_the_weeks_service_figures(week, campus, other_campus, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    review = weekly_review_build(week_start=WEEK, campus_id=campus.pk, today=TUESDAY_AFTER)
    service = review.figures["service"]
    assert (service["current"]["on_time"], service["current"]["late"]) == (1, 1)
    assert (service["previous"]["on_time"], service["previous"]["late"]) == (1, 0)
    assert service["current"]["feedback_good"] == 1
    assert [row["label"] for row in service["teachers"]] == ["孙老师"]

    south = weekly_review_build(week_start=WEEK, campus_id=other_campus.pk, today=TUESDAY_AFTER)
    assert (south.figures["service"]["current"]["on_time"], south.figures["service"]["current"]["late"]) == (0, 1)

    text = weekly_review_message_context(review)["service"]
    assert zh("Student service (the week before in brackets):") in text
    assert "50.0% (100.0%)" in text or "50.0%（100.0%）" in text


def test_the_review_pdf_has_the_service_part_on_its_one_page(week, campus, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    review = weekly_review_build(week_start=WEEK, campus_id=campus.pk, today=TUESDAY_AFTER)
    path = tmp_path / "review.pdf"
    with review.pdf.open("rb") as handle:
        path.write_bytes(handle.read())
    run = {"check": True, "capture_output": True, "text": True, "timeout": 60}
    assert "Pages:           1" in subprocess.run(["pdfinfo", str(path)], **run).stdout  # noqa: S603, S607
    text = subprocess.run(["pdftotext", str(path), "-"], **run).stdout  # noqa: S603, S607
    part = text[text.index(zh("Student service")) :]
    assert "50.0%" in part and f"{zh('the week before')} 100.0%" in part  # tasks done on time


def test_the_weekly_email_carries_the_service_part(
    week, campus, campus_head, settings, tmp_path, smtp_server, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    campus_head.user.email = "head@school.example.com"
    campus_head.user.save(update_fields=["email"])
    review = weekly_review_build(week_start=WEEK, campus_id=campus.pk, today=TUESDAY_AFTER)
    with django_capture_on_commit_callbacks(execute=True):
        assert weekly_review_notify(review) == 2  # inbox and e-mail

    [mail] = smtp_server.messages
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert zh("Student service (the week before in brackets):") in body
    assert service_review_text(review.figures["service"]).splitlines()[1] in body
    assert WeeklyReview.objects.count() == 1


def test_a_review_made_before_the_service_part_says_nothing_of_it():
    assert service_review_text(None) == ""
