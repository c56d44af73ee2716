"""Parsing, recording and recomputing learning events, and purging replay nonces."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from orders.models import CourseType, Order, PaymentChannel
from students import services
from students.models import Enrollment, IngestionNonce, LearningEvent, LearningEventSource
from tests import factories

_ids = itertools.count(1)
BASE = timezone.now() - datetime.timedelta(days=1)


def event(order: Order, **overrides) -> dict:
    """A valid raw event (as the platform sends it) for ``order``; ``overrides`` change or drop (None) keys."""
    raw = {
        "event_id": f"evt-{next(_ids)}",
        "type": "lesson_watched",
        "student_no": order.student.student_no,
        "order_no": order.order_no,
        "lesson_no": 1,
        "seconds": 600,
        "completed": True,
        "occurred_at": BASE.isoformat(),
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def at(minutes: int) -> str:
    return (BASE + datetime.timedelta(minutes=minutes)).isoformat()


def record(*raws: dict, nonce: str | None = None) -> services.RecordResult:
    events = services.learning_events_parse({"events": list(raws)})
    return services.learning_events_record(events=events, source=LearningEventSource.API, nonce=nonce)


def errors_of(excinfo: pytest.ExceptionInfo) -> list[dict[str, str]]:
    return [error.as_dict() for error in excinfo.value.errors]


def progress(order: Order) -> dict:
    enrollment = Enrollment.objects.get(order=order)
    return {field: getattr(enrollment, field) for field in services.PROGRESS_FIELDS}


@pytest.fixture(autouse=True)
def _english():
    """Error messages follow the active language (Chinese by default); these tests read the English."""
    with translation.override("en"):
        yield


@pytest.fixture
def live_order(student, campus, homeroom):
    course = factories.make_course(campus=campus, course_type=CourseType.LIVE, lessons=10)
    return factories.make_order(student=student, course=course, homeroom_teacher=homeroom)


# --- Recomputed progress


def test_only_completed_watching_counts_and_each_lesson_once(order):
    record(
        event(order, lesson_no=1),
        event(order, lesson_no=1),
        event(order, lesson_no=2),
        event(order, lesson_no=3, completed=False),
    )

    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.lessons_watched == 2
    assert enrollment.watch_progress == Decimal("6.67")  # 2 of 30 lessons


def test_watch_progress_rounds_half_up(student, campus, homeroom):
    course = factories.make_course(campus=campus, lessons=8)
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)

    record(event(order, lesson_no=1))  # 12.5 %

    assert Enrollment.objects.get(order=order).watch_progress == Decimal("12.50")
    record(*(event(order, lesson_no=n) for n in range(1, 9)))
    assert Enrollment.objects.get(order=order).watch_progress == Decimal("100.00")


def test_study_time_adds_watching_and_live_time_but_not_homework_or_rating(live_order):
    record(
        event(live_order, lesson_no=1, seconds=100, completed=False),
        event(live_order, lesson_no=1, seconds=200),
        event(live_order, type="live_attended", lesson_no=2, seconds=3000),
        event(live_order, type="homework_submitted", lesson_no=2, seconds=900),
        event(live_order, type="rating", lesson_no=None, seconds=5, rating=4),
    )

    assert Enrollment.objects.get(order=live_order).study_seconds == 3300


def test_live_course_counts_missed_live_sessions_watched_as_replays(live_order):
    record(
        event(live_order, type="live_attended", lesson_no=1),
        event(live_order, type="live_attended", lesson_no=2),
        event(live_order, lesson_no=2),  # attended live and watched again: no replay
        event(live_order, lesson_no=3),
        event(live_order, lesson_no=4),
        event(live_order, lesson_no=5, completed=False),  # not finished: no replay
    )

    enrollment = Enrollment.objects.get(order=live_order)
    assert enrollment.live_sessions_attended == 2
    assert enrollment.lessons_watched == 3
    assert enrollment.replays_watched == 2
    assert enrollment.lessons_consumed == 4


def test_recorded_course_has_no_replays(order):
    record(event(order, lesson_no=1), event(order, type="live_attended", lesson_no=2))

    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.replays_watched == 0
    assert enrollment.live_sessions_attended == 1


def test_homework_counts_distinct_lessons(order):
    record(
        event(order, type="homework_submitted", lesson_no=1),
        event(order, type="homework_submitted", lesson_no=1),
        event(order, type="homework_submitted", lesson_no=4),
    )

    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.homework_submitted == 2
    assert enrollment.lessons_consumed == 0  # homework alone delivers no lesson


def test_latest_rating_wins_whatever_the_arrival_order(order):
    record(event(order, type="rating", lesson_no=None, rating=2, occurred_at=at(30)))
    record(event(order, type="rating", lesson_no=None, rating=5, occurred_at=at(10)))

    assert Enrollment.objects.get(order=order).rating == 2


def test_last_learning_time_ignores_ratings(order):
    record(
        event(order, lesson_no=1, occurred_at=at(10)),
        event(order, type="homework_submitted", lesson_no=1, occurred_at=at(20)),
        event(order, type="rating", lesson_no=None, rating=5, occurred_at=at(90)),
    )

    assert Enrollment.objects.get(order=order).last_learning_at == BASE + datetime.timedelta(minutes=20)


def test_rating_alone_keeps_last_learning_time(student, course, homeroom):
    before = BASE - datetime.timedelta(days=2)
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom, last_learning_at=before)

    record(event(order, type="rating", lesson_no=None, rating=3))

    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.last_learning_at == before
    assert enrollment.rating == 3


def test_lessons_consumed_never_decrease(student, course, homeroom):
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom, lessons_consumed=12)

    record(event(order, lesson_no=1), event(order, lesson_no=2))

    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.lessons_consumed == 12
    assert enrollment.lessons_watched == 2


def test_lessons_consumed_count_lessons_watched_or_attended_live(live_order):
    record(
        event(live_order, lesson_no=1),
        event(live_order, type="live_attended", lesson_no=1),
        event(live_order, type="live_attended", lesson_no=2),
        event(live_order, lesson_no=3, completed=False),
    )

    assert Enrollment.objects.get(order=live_order).lessons_consumed == 2


def test_recomputation_does_not_depend_on_arrival_order_or_batching(student, campus, homeroom):
    course = factories.make_course(campus=campus, course_type=CourseType.LIVE, lessons=10)
    first = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    second = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    shapes = [
        {"type": "lesson_watched", "lesson_no": 1, "seconds": 60, "occurred_at": at(1)},
        {"type": "lesson_watched", "lesson_no": 2, "seconds": 70, "completed": False, "occurred_at": at(2)},
        {"type": "live_attended", "lesson_no": 2, "seconds": 80, "occurred_at": at(3)},
        {"type": "lesson_watched", "lesson_no": 3, "seconds": 90, "occurred_at": at(4)},
        {"type": "homework_submitted", "lesson_no": 3, "occurred_at": at(5)},
        {"type": "rating", "lesson_no": None, "rating": 4, "occurred_at": at(6)},
        {"type": "rating", "lesson_no": None, "rating": 2, "occurred_at": at(6)},  # same time: event id decides
        {"type": "rating", "lesson_no": None, "rating": 1, "occurred_at": at(0)},
    ]

    record(*(event(first, event_id=f"a-{i}", **shape) for i, shape in enumerate(shapes)))
    for i, shape in reversed(list(enumerate(shapes))):
        record(event(second, event_id=f"b-{i}", **shape))

    assert progress(first) == progress(second)
    assert progress(first)["rating"] == 2  # "a-6" sorts after "a-5"


def test_test_scores_fill_tests_taken_and_their_average_rounded_half_up(order):
    record(
        event(order, type="test_scored", lesson_no=None, score=80, occurred_at=at(1)),
        event(order, type="test_scored", lesson_no=3, score=90.5, occurred_at=at(2)),
        event(order, type="test_scored", lesson_no=3, score=65.55, occurred_at=at(3)),  # a retake is a test too
    )

    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.tests_taken == 3
    assert enrollment.test_score_avg == Decimal("78.68")  # 236.05 / 3 = 78.683...
    assert enrollment.last_learning_at == BASE + datetime.timedelta(minutes=3)  # a test is learning
    assert enrollment.lessons_consumed == 0  # and delivers no lesson
    assert enrollment.study_seconds == 0


def test_a_later_batch_of_tests_is_averaged_with_the_earlier_ones(order):
    record(event(order, type="test_scored", lesson_no=None, score=100))
    record(event(order, type="test_scored", lesson_no=None, score=50), event(order, lesson_no=1))

    enrollment = Enrollment.objects.get(order=order)
    assert (enrollment.tests_taken, enrollment.test_score_avg) == (2, Decimal("75.00"))


def test_events_without_tests_keep_the_test_figures(student, course, homeroom):
    order = factories.make_order(
        student=student, course=course, homeroom_teacher=homeroom, tests_taken=2, test_score_avg=Decimal("71.50")
    )

    record(event(order, lesson_no=1))

    enrollment = Enrollment.objects.get(order=order)
    assert (enrollment.tests_taken, enrollment.test_score_avg) == (2, Decimal("71.50"))


def test_test_score_is_stored_with_its_lesson(order):
    record(event(order, event_id="t1", type="test_scored", lesson_no=4, score=59.9, seconds=1200))

    stored = LearningEvent.objects.get()
    assert (stored.kind, stored.lesson_no, stored.score, stored.seconds) == ("test_scored", 4, Decimal("59.90"), 1200)


# --- Idempotence


def test_resent_events_are_duplicates_and_change_nothing(order):
    events = [event(order, lesson_no=n) for n in (1, 2, 3)]
    first = record(*events)
    before = progress(order)

    again = record(*events, event(order, lesson_no=4))

    assert (first.accepted, first.duplicates) == (3, 0)
    assert (again.accepted, again.duplicates) == (1, 3)
    assert LearningEvent.objects.count() == 4
    assert progress(order)["lessons_watched"] == before["lessons_watched"] + 1


def test_only_duplicates_leave_the_enrollment_history_alone(order):
    events = [event(order, lesson_no=1)]
    record(*events)
    history = Enrollment.history.filter(id=order.enrollment.pk).count()

    result = record(*events)

    assert result.enrollments_updated == 0
    assert Enrollment.history.filter(id=order.enrollment.pk).count() == history


def test_same_event_id_twice_in_one_batch_counts_once(order):
    result = record(event(order, event_id="twice", lesson_no=1), event(order, event_id="twice", lesson_no=2))

    assert (result.accepted, result.duplicates) == (1, 1)
    assert LearningEvent.objects.get().lesson_no == 1


def test_each_progress_change_leaves_a_history_record_with_the_source(order):
    record(event(order, lesson_no=1))

    latest = Enrollment.history.filter(id=order.enrollment.pk).latest("history_date")
    assert latest.lessons_watched == 1
    assert latest.history_change_reason == "learning events (api)"


def test_events_are_stored_with_their_source_and_fields(order):
    occurred_at = BASE.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    record(event(order, event_id="e1", lesson_no=7, seconds=42, completed=False, occurred_at=occurred_at.isoformat()))

    stored = LearningEvent.objects.get()
    assert (stored.event_id, stored.kind, stored.lesson_no, stored.seconds, stored.completed) == (
        "e1",
        "lesson_watched",
        7,
        42,
        False,
    )
    assert stored.occurred_at == BASE
    assert stored.source == LearningEventSource.API
    assert stored.enrollment == order.enrollment


# --- Validation: every problem, with its path, nothing stored


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_id": None}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "x" * 65}, "event_id"),
        ({"event_id": 17}, "event_id"),
        ({"type": None}, "type"),
        ({"type": "lesson_skipped"}, "type"),
        ({"student_no": None}, "student_no"),
        ({"order_no": None}, "order_no"),
        ({"lesson_no": None}, "lesson_no"),
        ({"lesson_no": 0}, "lesson_no"),
        ({"lesson_no": "3"}, "lesson_no"),
        ({"lesson_no": True}, "lesson_no"),
        ({"lesson_no": 2.5}, "lesson_no"),
        ({"seconds": -1}, "seconds"),
        ({"seconds": 24 * 3600 + 1}, "seconds"),
        ({"completed": "yes"}, "completed"),
        ({"rating": 3}, "rating"),
        ({"type": "rating", "lesson_no": None}, "rating"),
        ({"type": "rating", "rating": 0}, "rating"),
        ({"type": "rating", "rating": 6}, "rating"),
        ({"type": "test_scored", "lesson_no": None}, "score"),
        ({"type": "test_scored", "score": -1}, "score"),
        ({"type": "test_scored", "score": 100.01}, "score"),
        ({"type": "test_scored", "score": "80"}, "score"),
        ({"type": "test_scored", "score": True}, "score"),
        ({"type": "test_scored", "score": 80.125}, "score"),
        ({"type": "test_scored", "score": float("nan")}, "score"),
        ({"type": "test_scored", "score": 80, "rating": 4}, "rating"),
        ({"score": 80}, "score"),
        ({"type": "rating", "rating": 4, "score": 80}, "score"),
        ({"occurred_at": None}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2024-05-01T10:00:00"}, "occurred_at"),
        # Parametrised at collection time, long before the test runs: far enough ahead to stay future.
        ({"occurred_at": (timezone.now() + datetime.timedelta(days=1)).isoformat()}, "occurred_at"),
        ({"occurred_at": 1714557600}, "occurred_at"),
        ({"occurred_at": "0001-01-01T00:00:00+08:00"}, "occurred_at"),
    ],
)
def test_invalid_field_is_named_in_the_error(order, overrides, field):
    with pytest.raises(services.LearningDataError) as excinfo:
        services.learning_events_parse({"events": [event(order), event(order, **overrides)]})

    assert [error["field"] for error in errors_of(excinfo)] == [f"events[1].{field}"]


def test_a_few_minutes_of_clock_drift_into_the_future_are_accepted(order):
    soon = timezone.now() + datetime.timedelta(minutes=4)

    assert record(event(order, occurred_at=soon.isoformat())).accepted == 1


def test_rating_event_needs_no_lesson(order):
    assert record(event(order, type="rating", lesson_no=None, rating=5)).accepted == 1


@pytest.mark.parametrize("score", [0, 100, 100.0, 0.01, 99.99])
def test_test_event_needs_no_lesson_and_takes_scores_at_the_bounds(order, score):
    assert record(event(order, type="test_scored", lesson_no=None, score=score)).accepted == 1


def test_test_of_a_lesson_beyond_the_course_is_refused(order):
    with pytest.raises(services.LearningDataError) as excinfo:
        record(event(order, type="test_scored", lesson_no=31, score=70))

    assert [error["field"] for error in errors_of(excinfo)] == ["events[0].lesson_no"]


@pytest.mark.parametrize(
    ("kind", "lesson_no", "score"),
    [
        ("test_scored", None, None),
        ("test_scored", 1, Decimal("100.01")),
        ("test_scored", 1, Decimal("-0.01")),
        ("lesson_watched", 1, Decimal("80")),
        ("homework_submitted", None, None),
    ],
)
def test_the_database_refuses_a_score_where_it_does_not_belong(order, kind, lesson_no, score):
    with pytest.raises(IntegrityError), transaction.atomic():
        LearningEvent.objects.create(
            event_id="raw",
            enrollment=order.enrollment,
            kind=kind,
            lesson_no=lesson_no,
            score=score,
            occurred_at=BASE,
            source=LearningEventSource.API,
        )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "events"),
        ({}, "events"),
        ({"events": {"event_id": "x"}}, "events"),
        ({"events": ["not an object"]}, "events[0]"),
    ],
)
def test_malformed_batch_is_named_in_the_error(payload, field):
    with pytest.raises(services.LearningDataError) as excinfo:
        services.learning_events_parse(payload)

    assert [error["field"] for error in errors_of(excinfo)] == [field]


def test_more_than_a_thousand_events_are_refused(order):
    raws = [event(order) for _ in range(services.MAX_EVENTS_PER_REQUEST + 1)]

    with pytest.raises(services.LearningDataError) as excinfo:
        services.learning_events_parse({"events": raws})

    assert errors_of(excinfo)[0]["field"] == "events"


def test_all_errors_of_a_batch_are_reported_together(order):
    with pytest.raises(services.LearningDataError) as excinfo:
        services.learning_events_parse(
            {"events": [event(order, lesson_no=0), event(order), event(order, type="x", occurred_at="now")]}
        )

    assert [error["field"] for error in errors_of(excinfo)] == [
        "events[0].lesson_no",
        "events[2].type",
        "events[2].occurred_at",
    ]


def test_unknown_student_is_named(order):
    with pytest.raises(services.LearningDataError) as excinfo:
        record(event(order), event(order, student_no="S-NOBODY"))

    assert errors_of(excinfo) == [{"field": "events[1].student_no", "message": "No student S-NOBODY."}]


def test_order_of_another_student_is_reported_as_not_hers(order, other_student):
    with pytest.raises(services.LearningDataError) as excinfo:
        record(event(order, student_no=other_student.student_no))

    assert errors_of(excinfo) == [
        {
            "field": "events[0].order_no",
            "message": f"No order {order.order_no} for student {other_student.student_no}.",
        }
    ]


def test_unknown_order_is_named(order):
    with pytest.raises(services.LearningDataError) as excinfo:
        record(event(order, order_no="NO-NONE"))

    assert errors_of(excinfo)[0]["field"] == "events[0].order_no"


def test_order_without_enrollment_is_refused(student, course):
    order = Order.objects.create(
        order_no="NO-BARE",
        student=student,
        course=course,
        amount_paid=course.price,
        paid_at=timezone.now(),
        channel=PaymentChannel.OFFLINE,
    )

    with pytest.raises(services.LearningDataError) as excinfo:
        record(event(order))

    assert errors_of(excinfo) == [{"field": "events[0].order_no", "message": "Order NO-BARE has no enrollment."}]


def test_lesson_beyond_the_course_is_refused(order):
    with pytest.raises(services.LearningDataError) as excinfo:
        record(event(order, lesson_no=order.course.lessons + 1))

    assert errors_of(excinfo)[0]["field"] == "events[0].lesson_no"


def test_one_bad_event_stores_nothing_of_the_batch(order):
    with pytest.raises(services.LearningDataError):
        record(event(order, lesson_no=1), event(order, lesson_no=2, order_no="NO-NONE"), nonce="a" * 64)

    assert LearningEvent.objects.count() == 0
    assert IngestionNonce.objects.count() == 0
    assert Enrollment.objects.get(order=order).lessons_watched == 0


# --- Replay nonces


def test_nonce_seen_before_is_a_replay_and_stores_nothing(order):
    record(event(order, lesson_no=1), nonce="a" * 64)

    with pytest.raises(services.LearningReplayError):
        record(event(order, lesson_no=2), nonce="a" * 64)

    assert LearningEvent.objects.count() == 1
    assert Enrollment.objects.get(order=order).lessons_watched == 1


def test_purge_deletes_nonces_older_than_twice_the_window(db, settings):
    settings.LEARNING_PLATFORM_MAX_SKEW_SECONDS = 300
    old = IngestionNonce.objects.create(signature="o" * 64)
    fresh = IngestionNonce.objects.create(signature="f" * 64)
    IngestionNonce.objects.filter(pk=old.pk).update(received_at=timezone.now() - datetime.timedelta(seconds=601))
    IngestionNonce.objects.filter(pk=fresh.pk).update(received_at=timezone.now() - datetime.timedelta(seconds=590))

    assert services.ingestion_nonce_purge() == 1
    assert list(IngestionNonce.objects.values_list("signature", flat=True)) == ["f" * 64]


def test_purge_takes_an_explicit_cutoff(db):
    IngestionNonce.objects.create(signature="n" * 64)

    assert services.ingestion_nonce_purge(older_than=timezone.now() + datetime.timedelta(seconds=1)) == 1


# --- Query count


@pytest.mark.parametrize("size", [10, 100])
def test_recording_a_batch_takes_a_constant_number_of_queries(
    student, campus, homeroom, size, django_assert_max_num_queries
):
    course = factories.make_course(campus=campus, course_type=CourseType.LIVE, lessons=100)
    orders = [factories.make_order(student=student, course=course, homeroom_teacher=homeroom) for _ in range(3)]
    kinds = ["lesson_watched", "live_attended", "homework_submitted"]
    raws = [event(orders[i % 3], type=kinds[i % 3], lesson_no=i % 100 + 1, occurred_at=at(i)) for i in range(size - 1)]
    raws.append(event(orders[0], type="rating", lesson_no=None, rating=4))
    events = services.learning_events_parse({"events": raws})

    # students, orders, savepoint+nonce, lock, stored ids, insert (2 on SQLite), stats, ratings, update, history
    with django_assert_max_num_queries(16):
        result = services.learning_events_record(events=events, source=LearningEventSource.API, nonce="c" * 64)

    assert result.accepted == size
    assert result.enrollments_updated == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_event_id_from_two_concurrent_batches_stores_one_and_asks_the_other_to_retry(
    student, other_student, course, homeroom
):
    """Two batches race with one event id for different orders: one wins, the other stores nothing."""
    import threading

    from django.db import connection

    mine = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    theirs = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    batches = [
        services.learning_events_parse({"events": [event(mine, event_id="shared"), event(mine, event_id="mine-2")]}),
        services.learning_events_parse({"events": [event(theirs, event_id="shared")]}),
    ]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def send(batch):
        try:
            barrier.wait()
            services.learning_events_record(events=batch, source=LearningEventSource.API)
            outcomes.append("stored")
        except services.LearningConflictError:
            outcomes.append("conflict")
        finally:
            connection.close()

    for _ in range(10):
        LearningEvent.objects.all().delete()
        outcomes.clear()
        threads = [threading.Thread(target=send, args=(batch,)) for batch in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = LearningEvent.objects.filter(event_id="shared")
        assert stored.count() == 1
        assert sorted(outcomes) in (["conflict", "stored"], ["stored", "stored"])
        if "conflict" in outcomes:
            # The loser stored nothing at all, not even its other event.
            loser_order = theirs if stored.get().enrollment.order_id == mine.pk else mine
            assert not LearningEvent.objects.filter(enrollment__order=loser_order).exists()
