"""The service metrics (service.metrics): each figure of the week Monday 2026-11-16 00:00 to Monday
2026-11-23 00:00 (Asia/Shanghai) against arithmetic done by hand, with rows on both sides of the
week's edges (Sunday 23:59 counts in the week; Monday 00:00 after it counts in the next one).

The data are made with the ORM at exact moments; ``NOW`` is a week after the week, so nothing of
the week is "not yet due" unless a test says so.
"""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from orders.models import Order, OrderStatus
from schoolops.models import StaffRole
from service.metrics import FOLLOW_UP_DAYS, ServiceFigures, service_metrics, service_trend, week_bounds
from service.models import (
    FeedbackAnswer,
    LessonFeedback,
    Referral,
    RenewalOutcome,
    ServiceSettings,
    ServiceTask,
    TaskKind,
    TaskStatus,
)
from servicedesk import services as desk
from servicedesk.models import Rating, RatingSubject, TicketCategory
from students.models import LearningEvent, LearningEventKind, LearningEventSource
from tests import factories

pytestmark = pytest.mark.django_db

WEEK = datetime.date(2026, 11, 16)  # a Monday
NEXT_WEEK = datetime.date(2026, 11, 23)
_serial = itertools.count(1)


def at(text: str) -> datetime.datetime:
    """A moment on the school's clock (Asia/Shanghai)."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=timezone.get_default_timezone())


NOW = at("2026-11-30 12:00")
FIRST = "2026-11-16 00:00"  # the week's first minute
LAST = "2026-11-22 23:59"  # its last
AFTER = "2026-11-23 00:00"  # the next week's first
BEFORE = "2026-11-15 23:59"  # the week before's last


@pytest.fixture
def course(campus):
    return factories.make_course(campus=campus, starts_at=at("2026-11-01 09:00"), days=90)


@pytest.fixture
def south_course(other_campus):
    return factories.make_course(campus=other_campus, starts_at=at("2026-11-01 09:00"), days=90)


@pytest.fixture
def colleague(campus, supervisor):
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="周老师")


def order_of(course, teacher, *, paid: str = "2026-11-02 10:00", student=None, **extra):
    student = student or factories.make_student(campus=course.campus)
    return factories.make_order(student=student, course=course, homeroom_teacher=teacher, paid_at=at(paid), **extra)


def task(
    course,
    teacher,
    kind: str = TaskKind.FOLLOW_UP,
    *,
    due: str,
    done: str | None = None,
    created: str | None = None,
    paid: str = "2026-11-02 10:00",
    status: str | None = None,
    **fields,
) -> ServiceTask:
    """A task of its own new order (so any kind may be made again)."""
    order = order_of(course, teacher, paid=paid)
    return ServiceTask.objects.create(
        enrollment=order.enrollment,
        student=order.student,
        campus=course.campus,
        teacher=teacher,
        kind=kind,
        trigger=f"t{next(_serial)}",
        due_at=at(due),
        created_at=at(created) if created else at(due) - datetime.timedelta(days=1),
        status=status or (TaskStatus.DONE if done else TaskStatus.OPEN),
        done_at=at(done) if done else None,
        **fields,
    )


def week(campus_ids=None, *, now=NOW):
    return service_metrics(week_start=WEEK, campus_ids=campus_ids, now=now)


def row(rows, pk):
    [found] = [r for r in rows if r.pk == pk]
    return found.figures


# --- The week's edges ---------------------------------------------------------------------------


def test_the_week_is_monday_midnight_to_monday_midnight_in_shanghai():
    first, after = week_bounds(WEEK)
    assert first.isoformat() == "2026-11-16T00:00:00+08:00"
    assert after.isoformat() == "2026-11-23T00:00:00+08:00"
    assert first == datetime.datetime(2026, 11, 15, 16, 0, tzinfo=datetime.UTC)


def test_a_week_starts_on_a_monday():
    with pytest.raises(ValueError, match="Monday"):
        week_bounds(datetime.date(2026, 11, 17))


# --- Tasks done on time -------------------------------------------------------------------------


def test_tasks_done_on_time_are_those_due_in_the_week_done_by_their_due_time(course, homeroom, colleague):
    task(course, homeroom, due="2026-11-16 10:00", done="2026-11-16 09:00")  # on time
    task(course, homeroom, due=LAST, done=LAST)  # done the minute it was due: on time
    task(course, homeroom, due="2026-11-22 23:00", done=AFTER)  # an hour late
    task(course, homeroom, due=AFTER, done="2026-11-25 10:00")  # next week's (late there)
    task(course, homeroom, due=BEFORE, done="2026-11-16 10:00")  # last week's (late there)
    task(course, colleague, due="2026-11-18 10:00")  # still open, past due: late
    task(course, colleague, due="2026-11-18 10:00", status=TaskStatus.CLOSED)  # the student left: not counted

    figures = week()
    assert (figures.total.on_time, figures.total.late, figures.total.on_time_rate) == (2, 2, Decimal("50.0"))
    mine = row(figures.by_teacher, homeroom.pk)
    assert (mine.on_time, mine.late, mine.on_time_rate) == (2, 1, Decimal("66.7"))
    theirs = row(figures.by_teacher, colleague.pk)
    assert (theirs.on_time, theirs.late, theirs.on_time_rate) == (0, 1, Decimal("0.0"))

    after = service_metrics(week_start=NEXT_WEEK, campus_ids=None, now=NOW)
    assert (after.total.on_time, after.total.late) == (0, 1)


def test_a_task_not_yet_due_is_left_out_of_the_week_in_progress(course, homeroom):
    task(course, homeroom, due="2026-11-18 10:00", done="2026-11-18 09:00")  # on time
    task(course, homeroom, due="2026-11-19 10:00")  # open, past due at noon on Thursday: late
    task(course, homeroom, due="2026-11-19 12:01")  # open, due a minute from now: not judged yet

    figures = week(now=at("2026-11-19 12:00"))
    assert (figures.total.on_time, figures.total.late, figures.complete) == (1, 1, False)
    assert week().complete is True


def test_no_task_due_gives_no_rate_rather_than_zero(course, homeroom):
    order_of(course, homeroom)
    figures = week()
    assert figures.total.on_time_rate is None
    assert row(figures.by_teacher, homeroom.pk).on_time_rate is None


# --- First contact within the campus's hours of payment -----------------------------------------


def contact(course, teacher, *, paid: str, done: str | None = None, due: str | None = None) -> ServiceTask:
    paid_at = at(paid)
    due_at = due or (paid_at + datetime.timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
    return task(course, teacher, TaskKind.FIRST_CONTACT, paid=paid, due=due_at, done=done, created=paid)


def test_first_contact_counts_the_orders_paid_in_the_week_against_24_hours_from_payment(course, homeroom):
    contact(course, homeroom, paid=FIRST, done="2026-11-17 00:00")  # exactly 24 h: in time
    contact(course, homeroom, paid=LAST, done="2026-11-23 23:59")  # paid in the week, called 24 h later: in time
    # Moved to two days later and done by then: still 26 h after the payment, so late.
    contact(course, homeroom, paid="2026-11-18 10:00", due="2026-11-20 10:00", done="2026-11-19 12:00")
    contact(course, homeroom, paid="2026-11-19 10:00")  # never called: late
    contact(course, homeroom, paid=AFTER, done="2026-11-23 01:00")  # next week's order
    contact(course, homeroom, paid=BEFORE, done="2026-11-18 10:00")  # last week's order (late there)

    total = week().total
    assert (total.first_contact_in_time, total.first_contact_late, total.first_contact_rate) == (2, 2, Decimal("50.0"))
    before = service_metrics(week_start=datetime.date(2026, 11, 9), campus_ids=None, now=NOW).total
    assert (before.first_contact_in_time, before.first_contact_late) == (0, 1)


def test_first_contact_uses_each_campuss_own_hours(course, south_course, homeroom, other_campus_homeroom):
    ServiceSettings.objects.create(campus=south_course.campus, first_contact_hours=48)
    contact(course, homeroom, paid="2026-11-17 09:00", done="2026-11-18 20:00")  # 35 h: late at 24 h
    contact(south_course, other_campus_homeroom, paid="2026-11-17 09:00", done="2026-11-18 20:00")  # in time at 48 h

    figures = week()
    north = row(figures.by_campus, course.campus_id)
    south = row(figures.by_campus, south_course.campus_id)
    assert (north.first_contact_in_time, north.first_contact_late) == (0, 1)
    assert (south.first_contact_in_time, south.first_contact_late, south.first_contact_rate) == (1, 0, Decimal("100.0"))
    assert figures.total.first_contact_rate == Decimal("50.0")
    assert figures.first_contact_hours == (24, 48)


def test_a_first_contact_whose_time_has_not_run_out_is_not_judged_yet(course, homeroom):
    contact(course, homeroom, paid="2026-11-21 10:00")  # open; its 24 h end Sunday 10:00: late by noon
    contact(course, homeroom, paid="2026-11-22 09:00")  # open; 24 h end Monday 09:00: not judged at Sunday noon
    total = week(now=at("2026-11-22 12:00")).total
    assert (total.first_contact_in_time, total.first_contact_late) == (0, 1)


# --- Inactive students followed up within two days ------------------------------------------------


def inactive(course, teacher, *, created: str, done: str | None = None) -> ServiceTask:
    due = (at(created) + datetime.timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")
    return task(course, teacher, TaskKind.INACTIVE, created=created, due=due, done=done)


def test_inactive_students_count_when_followed_up_within_two_days_of_the_alert(course, homeroom):
    assert FOLLOW_UP_DAYS == 2
    inactive(course, homeroom, created=FIRST, done="2026-11-18 00:00")  # exactly 2 days: in time
    inactive(course, homeroom, created=LAST, done="2026-11-24 23:59")  # made in the week: in time
    inactive(course, homeroom, created="2026-11-17 10:00", done="2026-11-19 10:01")  # a minute late
    inactive(course, homeroom, created="2026-11-18 10:00")  # never followed up: late
    inactive(course, homeroom, created=AFTER, done="2026-11-23 10:00")  # next week's
    inactive(course, homeroom, created=BEFORE, done="2026-11-16 10:00")  # last week's

    total = week().total
    assert (total.inactive_in_time, total.inactive_late, total.inactive_rate) == (2, 2, Decimal("50.0"))


# --- Satisfaction -------------------------------------------------------------------------------


def answer(course, teacher, value: str, when: str) -> LessonFeedback:
    order = order_of(course, teacher)
    return LessonFeedback.objects.create(
        enrollment=order.enrollment, asked_at=at("2026-11-10 10:00"), answer=value, answered_at=at(when)
    )


def test_first_lesson_answers_of_the_week_are_counted_with_their_shares(course, homeroom, colleague):
    answer(course, homeroom, FeedbackAnswer.GOOD, FIRST)
    answer(course, homeroom, FeedbackAnswer.GOOD, "2026-11-18 10:00")
    answer(course, colleague, FeedbackAnswer.OKAY, LAST)
    answer(course, colleague, FeedbackAnswer.BAD, "2026-11-20 10:00")
    answer(course, homeroom, FeedbackAnswer.BAD, AFTER)  # next week's
    answer(course, homeroom, FeedbackAnswer.OKAY, BEFORE)  # last week's
    LessonFeedback.objects.create(  # asked, not answered: no answer to count
        enrollment=order_of(course, homeroom).enrollment, asked_at=at("2026-11-17 10:00")
    )

    figures = week()
    total = figures.total
    assert (total.feedback_good, total.feedback_okay, total.feedback_bad) == (2, 1, 1)
    assert (total.good_share, total.okay_share, total.bad_share) == (Decimal("50.0"), Decimal("25.0"), Decimal("25.0"))
    mine = row(figures.by_teacher, homeroom.pk)
    assert (mine.feedback_good, mine.feedback_answers, mine.good_share) == (2, 2, Decimal("100.0"))


def rate(course, teacher, stars: int, when: str) -> None:
    order = order_of(course, teacher)
    LearningEvent.objects.create(
        event_id=f"e{next(_serial)}",
        enrollment=order.enrollment,
        kind=LearningEventKind.RATING,
        rating=stars,
        occurred_at=at(when),
        source=LearningEventSource.API,
    )


def test_the_course_rating_is_the_average_of_the_weeks_ratings(course, homeroom, colleague):
    rate(course, homeroom, 5, FIRST)
    rate(course, homeroom, 4, LAST)
    rate(course, colleague, 2, "2026-11-19 10:00")
    rate(course, homeroom, 1, AFTER)  # next week's
    rate(course, homeroom, 1, BEFORE)  # last week's

    figures = week()
    assert (figures.total.course_ratings, figures.total.course_rating) == (3, Decimal("3.67"))  # 11 / 3
    assert row(figures.by_teacher, homeroom.pk).course_rating == Decimal("4.50")


def test_the_desks_ratings_count_for_the_campus_and_the_teacher_rated(course, homeroom, student, campus):
    tickets = [
        desk.ticket_open(student=student, category=TicketCategory.QUESTION, subject=f"问题{n}", description="？")
        for n in range(4)
    ]

    def rated(ticket, score, when, staff=None):
        Rating.objects.create(
            student=student,
            campus=campus,
            staff=staff,
            subject=RatingSubject.TICKET,
            ticket=ticket,
            score=score,
            created_at=at(when),
        )

    rated(tickets[0], 5, FIRST, staff=homeroom)
    rated(tickets[1], 2, LAST)  # of the campus, nobody in particular
    rated(tickets[2], 1, AFTER, staff=homeroom)  # next week's
    rated(tickets[3], 1, BEFORE, staff=homeroom)  # last week's
    order_of(course, homeroom)

    figures = week()
    north = row(figures.by_campus, campus.pk)
    assert (north.desk_ratings, north.desk_average, north.desk_satisfied_rate) == (2, Decimal("3.50"), Decimal("50.0"))
    mine = row(figures.by_teacher, homeroom.pk)
    assert (mine.desk_ratings, mine.desk_average) == (1, Decimal("5.00"))


# --- Renewal ------------------------------------------------------------------------------------


def test_the_renewal_rate_is_renewed_over_the_renewal_talks_due(course, homeroom):
    renewed = {"renewal_outcome": RenewalOutcome.RENEWED}
    task(course, homeroom, TaskKind.RENEWAL, due=FIRST, done="2026-11-15 20:00", **renewed)
    task(
        course,
        homeroom,
        TaskKind.RENEWAL,
        due="2026-11-18 10:00",
        done="2026-11-18 09:00",
        renewal_outcome=RenewalOutcome.DECLINED,
        renewal_reason="考完了",
    )
    task(course, homeroom, TaskKind.RENEWAL, due=LAST)  # not talked yet: due, not renewed
    task(course, homeroom, TaskKind.RENEWAL, due=AFTER, done="2026-11-22 10:00", **renewed)  # next week's
    task(course, homeroom, TaskKind.RENEWAL, due="2026-11-19 10:00", status=TaskStatus.CLOSED)  # left

    total = week().total
    assert (total.renewed, total.renewals_due, total.renewal_rate) == (1, 3, Decimal("33.3"))


# --- Referrals ----------------------------------------------------------------------------------


def test_the_referral_rate_is_the_weeks_referrals_over_the_active_students(
    course, south_course, homeroom, colleague, other_campus_homeroom
):
    first = order_of(course, homeroom).student
    second = order_of(course, homeroom).student
    order_of(course, homeroom)
    order_of(course, colleague, student=first)  # her second course: one student of the campus
    fourth = order_of(course, colleague).student
    left = order_of(course, homeroom)
    # She left: not active.
    Order.objects.filter(pk=left.pk).update(status=OrderStatus.REFUNDED, refunded_total=F("amount_paid"))
    order_of(course, homeroom, paid=AFTER)  # paid after the week: not yet a student of it
    ended = factories.make_course(campus=course.campus, starts_at=at("2026-09-01 09:00"), days=30)
    order_of(ended, homeroom)  # her course ended before the week: not active

    def referral(referrer, teacher, when):
        new = order_of(south_course, other_campus_homeroom, paid=when)
        return Referral.objects.create(
            order=new,
            referrer=referrer,
            referee=new.student,
            teacher=teacher,
            code="ABCDEFGH",
            recorded_at=at(when),
        )

    referral(first, homeroom, FIRST)
    referral(fourth, colleague, LAST)
    referral(second, homeroom, AFTER)  # next week's

    figures = week()
    north = row(figures.by_campus, course.campus_id)
    assert (north.referrals, north.students, north.referral_rate) == (2, 4, Decimal("50.0"))
    mine = row(figures.by_teacher, homeroom.pk)
    assert (mine.referrals, mine.students, mine.referral_rate) == (1, 3, Decimal("33.3"))
    theirs = row(figures.by_teacher, colleague.pk)
    assert (theirs.referrals, theirs.students, theirs.referral_rate) == (1, 2, Decimal("50.0"))
    # The two new students of the south campus paid in the week (the third one after it).
    south = row(figures.by_campus, south_course.campus_id)
    assert (south.referrals, south.students) == (0, 2)
    assert (figures.total.referrals, figures.total.students) == (2, 6)


# --- Scope, the trend, the cost -----------------------------------------------------------------


def test_a_campus_sees_only_its_own_figures(course, south_course, homeroom, other_campus_homeroom):
    task(course, homeroom, due="2026-11-18 10:00", done="2026-11-18 09:00")
    task(south_course, other_campus_homeroom, due="2026-11-18 10:00")

    north = week([course.campus_id])
    assert [r.pk for r in north.by_campus] == [course.campus_id]
    assert [r.pk for r in north.by_teacher] == [homeroom.pk]
    assert (north.total.on_time, north.total.late) == (1, 0)


def test_a_campus_is_the_sum_of_its_teachers(course, homeroom, colleague):
    task(course, homeroom, due="2026-11-18 10:00", done="2026-11-18 09:00")
    task(course, colleague, due="2026-11-18 10:00")
    answer(course, colleague, FeedbackAnswer.BAD, "2026-11-20 10:00")
    figures = week()
    assert row(figures.by_teacher, homeroom.pk) + row(figures.by_teacher, colleague.pk) == row(
        figures.by_campus, course.campus_id
    )
    assert figures.total == row(figures.by_campus, course.campus_id)


def test_each_week_of_the_trend_is_that_weeks_figures(course, homeroom, colleague):
    task(course, homeroom, due=LAST, done=LAST)
    task(course, homeroom, due=AFTER)
    task(course, colleague, due=BEFORE, done=BEFORE)
    contact(course, homeroom, paid=LAST, done="2026-11-23 10:00")
    inactive(course, colleague, created=AFTER, done="2026-11-23 10:00")
    answer(course, homeroom, FeedbackAnswer.GOOD, LAST)
    rate(course, colleague, 4, AFTER)

    trend = service_trend(last_week_start=NEXT_WEEK, campus_ids=None, now=NOW)
    assert [point.week_start for point in trend] == [
        datetime.date(2026, 10, 5) + datetime.timedelta(days=7 * n) for n in range(8)
    ]
    for point in trend:
        assert point.figures == service_metrics(week_start=point.week_start, campus_ids=None, now=NOW).total
    this, following = trend[-2].figures, trend[-1].figures
    assert (this.on_time, this.first_contact_in_time, this.feedback_good) == (1, 1, 1)
    assert (following.late, following.inactive_in_time, following.course_ratings) == (1, 1, 1)


def test_figures_add_up_field_by_field():
    assert ServiceFigures(on_time=1, students=2) + ServiceFigures(on_time=2, late=1) == ServiceFigures(
        on_time=3, late=1, students=2
    )


def test_the_week_and_the_trend_cost_a_handful_of_queries_however_many_teachers(
    course, homeroom, colleague, django_assert_max_num_queries, campus, supervisor
):
    for _n in range(5):
        teacher = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor)
        task(course, teacher, due="2026-11-18 10:00", done="2026-11-18 09:00")
        answer(course, teacher, FeedbackAnswer.GOOD, "2026-11-18 10:00")
    with django_assert_max_num_queries(10):
        figures = week()
    assert len(figures.by_teacher) == 5
    with django_assert_max_num_queries(7):
        service_trend(last_week_start=WEEK, campus_ids=None, now=NOW)
