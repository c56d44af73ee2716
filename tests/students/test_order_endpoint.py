"""POST /api/orders/: the signed JSON endpoint of the school's order system."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest
from django.test import Client
from django.urls import reverse

from orders.models import Order
from students.models import Enrollment, IngestionNonce, IngestionSender

from .order_helpers import counts, order_raw, raw_of_order, student_raw

SECRET = "test-order-system-secret"
LEARNING_SECRET = "test-learning-platform-secret"


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.ORDER_SYSTEM_SECRET = SECRET
    settings.ORDER_SYSTEM_MAX_SKEW_SECONDS = 300
    settings.LEARNING_PLATFORM_SECRET = LEARNING_SECRET


@pytest.fixture
def url():
    return reverse("order_api:orders")


@pytest.fixture
def teachers(homeroom):
    """The campus has a homeroom teacher to take new orders."""
    return homeroom


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    """The protocol, written out independently of the code under test."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def post(client, url, payload, *, timestamp: int | None = None, secret: str = SECRET, headers: dict | None = None):
    """POST ``payload`` (a dict, or raw bytes) signed as the order system does; ``headers`` replace the signed ones."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signed = {"X-Schoolops-Timestamp": stamp, "X-Schoolops-Signature": sign(body, stamp, secret)}
    signed.update(headers or {})
    signed = {name: value for name, value in signed.items() if value is not None}
    return client.post(url, data=body, content_type="application/json", headers=signed)


def nothing_stored(before: dict[str, int]) -> bool:
    return counts() == before


# --- Success


def test_signed_batch_creates_students_orders_and_enrollments(client, url, course, teachers):
    batch = [order_raw(course), order_raw(course, channel="offline", gateway_trade_no=None)]
    before = counts()

    response = post(client, url, {"orders": batch})

    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    after = counts()
    assert {name: after[name] - before[name] for name in after} == {
        "users": 2,
        "students": 2,
        "orders": 2,
        "enrollments": 2,
        "nonces": 1,
    }
    assert IngestionNonce.objects.get().sender == IngestionSender.ORDER_SYSTEM
    offline = Order.objects.get(order_no=batch[1]["order_no"])
    assert (offline.channel, offline.gateway_trade_no) == ("offline", "")
    assert Enrollment.objects.get(order=offline).homeroom_teacher == teachers


def test_the_same_batch_sent_again_is_unchanged(client, url, course, teachers):
    batch = {"orders": [order_raw(course), order_raw(course)]}
    now = int(time.time())
    post(client, url, batch, timestamp=now - 10)
    before = counts()

    response = post(client, url, batch, timestamp=now)

    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "unchanged": 2}
    assert counts() == {**before, "nonces": before["nonces"] + 1}


def test_a_changed_order_is_updated(client, url, order, teachers):
    response = post(client, url, {"orders": [raw_of_order(order, amount_paid="2500.00")]})

    assert response.json() == {"created": 0, "updated": 1, "unchanged": 0}
    order.refresh_from_db()
    assert str(order.amount_paid) == "2500.00"


def test_endpoint_needs_no_csrf_token(url, course, teachers):
    response = post(Client(enforce_csrf_checks=True), url, {"orders": [order_raw(course)]})

    assert response.status_code == 200


def test_empty_batch_is_accepted(client, url, db):
    assert post(client, url, {"orders": []}).json() == {"created": 0, "updated": 0, "unchanged": 0}


# --- Authentication and replays


def test_forged_signature_is_refused_and_nothing_stored(client, url, course, teachers):
    before = counts()

    response = post(client, url, {"orders": [order_raw(course)]}, headers={"X-Schoolops-Signature": "0" * 64})

    assert response.status_code == 401
    assert response.json() == {"error": "signature does not match"}
    assert nothing_stored(before)


def test_the_learning_platforms_secret_does_not_sign_orders(client, url, course, teachers):
    before = counts()

    response = post(client, url, {"orders": [order_raw(course)]}, secret=LEARNING_SECRET)

    assert response.status_code == 401
    assert nothing_stored(before)


def test_the_order_systems_secret_does_not_sign_learning_events(client, db):
    response = post(client, reverse("learning_api:events"), {"events": []})

    assert response.status_code == 401


@pytest.mark.parametrize("offset", [-301, 301])
def test_timestamp_outside_the_window_is_refused(client, url, course, teachers, offset):
    before = counts()

    response = post(client, url, {"orders": [order_raw(course)]}, timestamp=int(time.time()) + offset)

    assert response.status_code == 401
    assert response.json() == {"error": "timestamp outside the allowed window"}
    assert nothing_stored(before)


@pytest.mark.parametrize(
    "headers",
    [{"X-Schoolops-Signature": None}, {"X-Schoolops-Timestamp": None}, {"X-Schoolops-Signature": "not-hex"}],
    ids=["no-signature", "no-timestamp", "not-hex"],
)
def test_missing_or_malformed_headers_are_refused(client, url, course, teachers, headers):
    before = counts()

    assert post(client, url, {"orders": [order_raw(course)]}, headers=headers).status_code == 401
    assert nothing_stored(before)


def test_replayed_request_is_refused_and_changes_nothing(client, url, course, teachers):
    body = json.dumps({"orders": [order_raw(course)]}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Schoolops-Timestamp": stamp, "X-Schoolops-Signature": sign(body, stamp)}
    assert post(client, url, body, headers=headers).status_code == 200
    before = counts()

    response = post(client, url, body, headers=headers)

    assert response.status_code == 409
    assert response.json() == {"error": "request already processed (replay)"}
    assert nothing_stored(before)


def test_rejection_is_logged_with_its_reason_but_never_the_secret(client, url, course, caplog):
    with caplog.at_level(logging.WARNING, logger="students.api"):
        post(client, url, {"orders": [order_raw(course)]}, secret="wrong")

    assert "order system" in caplog.text
    assert "signature does not match" in caplog.text
    assert SECRET not in caplog.text


# --- Bad bodies


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b'{"orders": [', "ünïcode".encode("latin-1")],
    ids=["broken", "empty", "truncated", "not-utf8"],
)
def test_malformed_json_is_a_bad_request(client, url, body, db):
    before = counts()

    response = post(client, url, body)

    assert response.status_code == 400
    assert response.json() == {"error": "malformed JSON"}
    assert nothing_stored(before)


@pytest.mark.parametrize(
    "payload",
    [[], {"order": []}, {"orders": {}}, {"orders": "all"}],
    ids=["a-list", "misnamed", "an-object", "a-string"],
)
def test_body_without_an_orders_list_names_orders(client, url, payload, db):
    response = post(client, url, payload)

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["orders"]


def test_more_than_five_hundred_orders_are_a_bad_request(client, url, course):
    response = post(client, url, {"orders": [order_raw(course) for _ in range(501)]})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "orders"


def test_duplicate_order_number_in_one_batch_stores_nothing(client, url, course, teachers):
    first = order_raw(course)
    again = order_raw(course, order_no=first["order_no"])
    before = counts()

    response = post(client, url, {"orders": [order_raw(course), first, again]})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "orders[2].order_no", "message": f"Order {first['order_no']} is already in this batch at orders[1]."}
    ]
    assert nothing_stored(before)


def test_order_for_an_unknown_course_stores_nothing(client, url, course, teachers):
    before = counts()

    response = post(client, url, {"orders": [order_raw(course), order_raw(course, course_code="no-such-course")]})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "orders[1].course_code", "message": "No course no-such-course."}]
    assert nothing_stored(before)


@pytest.mark.parametrize("phone", ["12800000000", "1380013800", "138001380001", "+8613800138000", 13800138000])
def test_bad_phone_stores_nothing(client, url, course, teachers, phone):
    before = counts()
    bad = order_raw(course, student=student_raw(phone=phone))

    response = post(client, url, {"orders": [order_raw(course), order_raw(course), order_raw(course), bad]})

    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["orders[3].student.phone"]
    assert nothing_stored(before)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"order_no": "has space"}, "order_no"),
        ({"order_no": None}, "order_no"),
        ({"status": "refunded"}, "status"),
        ({"student": None}, "student"),
        ({"student": "S1"}, "student"),
        ({"amount_paid": 3000}, "amount_paid"),
        ({"amount_paid": "3000"}, "amount_paid"),
        ({"amount_paid": "3000.5"}, "amount_paid"),
        ({"amount_paid": "-1.00"}, "amount_paid"),
        ({"paid_at": "2024-05-01 10:00:00"}, "paid_at"),
        ({"paid_at": "2999-01-01T00:00:00+08:00"}, "paid_at"),
        ({"channel": "paypal"}, "channel"),
        ({"gateway_trade_no": None}, "gateway_trade_no"),
        ({"referral_code": "R" * 17}, "referral_code"),
        ({"student": student_raw(student_no=None)}, "student.student_no"),
        ({"student": student_raw(name="  ")}, "student.name"),
        ({"student": student_raw(email="not-an-address")}, "student.email"),
        ({"student": student_raw(wechat_openid="o" * 65)}, "student.wechat_openid"),
    ],
)
def test_validation_error_names_the_field(client, url, course, teachers, overrides, field):
    before = counts()

    bad = {key: value for key, value in {**order_raw(course), **overrides}.items() if value is not None}

    response = post(client, url, {"orders": [order_raw(course), bad]})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation failed"
    assert [error["field"] for error in body["errors"]] == [f"orders[1].{field}"]
    assert body["errors"][0]["message"]
    assert nothing_stored(before)


def test_every_offending_field_is_named(client, url, course, teachers):
    batch = [
        order_raw(course, status="open", channel="paypal"),
        order_raw(course),
        order_raw(course, student=student_raw(phone="123")),
    ]

    response = post(client, url, {"orders": batch})

    assert [error["field"] for error in response.json()["errors"]] == [
        "orders[0].status",
        "orders[0].channel",
        "orders[2].student.phone",
    ]


def test_validation_messages_are_english_whatever_the_language(client, url, course, teachers):
    response = post(
        client,
        url,
        {"orders": [order_raw(course, student=student_raw(phone="123"))]},
        headers={"Accept-Language": "zh-hans"},
    )

    assert response.json()["errors"] == [
        {"field": "orders[0].student.phone", "message": "Enter a mainland mobile number of 11 digits starting with 1."}
    ]


def test_oversized_body_is_refused_before_anything_else(client, url, course, settings):
    settings.ORDER_SYSTEM_MAX_BODY_BYTES = 1024
    body = json.dumps({"orders": [order_raw(course) for _ in range(5)]}).encode()
    assert len(body) > 1024
    before = counts()

    response = post(client, url, body)

    assert response.status_code == 413
    assert nothing_stored(before)


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, url, method):
    response = getattr(client, method)(url)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


# --- Query count


@pytest.mark.parametrize("size", [10, 100])
def test_request_takes_a_constant_number_of_queries(client, url, course, teachers, size, django_assert_max_num_queries):
    batch = [order_raw(course) for _ in range(size)]

    # intake lock, nonce, courses, orders, students, phones, openids, usernames, trade numbers, rules, loads;
    # users, students, orders, enrollments (each with its history); the analytics writer; savepoints;
    # the service writer: the enrollments, campus settings, the first-contact tasks written and read
    # back, and one message to the teacher for the whole batch (her preferences, the template, the outbox)
    with django_assert_max_num_queries(35):
        response = post(client, url, {"orders": batch})

    assert response.json() == {"created": size, "updated": 0, "unchanged": 0}
