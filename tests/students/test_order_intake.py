"""The order intake's service: students, accounts, orders and enrollments from the order system,
the homeroom teacher each new enrollment gets, changes and cancellations, and the news."""

from __future__ import annotations

import datetime
import logging
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from orders.models import Order, OrderStatus
from refunds.services import refund_submit
from schoolops.models import StaffRole
from students import events, services
from students.events import EnrollmentNews
from students.models import Enrollment, HomeroomAssignment, LearningEvent, LearningEventSource, Student
from students.selectors import HomeroomChooser
from tests import factories

from .order_helpers import counts, order_raw, raw_of_order, student_of_order, student_raw

AT = timezone.now().replace(microsecond=0)


def record(*raws: dict, nonce: str | None = None, at: datetime.datetime = AT) -> services.IntakeResult:
    return services.orders_record(
        orders=services.orders_parse({"orders": list(raws)}), source="api", nonce=nonce, at=at
    )


def errors_of(excinfo) -> list[dict[str, str]]:
    return [error.as_dict() for error in excinfo.value.errors]


def fields_refused(*raws: dict) -> list[str]:
    with pytest.raises(services.OrderDataError) as excinfo:
        record(*raws)
    return [error["field"] for error in errors_of(excinfo)]


@pytest.fixture
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def teachers(campus, supervisor):
    """Three homeroom teachers at the campus, created in this order (ids rising)."""
    return [
        factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name=name)
        for name in ("甲老师", "乙老师", "丙老师")
    ]


def give_enrollments(teacher, count: int, *, course, status: str = OrderStatus.PAID) -> None:
    for _ in range(count):
        student = factories.make_student(campus=teacher.campus)
        order = factories.make_order(student=student, course=course, homeroom_teacher=teacher)
        Order.objects.filter(pk=order.pk).update(status=status)


# --- A new paid order


def test_new_order_creates_the_student_her_account_the_order_and_the_enrollment(course, teachers, news):
    raw = order_raw(course, referral_code="FRIEND42")

    result = record(raw)

    assert result == services.IntakeResult(created=1, updated=0, unchanged=0)
    order = Order.objects.select_related("student__user", "enrollment").get(order_no=raw["order_no"])
    student = order.student
    assert student.student_no == raw["student"]["student_no"]
    assert student.campus == course.campus
    assert student.wechat_openid == raw["student"]["wechat_openid"]
    user = student.user
    assert (user.username, user.name, user.phone, user.email) == (
        f"student-{student.student_no}",
        raw["student"]["name"],
        raw["student"]["phone"],
        raw["student"]["email"],
    )
    assert not user.has_usable_password()
    assert not user.is_staff
    assert (order.course, order.amount_paid, order.status) == (course, course.price, OrderStatus.PAID)
    assert order.paid_at == datetime.datetime.fromisoformat(raw["paid_at"])
    assert (order.channel, order.gateway_trade_no, order.referral_code) == (
        "wechat",
        raw["gateway_trade_no"],
        "FRIEND42",
    )
    assert order.enrollment.homeroom_teacher == teachers[0]
    assert order.history.get().history_change_reason == "order intake (api)"
    assert news.batches == [[EnrollmentNews(order.enrollment.pk, "paid", "FRIEND42", AT)]]


def test_the_student_logs_in_with_her_phone_once_she_has_a_password(client, course, teachers):
    raw = order_raw(course)
    record(raw)
    user = Student.objects.get(student_no=raw["student"]["student_no"]).user
    credentials = {"username": raw["student"]["phone"], "password": factories.PASSWORD}
    assert client.post(reverse("login"), credentials).status_code == 200  # no usable password yet
    user.set_password(factories.PASSWORD)
    user.save()

    response = client.post(reverse("login"), credentials, follow=True)

    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert raw["order_no"] in response.content.decode()


