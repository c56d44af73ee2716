"""The first-lesson question in the personal center (portal:lesson_feedback): her own order only,
answered once, a bad answer makes the homeroom teacher a task due within a day, CSRF-protected, a
plain form that needs no script; and its card on her orders while it waits for her answer."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orders.models import Order, OrderStatus
from service.models import FeedbackAnswer, LessonFeedback, ServiceTask, TaskKind
from tests import factories
from tests.refunds.helpers import zh

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


@pytest.fixture
def asked(order):
    """The question asked two hours after her first lesson (the course began three days ago)."""
    return LessonFeedback.objects.create(enrollment=order.enrollment, asked_at=timezone.now())


def url(order) -> str:
    return reverse("portal:lesson_feedback", args=[order.order_no])


def test_the_message_links_to_this_page():
    assert reverse("portal:lesson_feedback", args=["SO1"]) == "/orders/SO1/feedback/"


def test_the_question_offers_three_answers_in_a_plain_form(logged_in, order, asked):
    response = logged_in.get(url(order))
    assert response.status_code == 200
    page = response.content.decode()
    assert zh("How was your first lesson?") in page
    for label in ("It was great", "It was okay", "Not so good"):
        assert zh(label) in page
    # A form that posts without any script: CSRF token, three radios, a comment, a submit button.
    form = re.search(r'<form method="post" action="([^"]+)" class="feedback-form">(.*?)</form>', page, re.S)
    assert form is not None and form.group(1) == url(order)
    assert 'name="csrfmiddlewaretoken"' in form.group(2)
    assert sorted(re.findall(r'type="radio" name="answer" value="(\w+)"', form.group(2))) == ["bad", "good", "okay"]
    assert 'name="comment"' in form.group(2) and 'type="submit"' in form.group(2)
    assert "<script" not in page


def test_a_good_answer_is_kept_and_the_page_thanks_her_with_it(logged_in, order, asked):
    response = logged_in.post(url(order), {"answer": "good", "comment": "老师讲得清楚"})
    assert response.status_code == 302 and response.url == url(order)

    asked.refresh_from_db()
    assert (asked.answer, asked.comment, asked.answered_at is not None) == ("good", "老师讲得清楚", True)
    assert not ServiceTask.objects.exists()
    page = logged_in.get(url(order)).content.decode()
    assert zh("Thank you for telling us.") in page
    assert zh("It was great") in page and "老师讲得清楚" in page
    assert 'class="feedback-form"' not in page
    assert "feedback-follow-up" not in page


def test_a_bad_answer_makes_the_teacher_a_task_due_within_a_day_and_tells_her(logged_in, order, asked, homeroom):
    before = timezone.now()
    logged_in.post(url(order), {"answer": "bad", "comment": "听不懂"})

    task = ServiceTask.objects.get()
    assert (task.kind, task.teacher, task.enrollment, task.facts["comment"]) == (
        TaskKind.FEEDBACK,
        homeroom,
        order.enrollment,
        "听不懂",
    )
    assert before + datetime.timedelta(hours=24) <= task.due_at <= timezone.now() + datetime.timedelta(hours=24)
    page = logged_in.get(url(order)).content.decode()
    assert 'id="feedback-follow-up"' in page
    assert homeroom.name in page


def test_she_answers_once(logged_in, order, asked):
    logged_in.post(url(order), {"answer": "bad"})
    response = logged_in.post(url(order), {"answer": "good", "comment": "改主意了"}, follow=True)
    assert response.status_code == 200
    asked.refresh_from_db()
    assert (asked.answer, asked.comment) == ("bad", "")
    assert ServiceTask.objects.count() == 1
    assert zh("You have answered already. Thank you!") in response.content.decode()


@pytest.mark.parametrize("data", [{}, {"answer": "great"}, {"answer": "good", "comment": "x" * 2001}])
def test_a_wrong_answer_is_refused_with_the_reason_and_nothing_kept(logged_in, order, asked, data):
    response = logged_in.post(url(order), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert zh("Please check what you wrote:") in page
    asked.refresh_from_db()
    assert asked.answer == ""


def test_another_students_order_is_404_and_her_answer_is_not_taken(logged_in, other_student, course, homeroom):
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    question = LessonFeedback.objects.create(enrollment=theirs.enrollment, asked_at=timezone.now())
    assert logged_in.get(url(theirs)).status_code == 404
    assert logged_in.post(url(theirs), {"answer": "bad"}).status_code == 404
    question.refresh_from_db()
    assert question.answer == ""
    assert not ServiceTask.objects.exists()


def test_an_unknown_order_is_404(logged_in):
    assert logged_in.get(reverse("portal:lesson_feedback", args=["NO404"])).status_code == 404


def test_anonymous_visitors_log_in_first_and_staff_go_to_the_admin(client, order, asked, homeroom):
    response = client.get(url(order))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    client.force_login(homeroom.user)
    assert client.post(url(order), {"answer": "bad"}).url == reverse("admin:index")
    asked.refresh_from_db()
    assert asked.answer == ""


def test_a_post_without_the_csrf_token_is_refused(student, order, asked):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(student.user)
    assert browser.post(url(order), {"answer": "bad"}).status_code == 403
    asked.refresh_from_db()
    assert asked.answer == ""

    page = browser.get(url(order)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(url(order), {"answer": "okay", "csrfmiddlewaretoken": token}).status_code == 302
    asked.refresh_from_db()
    assert asked.answer == "okay"


def test_before_the_first_lesson_there_is_nothing_to_answer(logged_in, student, homeroom, campus):
    later = factories.make_course(campus=campus, starts_at=timezone.now() + datetime.timedelta(days=2))
    order = factories.make_order(student=student, course=later, homeroom_teacher=homeroom)
    page = logged_in.get(url(order)).content.decode()
    assert 'class="feedback-form"' not in page
    logged_in.post(url(order), {"answer": "good"})
    assert not LessonFeedback.objects.exists()


def test_an_order_she_left_takes_no_answer(logged_in, order, asked):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.REFUNDED, refunded_total=F("amount_paid"))
    assert 'class="feedback-form"' not in logged_in.get(url(order)).content.decode()
    logged_in.post(url(order), {"answer": "bad"})
    asked.refresh_from_db()
    assert asked.answer == ""


# --- The card on her orders ---------------------------------------------------------------------


def test_her_orders_and_the_order_page_show_the_question_while_it_waits(logged_in, order, asked):
    for page in (reverse("portal:home"), reverse("portal:order", args=[order.order_no])):
        text = logged_in.get(page).content.decode()
        assert "feedback-card" in text and url(order) in text

    logged_in.post(url(order), {"answer": FeedbackAnswer.GOOD})
    for page in (reverse("portal:home"), reverse("portal:order", args=[order.order_no])):
        assert "feedback-card" not in logged_in.get(page).content.decode()


def test_no_card_when_the_question_was_not_asked_or_the_order_ended(logged_in, order, asked, student, homeroom):
    other = factories.make_order(student=student, course=order.course, homeroom_teacher=homeroom)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.REFUNDED, refunded_total=F("amount_paid"))
    text = logged_in.get(reverse("portal:home")).content.decode()
    assert "feedback-card" not in text
    assert url(other) not in text
