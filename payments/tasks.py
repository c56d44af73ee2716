"""Payout workers: thin wrappers around ``payments.services``.

``execute_payout`` is acknowledged only after it ran (a worker killed mid-call leaves the
message to be delivered again) and retries with exponential backoff and jitter, bounded, each
retry querying the gateway before any new refund call. The longest backoff stays well below
the broker's visibility timeout, so a waiting retry is never delivered twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from schoolops.http import backoff_with_jitter

from . import callbacks_refused, collections, services

logger = logging.getLogger(__name__)


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter, from the payout settings."""
    return backoff_with_jitter(
        attempt=retries, base=settings.PAYOUT_RETRY_BASE_SECONDS, cap=settings.PAYOUT_RETRY_MAX_SECONDS
    )


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def execute_payout(self, payout_id: int) -> str:
    step = services.payout_execute(payout_id=payout_id)
    if step in (services.Step.RETRY, services.Step.WAIT):
        if self.request.is_eager:
            # In-process runs (the no-services default) do not wait: the gateway's callback or
            # the periodic check finishes the payout.
            return step
        if self.request.retries >= settings.PAYOUT_MAX_RETRIES:
            logger.warning(
                "Payout %s still %s after %s tries; the periodic check takes over.",
                payout_id,
                step,
                self.request.retries,
            )
            return step
        raise self.retry(countdown=retry_countdown(self.request.retries))
    return step


@shared_task(ignore_result=True)
def check_payouts() -> int:
    """Beat: hand stuck payouts (queued, sent, unknown, lease expired) to a worker again."""
    return services.payouts_check()


@shared_task(ignore_result=True)
def purge_refused_callbacks() -> int:
    """Beat, daily: delete refused callbacks past PAYMENTS_REFUSED_CALLBACK_KEEP_DAYS."""
    return callbacks_refused.refused_callbacks_purge()


@shared_task(ignore_result=True)
def expire_collections() -> int:
    """Beat: collections past their time are asked about (paid late?), closed at the gateway, expired."""
    return collections.collections_expire()


@shared_task(ignore_result=True)
def check_collection_refunds() -> int:
    """Beat: refunds of duplicate payments still in progress are asked about (and settled)."""
    return collections.collection_refunds_check()