def test_a_known_student_is_updated_and_keeps_her_campus(other_campus, course, teachers, news):
    student = factories.make_student(campus=other_campus, name="旧名字", phone="13912345678")
    raw = order_raw(
        course,
        student=student_raw(student_no=student.student_no, name="新名字", phone="13987654321", email=None),
    )

    record(raw)

    student.refresh_from_db()
    student.user.refresh_from_db()
    assert (student.user.name, student.user.phone, student.campus) == ("新名字", "13987654321", other_campus)
    assert student.user.email.startswith("student")  # not given: kept
    assert Student.objects.count() == 1


def test_orders_of_one_student_in_one_batch_make_one_student(course, teachers):
    her = student_raw()

    record(order_raw(course, student=her), order_raw(course, student=her))

    assert Student.objects.filter(student_no=her["student_no"]).get().orders.count() == 2


def test_a_new_order_the_order_system_already_cancelled_is_kept_cancelled_without_news(course, teachers, news):
    raw = order_raw(course, status="cancelled")

    assert record(raw).created == 1

    order = Order.objects.get(order_no=raw["order_no"])
    assert order.status == OrderStatus.CANCELLED
    assert order.enrollment.homeroom_teacher == teachers[0]
    assert news.batches == []


# --- Which homeroom teacher


def test_the_teacher_with_the_fewest_active_enrollments_takes_the_order(course, teachers):
    give_enrollments(teachers[0], 2, course=course)
    give_enrollments(teachers[1], 1, course=course)
    give_enrollments(teachers[2], 3, course=course)
    # Refunded and cancelled orders are no load.
    give_enrollments(teachers[1], 3, course=course, status=OrderStatus.CANCELLED)
    raw = order_raw(course)

    record(raw)

    assert Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher == teachers[1]


def test_equal_loads_go_to_the_teacher_with_the_lowest_id(course, teachers):
    raw = order_raw(course)

    record(raw)

    assert Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher == teachers[0]


def test_a_batch_is_spread_as_if_its_orders_came_one_by_one(course, teachers):
    give_enrollments(teachers[0], 1, course=course)
    raws = [order_raw(course) for _ in range(5)]

    record(*raws)

    given = [Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher for raw in raws]
    assert given == [teachers[1], teachers[2], teachers[0], teachers[1], teachers[2]]


def test_inactive_teachers_and_other_campuses_take_no_orders(course, teachers, other_campus_homeroom):
    for teacher in teachers[:2]:
        teacher.user.is_active = False
        teacher.user.save()
    give_enrollments(teachers[2], 5, course=course)
    raw = order_raw(course)

    record(raw)

    assert Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher == teachers[2]


def test_a_rule_for_the_course_wins(campus, course, teachers):
    give_enrollments(teachers[2], 4, course=course)
    HomeroomAssignment.objects.create(campus=campus, course=course, teacher=teachers[2])
    HomeroomAssignment.objects.create(campus=campus, teacher=teachers[1])
    raws = [order_raw(course), order_raw(course)]

    record(*raws)

    assert {Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher for raw in raws} == {teachers[2]}


def test_the_campus_rule_takes_courses_without_their_own(campus, course, teachers):
    other_course = factories.make_course(campus=campus)
    HomeroomAssignment.objects.create(campus=campus, course=other_course, teacher=teachers[2])
    HomeroomAssignment.objects.create(campus=campus, teacher=teachers[1])
    raw = order_raw(course)

    record(raw)

    assert Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher == teachers[1]


def test_a_rule_whose_teacher_left_is_passed_over(campus, course, teachers):
    HomeroomAssignment.objects.create(campus=campus, course=course, teacher=teachers[2])
    teachers[2].user.is_active = False
    teachers[2].user.save()
    raw = order_raw(course)

    record(raw)

    assert Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher == teachers[0]


def test_the_teacher_named_on_the_order_wins_over_the_rules(campus, course, teachers):
    HomeroomAssignment.objects.create(campus=campus, course=course, teacher=teachers[0])
    raw = order_raw(course, homeroom_teacher=teachers[2].user.username)

    record(raw)

    assert Enrollment.objects.get(order__order_no=raw["order_no"]).homeroom_teacher == teachers[2]


