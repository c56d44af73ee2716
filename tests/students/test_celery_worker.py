"""The nonce purge run the way production runs it: through Redis by a real Celery worker."""

from __future__ import annotations

import datetime
import time

import pytest
from celery.result import EagerResult
from django.utils import timezone

from students.models import IngestionNonce
from students.tasks import purge_ingestion_nonces


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_purges_old_nonces_and_keeps_fresh_ones(celery_worker_queue):
    old = IngestionNonce.objects.create(signature="o" * 64)
    fresh = IngestionNonce.objects.create(signature="f" * 64)
    IngestionNonce.objects.filter(pk=old.pk).update(received_at=timezone.now() - datetime.timedelta(hours=1))

    result = purge_ingestion_nonces.apply_async(queue=celery_worker_queue)

    assert not isinstance(result, EagerResult)
    deadline = time.monotonic() + 20
    while IngestionNonce.objects.filter(pk=old.pk).exists():
        assert time.monotonic() < deadline, "the worker did not purge the old nonce in time"
        time.sleep(0.1)
    assert list(IngestionNonce.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_task_returns_how_many_nonces_it_purged(db):
    IngestionNonce.objects.create(signature="o" * 64)
    IngestionNonce.objects.update(received_at=timezone.now() - datetime.timedelta(hours=1))

    assert purge_ingestion_nonces.apply().get() == 1
    assert not IngestionNonce.objects.exists()
