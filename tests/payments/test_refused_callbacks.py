"""What the open callback endpoints keep of the callbacks they refuse is bounded: a capped body,
so many rows an hour per address and in all, deleted after the keeping period. The gateway's
answer does not change."""

from __future__ import annotations

import datetime
import secrets
import uuid

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from orders.models import PaymentChannel
from payments.callbacks_refused import counter_keys, refused_callback_record
from payments.models import RejectedCallback
from payments.tasks import purge_refused_callbacks
from schoolops.celery import app as celery_app

pytestmark = pytest.mark.django_db

WECHAT_URL = reverse("payments:wechat-notify")
ALIPAY_URL = reverse("payments:alipay-notify")
WECHAT_FAIL = b"<return_code><![CDATA[FAIL]]></return_code>"


@pytest.fixture
def own_cache(settings):
    """A cache of this test's own: the hourly counters must not carry over from another test."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def sim(gateway_settings):
    gateway_settings.callbacks_enabled = False
    return gateway_settings


def _junk(client, *, address: str = "198.51.100.7", body: bytes = b"not xml at all"):
    return client.post(WECHAT_URL, body, content_type="text/xml", REMOTE_ADDR=address)


def test_a_long_refused_body_is_cut_to_the_limit_with_its_length_noted(client, sim, own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACK_BODY_CHARS = 2048
    body = "<xml>" + "垃" * 19_000 + "</xml>"

    response = _junk(client, body=body.encode())

    assert response.status_code == 200
    assert WECHAT_FAIL in response.content
    kept = RejectedCallback.objects.get().body
    assert kept.startswith(body[:2048])
    assert body[:2049] not in kept
    assert f"{len(body)} characters received, the first 2048 kept" in kept
    assert len(kept) < 2200


def test_a_short_refused_body_is_kept_whole(client, sim, own_cache):
    _junk(client, body=b"<xml><return_code>SUCCESS</return_code></xml>")
    assert RejectedCallback.objects.get().body == "<xml><return_code>SUCCESS</return_code></xml>"


def test_refusals_from_one_address_are_stored_only_up_to_its_hourly_limit_and_all_are_answered(
    client, sim, own_cache, settings
):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 3

    responses = [_junk(client) for _ in range(5)]

    assert [r.status_code for r in responses] == [200] * 5
    assert all(WECHAT_FAIL in r.content for r in responses)
    assert RejectedCallback.objects.filter(remote_addr="198.51.100.7").count() == 3


def test_another_address_is_not_held_back_by_one_over_its_limit(client, sim, own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 2
    for _ in range(4):
        _junk(client, address="198.51.100.7")
    _junk(client, address="203.0.113.9")
    assert RejectedCallback.objects.filter(remote_addr="203.0.113.9").count() == 1


def test_addresses_of_one_ipv6_64_share_their_limit(client, sim, own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 2
    for host in range(1, 5):
        _junk(client, address=f"2001:db8:1:2::{host}")
    _junk(client, address="2001:db8:1:3::1")  # another /64
    assert RejectedCallback.objects.filter(remote_addr__startswith="2001:db8:1:2:").count() == 2
    assert RejectedCallback.objects.filter(remote_addr="2001:db8:1:3::1").count() == 1


def test_the_hourly_limit_over_all_addresses_caps_what_many_addresses_store(client, sim, own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_HOUR = 3
    for n in range(1, 7):
        _junk(client, address=f"198.51.100.{n}")
    assert RejectedCallback.objects.count() == 3


def test_refused_alipay_notices_are_bounded_too(client, sim, own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 1
    settings.PAYMENTS_REFUSED_CALLBACK_BODY_CHARS = 100
    responses = [
        client.post(ALIPAY_URL, {"notify_id": "x" * 5000, "sign": "Zm9yZ2Vk"}, REMOTE_ADDR="198.51.100.8")
        for _ in range(3)
    ]
    assert [r.content for r in responses] == [b"failure"] * 3
    refused = RejectedCallback.objects.get()
    assert refused.channel == PaymentChannel.ALIPAY
    assert len(refused.body) < 200


def test_the_counters_start_again_in_the_next_hour(own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 1
    at = timezone.now().replace(minute=59, second=0, microsecond=0)
    record = {"channel": PaymentChannel.WECHAT, "reason": "bad", "remote_addr": "198.51.100.7", "body": "x"}

    assert refused_callback_record(**record, at=at) is not None
    assert refused_callback_record(**record, at=at + datetime.timedelta(seconds=30)) is None
    assert refused_callback_record(**record, at=at + datetime.timedelta(minutes=2)) is not None


def test_a_refusal_from_an_unknown_address_is_counted_too(own_cache, settings):
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 1
    record = {"channel": PaymentChannel.WECHAT, "reason": "bad", "remote_addr": None, "body": "x"}
    assert refused_callback_record(**record) is not None
    assert refused_callback_record(**record) is None


@pytest.mark.redis
def test_the_counters_live_in_the_shared_cache(client, sim, settings):
    """With REDIS_URL set (production, ``make test``) the cache is Redis, shared by every web
    process: the count is there, under the address's key for this hour."""
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    settings.PAYMENTS_REFUSED_CALLBACKS_PER_ADDRESS_PER_HOUR = 2
    address = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{secrets.randbelow(0xFFFF):x}::1"  # a /64 of its own

    for _ in range(3):
        _junk(client, address=address)

    assert RejectedCallback.objects.count() == 2
    address_key, _all_key = counter_keys(address, at=timezone.now())
    assert cache.get(address_key) == 3


def test_the_purge_deletes_refused_callbacks_older_than_the_keeping_period(settings):
    settings.PAYMENTS_REFUSED_CALLBACK_KEEP_DAYS = 90
    now = timezone.now()
    for days in (200, 91, 89, 0):
        RejectedCallback.objects.create(
            channel=PaymentChannel.WECHAT, reason=f"{days} days", received_at=now - datetime.timedelta(days=days)
        )

    assert purge_refused_callbacks.delay().get() == 2

    assert sorted(RejectedCallback.objects.values_list("reason", flat=True)) == ["0 days", "89 days"]


def test_the_purge_is_scheduled_daily_by_beat(settings):
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == purge_refused_callbacks.name]
    assert len(entries) == 1
    assert entries[0]["schedule"] <= 24 * 3600
    assert purge_refused_callbacks.name in celery_app.tasks