@pytest.mark.parametrize("who", ["other_campus_homeroom", "supervisor", "inactive", "nobody"])
def test_the_named_teacher_must_be_an_active_homeroom_teacher_of_the_courses_campus(
    request, course, teachers, english, who
):
    if who == "nobody":
        username = "no-such-user"
    elif who == "inactive":
        teachers[0].user.is_active = False
        teachers[0].user.save()
        username = teachers[0].user.username
    else:
        username = request.getfixturevalue(who).user.username
    before = counts()

    assert fields_refused(order_raw(course, homeroom_teacher=username)) == ["orders[0].homeroom_teacher"]
    assert counts() == before


def test_a_campus_without_homeroom_teachers_refuses_the_order(course, english):
    with pytest.raises(services.OrderDataError) as excinfo:
        record(order_raw(course))

    assert errors_of(excinfo) == [
        {
            "field": "orders[0].homeroom_teacher",
            "message": f"No active homeroom teacher at {course.campus} to take this order; name one.",
        }
    ]
    assert not Order.objects.exists()


def test_choosing_teachers_takes_two_queries_for_any_number_of_campuses(
    campus, other_campus, teachers, other_campus_homeroom, django_assert_num_queries
):
    courses = [factories.make_course(campus=campus), factories.make_course(campus=other_campus)]

    with django_assert_num_queries(2):
        chooser = HomeroomChooser.for_campuses([campus.pk, other_campus.pk])
        chosen = [chooser.choose(course) for course in courses * 3]

    assert chosen == [teachers[0], other_campus_homeroom, teachers[1], other_campus_homeroom] + [
        teachers[2],
        other_campus_homeroom,
    ]


# --- Sent again, changed, cancelled


def test_the_same_order_sent_again_is_unchanged_and_announces_nothing(order, news):
    before = counts()

    result = record(raw_of_order(order))

    assert result == services.IntakeResult(created=0, updated=0, unchanged=1)
    assert counts() == before
    assert order.history.count() == 1
    assert news.batches == []


def test_a_refunded_order_sent_again_as_paid_is_unchanged(order, news):
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("500.00"), status=OrderStatus.PARTIALLY_REFUNDED)

    assert record(raw_of_order(order)).unchanged == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_REFUNDED


def test_a_changed_amount_updates_the_order_and_announces_the_change(order, news):
    result = record(raw_of_order(order, amount_paid="2800.00", referral_code="R1"))

    assert result.updated == 1
    order.refresh_from_db()
    assert (order.amount_paid, order.referral_code) == (Decimal("2800.00"), "R1")
    assert order.history.first().history_change_reason == "order intake (api)"
    assert news.news == [EnrollmentNews(order.enrollment.pk, "changed", "R1", AT)]


def test_the_amount_may_not_fall_below_what_was_refunded(order, english):
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("1000.00"), status=OrderStatus.PARTIALLY_REFUNDED)

    with pytest.raises(services.OrderDataError) as excinfo:
        record(raw_of_order(order, amount_paid="999.99"))

    assert errors_of(excinfo) == [
        {"field": "orders[0].amount_paid", "message": "Cannot be less than the 1000.00 yuan already refunded."}
    ]
    order.refresh_from_db()
    assert order.amount_paid == Decimal("3000.00")


def test_the_status_follows_a_changed_amount(order):
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("1000.00"), status=OrderStatus.PARTIALLY_REFUNDED)

    record(raw_of_order(order, amount_paid="1000.00"))

    order.refresh_from_db()
    assert (order.amount_paid, order.status) == (Decimal("1000.00"), OrderStatus.REFUNDED)


def test_an_order_is_cancelled_in_place(order, news):
    before = counts()

    result = record(raw_of_order(order, status="cancelled"))

    assert result.updated == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.refundable_remaining == Decimal("0.00")
    assert counts() == before
    assert news.news == [EnrollmentNews(order.enrollment.pk, "cancelled", "", AT)]
    # Sent again: nothing more happens.
    assert record(raw_of_order(order, status="cancelled")).unchanged == 1
    assert len(news.batches) == 1


