"""POST /api/learning/events/: the signed JSON endpoint of the learning platform."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import itertools
import json
import logging
import time

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orders.models import CourseType, Order
from students.models import Enrollment, IngestionNonce, LearningEvent, LearningEventSource
from tests import factories

SECRET = "test-learning-platform-secret"
_ids = itertools.count(1)
BASE = timezone.now() - datetime.timedelta(hours=3)


@pytest.fixture(autouse=True)
def _platform_secret(settings):
    settings.LEARNING_PLATFORM_SECRET = SECRET
    settings.LEARNING_PLATFORM_MAX_SKEW_SECONDS = 300


@pytest.fixture
def url():
    return reverse("learning_api:events")


def event(order: Order, **overrides) -> dict:
    raw = {
        "event_id": f"api-{next(_ids)}",
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


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    """The protocol, written out independently of the code under test."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def post(client, url, payload, *, timestamp: int | None = None, secret: str = SECRET, headers: dict | None = None):
    """POST ``payload`` (a dict, or raw bytes) signed like the platform does; ``headers`` replace the signed ones."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signed = {"X-Schoolops-Timestamp": stamp, "X-Schoolops-Signature": sign(body, stamp, secret)}
    signed.update(headers or {})
    signed = {name: value for name, value in signed.items() if value is not None}
    return client.post(url, data=body, content_type="application/json", headers=signed)


def stored_nothing() -> bool:
    return not LearningEvent.objects.exists() and not IngestionNonce.objects.exists()


# --- Success


def test_signed_batch_is_stored_and_updates_every_counter(client, url, student, campus, homeroom):
    course = factories.make_course(campus=campus, course_type=CourseType.LIVE, lessons=8)
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    latest = BASE + datetime.timedelta(minutes=50)
    batch = [
        event(order, type="live_attended", lesson_no=1, seconds=3600),
        event(order, lesson_no=1, seconds=300),
        event(order, lesson_no=2, seconds=1800),
        event(order, lesson_no=3, seconds=200, completed=False),
        event(order, type="homework_submitted", lesson_no=1, seconds=0, occurred_at=latest.isoformat()),
        event(order, type="rating", lesson_no=None, rating=4, occurred_at=(latest.isoformat())),
    ]

    response = post(client, url, {"events": batch})

    assert response.status_code == 200
    assert response.json() == {"accepted": 6, "duplicates": 0}
    enrollment = Enrollment.objects.get(order=order)
    assert enrollment.lessons_watched == 2
    assert enrollment.live_sessions_attended == 1
    assert enrollment.replays_watched == 1
    assert enrollment.homework_submitted == 1
    assert enrollment.study_seconds == 5900
    assert enrollment.rating == 4
    assert enrollment.last_learning_at == latest
    assert str(enrollment.watch_progress) == "25.00"
    assert enrollment.lessons_consumed == 2
    assert LearningEvent.objects.filter(source=LearningEventSource.API).count() == 6
    assert IngestionNonce.objects.count() == 1


def test_test_scores_are_stored_and_fill_the_enrollment(client, url, order):
    batch = [
        event(order, type="test_scored", lesson_no=None, seconds=None, score=88),
        event(order, type="test_scored", lesson_no=2, seconds=None, score=73.5),
    ]

    response = post(client, url, {"events": batch})

    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0}
    enrollment = Enrollment.objects.get(order=order)
    assert (enrollment.tests_taken, str(enrollment.test_score_avg)) == (2, "80.75")
    assert sorted(str(score) for score in LearningEvent.objects.values_list("score", flat=True)) == ["73.50", "88.00"]


@pytest.mark.parametrize("score", [-0.5, 101, "high"])
def test_test_score_out_of_range_is_refused_naming_the_field(client, url, order, score):
    response = post(client, url, {"events": [event(order, type="test_scored", lesson_no=None, score=score)]})

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["events[0].score"]
    assert stored_nothing()
    assert Enrollment.objects.get(order=order).tests_taken == 0


def test_endpoint_needs_no_csrf_token(url, order):
    response = post(Client(enforce_csrf_checks=True), url, {"events": [event(order)]})

    assert response.status_code == 200


def test_timestamp_just_inside_the_window_is_accepted(client, url, order):
    response = post(client, url, {"events": [event(order)]}, timestamp=int(time.time()) - 295)

    assert response.status_code == 200


def test_empty_batch_is_accepted(client, url, db):
    response = post(client, url, {"events": []})

    assert response.json() == {"accepted": 0, "duplicates": 0}


# --- Authentication


def test_forged_signature_is_refused_and_nothing_stored(client, url, order):
    response = post(client, url, {"events": [event(order)]}, headers={"X-Schoolops-Signature": "0" * 64})

    assert response.status_code == 401
    assert "error" in response.json()
    assert stored_nothing()


def test_signature_made_with_another_secret_is_refused(client, url, order):
    response = post(client, url, {"events": [event(order)]}, secret="not-the-shared-secret")

    assert response.status_code == 401
    assert stored_nothing()


def test_body_changed_after_signing_is_refused(client, url, order):
    body = json.dumps({"events": [event(order, lesson_no=1)]}).encode()
    stamp = str(int(time.time()))
    tampered = body.replace(b'"lesson_no": 1', b'"lesson_no": 2')

    response = post(
        client, url, tampered, headers={"X-Schoolops-Timestamp": stamp, "X-Schoolops-Signature": sign(body, stamp)}
    )

    assert response.status_code == 401
    assert stored_nothing()


def test_signature_for_another_timestamp_is_refused(client, url, order):
    body = json.dumps({"events": [event(order)]}).encode()
    now = int(time.time())

    response = post(
        client,
        url,
        body,
        headers={"X-Schoolops-Timestamp": str(now), "X-Schoolops-Signature": sign(body, str(now - 1))},
    )

    assert response.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Schoolops-Signature": None},
        {"X-Schoolops-Timestamp": None},
        {"X-Schoolops-Signature": None, "X-Schoolops-Timestamp": None},
        {"X-Schoolops-Signature": ""},
        {"X-Schoolops-Timestamp": "yesterday"},
        {"X-Schoolops-Timestamp": "-1"},
        {"X-Schoolops-Signature": "not-hex"},
        {"X-Schoolops-Signature": "Ä" * 64},
        {"X-Schoolops-Timestamp": "١٧٠٠٠٠٠٠٠٠"},
    ],
    ids=[
        "no-signature",
        "no-timestamp",
        "no-headers",
        "empty-signature",
        "word",
        "negative",
        "not-hex",
        "non-ascii",
        "non-ascii-digits",
    ],
)
def test_missing_or_malformed_headers_are_refused(client, url, order, headers):
    response = post(client, url, {"events": [event(order)]}, headers=headers)

    assert response.status_code == 401
    assert stored_nothing()


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_timestamp_outside_the_window_is_refused(client, url, order, offset):
    response = post(client, url, {"events": [event(order)]}, timestamp=int(time.time()) + offset)

    assert response.status_code == 401
    assert response.json() == {"error": "timestamp outside the allowed window"}
    assert stored_nothing()


def test_rejection_is_logged_with_its_reason_but_never_the_secret(client, url, order, caplog):
    with caplog.at_level(logging.WARNING, logger="students.api"):
        post(client, url, {"events": [event(order)]}, secret="wrong")

    assert "signature does not match" in caplog.text
    assert SECRET not in caplog.text


# --- Replays and re-sent events


def test_replayed_request_is_refused_and_stores_nothing_more(client, url, order):
    body = json.dumps({"events": [event(order, lesson_no=1), event(order, lesson_no=2)]}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Schoolops-Timestamp": stamp, "X-Schoolops-Signature": sign(body, stamp)}
    assert post(client, url, body, headers=headers).status_code == 200
    before = Enrollment.objects.get(order=order).history.count()

    response = post(client, url, body, headers=headers)

    assert response.status_code == 409
    assert "error" in response.json()
    assert LearningEvent.objects.count() == 2
    assert IngestionNonce.objects.count() == 1
    assert Enrollment.objects.get(order=order).history.count() == before


def test_resent_events_with_a_new_timestamp_count_as_duplicates(client, url, order):
    batch = {"events": [event(order, lesson_no=1), event(order, lesson_no=2, seconds=100)]}
    now = int(time.time())
    post(client, url, batch, timestamp=now - 10)
    before = Enrollment.objects.values().get(order=order)

    response = post(client, url, batch, timestamp=now)

    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 2}
    assert Enrollment.objects.values().get(order=order) == before
    assert IngestionNonce.objects.count() == 2


def test_event_id_twice_in_one_request_counts_once(client, url, order):
    batch = {"events": [event(order, event_id="same"), event(order, event_id="same")]}

    assert post(client, url, batch).json() == {"accepted": 1, "duplicates": 1}


# --- Bad bodies


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b'{"events": [', "ünïcode".encode("latin-1"), b"[" * 100_000 + b"]" * 100_000],
    ids=["broken", "empty", "truncated", "not-utf8", "too-deep"],
)
def test_malformed_json_is_a_bad_request(client, url, body, db):
    response = post(client, url, body)

    assert response.status_code == 400
    assert response.json() == {"error": "malformed JSON"}
    assert stored_nothing()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"event_id": "x" * 65}, "event_id"),
        ({"type": "lesson_skipped"}, "type"),
        ({"student_no": "S-NOBODY"}, "student_no"),
        ({"order_no": "NO-NONE"}, "order_no"),
        ({"lesson_no": None}, "lesson_no"),
        ({"lesson_no": 0}, "lesson_no"),
        ({"lesson_no": 31}, "lesson_no"),
        ({"seconds": -5}, "seconds"),
        ({"completed": "false"}, "completed"),
        ({"type": "rating", "lesson_no": None}, "rating"),
        ({"type": "rating", "rating": 9}, "rating"),
        ({"occurred_at": "2024-05-01 10:00:00"}, "occurred_at"),
        ({"occurred_at": (timezone.now() + datetime.timedelta(hours=1)).isoformat()}, "occurred_at"),
    ],
)
def test_validation_error_names_the_field(client, url, order, overrides, field):
    batch = [event(order), event(order), event(order), event(order, **overrides)]

    response = post(client, url, {"events": batch})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation failed"
    assert [error["field"] for error in body["errors"]] == [f"events[3].{field}"]
    assert body["errors"][0]["message"]
    assert stored_nothing()


def test_validation_messages_are_english_whatever_the_language(client, url, order):
    response = post(client, url, {"events": [event(order, order_no="NO123")]}, headers={"Accept-Language": "zh-hans"})

    assert response.json()["errors"] == [
        {"field": "events[0].order_no", "message": f"No order NO123 for student {order.student.student_no}."}
    ]


def test_one_bad_event_stores_nothing_of_the_batch(client, url, order):
    batch = [event(order, lesson_no=n) for n in range(1, 6)] + [event(order, occurred_at="soon")]

    response = post(client, url, {"events": batch})

    assert response.status_code == 400
    assert stored_nothing()
    assert Enrollment.objects.get(order=order).lessons_watched == 0


def test_order_of_another_student_is_a_bad_request(client, url, order, other_student):
    response = post(client, url, {"events": [event(order, student_no=other_student.student_no)]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events[0].order_no"
    assert stored_nothing()


def test_more_than_a_thousand_events_are_a_bad_request(client, url, order):
    response = post(client, url, {"events": [event(order) for _ in range(1001)]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "events"


def test_oversized_body_is_refused_before_anything_else(client, url, order, settings):
    settings.LEARNING_PLATFORM_MAX_BODY_BYTES = 1024
    body = json.dumps({"events": [event(order, event_id=f"big-{n}") for n in range(20)]}).encode()
    assert len(body) > 1024

    response = post(client, url, body)

    assert response.status_code == 413
    assert stored_nothing()


def test_body_of_the_default_size_limit_plus_one_is_refused(client, url):
    response = post(client, url, b" " * (1024 * 1024 + 1))

    assert response.status_code == 413


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, url, method):
    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "error" in response.json()


# --- Query count


@pytest.mark.parametrize("size", [10, 100])
def test_request_takes_a_constant_number_of_queries(client, url, order, size, django_assert_max_num_queries):
    batch = [event(order, lesson_no=n % 30 + 1) for n in range(size)]

    with django_assert_max_num_queries(16):
        response = post(client, url, {"events": batch})

    assert response.json() == {"accepted": size, "duplicates": 0}