def test_an_order_with_refunded_money_cannot_be_cancelled(order, english):
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("300.00"), status=OrderStatus.PARTIALLY_REFUNDED)

    with pytest.raises(services.OrderDataError) as excinfo:
        record(raw_of_order(order, status="cancelled"))

    assert errors_of(excinfo)[0]["field"] == "orders[0].status"
    assert "300.00 yuan" in errors_of(excinfo)[0]["message"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_REFUNDED


def test_an_order_with_a_refund_request_cannot_be_cancelled(order, shipped_data):
    refund_submit(student=order.student, order_no=order.order_no, reason="time_conflict", details="工作调动。")

    assert fields_refused(raw_of_order(order, status="cancelled")) == ["orders[0].status"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_a_cancelled_order_is_not_paid_again(order):
    record(raw_of_order(order, status="cancelled"))

    assert fields_refused(raw_of_order(order)) == ["orders[0].status"]


def test_an_order_never_moves_to_another_student(order, other_student):
    raw = raw_of_order(order)
    raw["student"] = student_raw(
        student_no=other_student.student_no, name=other_student.user.name, phone=other_student.phone
    )

    assert fields_refused(raw) == ["orders[0].student.student_no"]


def test_the_course_changes_while_nothing_was_learnt(order, campus, news):
    other_course = factories.make_course(campus=campus, price="1999.00")

    record(raw_of_order(order, course_code=other_course.code))

    order.refresh_from_db()
    assert order.course == other_course
    assert news.news[0].kind == "changed"


def test_a_course_at_another_campus_gets_a_teacher_there(order, other_campus, other_campus_homeroom):
    elsewhere = factories.make_course(campus=other_campus)

    record(raw_of_order(order, course_code=elsewhere.code))

    assert Enrollment.objects.get(order=order).homeroom_teacher == other_campus_homeroom


def test_the_course_does_not_change_once_the_enrollment_has_learning_events(order, campus, english):
    LearningEvent.objects.create(
        event_id="e1",
        enrollment=order.enrollment,
        kind="lesson_watched",
        lesson_no=1,
        occurred_at=AT,
        source=LearningEventSource.API,
    )
    other_course = factories.make_course(campus=campus)

    with pytest.raises(services.OrderDataError) as excinfo:
        record(raw_of_order(order, course_code=other_course.code))

    assert errors_of(excinfo) == [
        {"field": "orders[0].course_code", "message": "The course cannot change: the enrollment has learning events."}
    ]
    order.refresh_from_db()
    assert order.course != other_course


def test_the_teacher_changes_when_the_order_names_another(order, campus, supervisor, news):
    other = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor)

    assert record(raw_of_order(order, homeroom_teacher=other.user.username)).updated == 1

    assert Enrollment.objects.get(order=order).homeroom_teacher == other
    assert [item.kind for item in news.news] == ["changed"]


def test_a_changed_phone_updates_the_student_without_news(order, news):
    raw = raw_of_order(order)
    raw["student"]["phone"] = "13700001111"

    assert record(raw).updated == 1

    assert Student.objects.get(pk=order.student_id).phone == "13700001111"
    assert news.batches == []


# --- Conflicts with stored rows and within the batch


def test_a_phone_of_another_account_is_refused(course, teachers, homeroom):
    homeroom.user.phone = "13600000000"
    homeroom.user.save()

    assert fields_refused(order_raw(course, student=student_raw(phone="13600000000"))) == ["orders[0].student.phone"]


def test_a_transaction_number_of_another_order_is_refused(order, course, teachers):
    raw = order_raw(course, channel=order.channel, gateway_trade_no=order.gateway_trade_no)

    assert fields_refused(raw) == ["orders[0].gateway_trade_no"]


def test_one_student_described_two_ways_in_a_batch_is_refused(course, teachers):
    her = student_raw()

    fields = fields_refused(order_raw(course, student=her), order_raw(course, student={**her, "name": "别名"}))

    assert fields == ["orders[1].student.name"]


def test_one_phone_for_two_students_in_a_batch_is_refused(course, teachers):
    fields = fields_refused(
        order_raw(course, student=student_raw(phone="13511112222")),
        order_raw(course, student=student_raw(phone="13511112222")),
    )

    assert fields == ["orders[1].student.phone"]


def test_one_bad_order_stores_nothing_of_the_batch(order, course, teachers, news):
    before = counts()

    fields_refused(order_raw(course), raw_of_order(order, amount_paid="1.00"), order_raw(course, course_code="nope"))

    assert counts() == before
    order.refresh_from_db()
    assert order.amount_paid == Decimal("3000.00")
    assert news.batches == []


def test_a_replayed_nonce_stores_nothing(course, teachers):
    record(order_raw(course), nonce="a" * 64)
    before = counts()

    with pytest.raises(services.IngestionReplayError):
        record(order_raw(course), nonce="a" * 64)

    assert counts() == before


# --- The news writers


def test_every_writer_hears_the_whole_batch_once(course, teachers, news):
    raws = [order_raw(course, referral_code=f"R{n}") for n in range(3)]

    record(*raws, at=AT)

    assert len(news.batches) == 1
    enrollments = {e.order.order_no: e.pk for e in Enrollment.objects.select_related("order")}
    assert news.news == [EnrollmentNews(enrollments[raw["order_no"]], "paid", raw["referral_code"], AT) for raw in raws]


def test_a_failing_writer_is_rolled_back_and_logged_and_the_orders_commit(course, teachers, news, caplog):
    def broken(items):
        Student.objects.update(wechat_openid="written-by-the-broken-writer")
        raise RuntimeError("boom")

    events._writers.insert(0, broken)
    raw = order_raw(course)

    with caplog.at_level(logging.ERROR, logger="students.events"):
        assert record(raw).created == 1

    assert Order.objects.filter(order_no=raw["order_no"]).exists()
    assert not Student.objects.filter(wechat_openid="written-by-the-broken-writer").exists()
    assert "boom" in caplog.text
    assert len(news.batches) == 1  # the next writer still heard it


def test_what_a_writer_writes_commits_with_the_orders(course, teachers, news):
    def writer(items):
        for item in items:
            Enrollment.objects.filter(pk=item.enrollment_id).update(lessons_consumed=1)

    events.enrollment_news_writer(writer)

    record(order_raw(course))

    assert Enrollment.objects.get().lessons_consumed == 1


def test_a_writer_registered_twice_runs_once(course, teachers, news):
    events.enrollment_news_writer(news)

    record(order_raw(course))

    assert len(news.batches) == 1


# --- History and the student's side


def test_the_intake_keeps_the_student_and_order_in_their_history(course, teachers):
    raw = order_raw(course)

    record(raw, at=AT)

    order = Order.objects.get(order_no=raw["order_no"])
    assert order.history.get().history_change_reason == "order intake (api)"
    assert order.student.history.get().history_change_reason == "order intake (api)"
    assert order.enrollment.history.get().homeroom_teacher_id == teachers[0].pk


def test_a_stored_students_details_as_sent_again_change_nothing(order):
    raw = raw_of_order(order)
    raw["student"] = student_of_order(order)

    assert record(raw).unchanged == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_new_order_in_two_concurrent_batches_is_stored_once(course, campus, supervisor):
    """Two batches race with the same new order and student: the intakes run one after the other,
    so the first creates them and the second finds them stored (never a spurious refusal)."""
    factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor)
    for _ in range(6):
        shared, own = order_raw(course), order_raw(course)
        batches = [services.orders_parse({"orders": [shared]}), services.orders_parse({"orders": [shared, own]})]
        barrier = threading.Barrier(2)
        outcomes: dict[int, str] = {}

        def send(n, barrier=barrier, outcomes=outcomes, batches=batches):
            try:
                barrier.wait()
                result = services.orders_record(orders=batches[n], source="api")
                outcomes[n] = f"created {result.created}, unchanged {result.unchanged}"
            except (services.OrderConflictError, services.OrderDataError) as exc:
                outcomes[n] = repr(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes in (
            {0: "created 1, unchanged 0", 1: "created 1, unchanged 1"},
            {0: "created 0, unchanged 1", 1: "created 2, unchanged 0"},
        ), outcomes
        assert Order.objects.filter(order_no=shared["order_no"]).count() == 1
        assert Student.objects.filter(student_no=shared["student"]["student_no"]).count() == 1
