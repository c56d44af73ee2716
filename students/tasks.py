"""Periodic housekeeping for learning data."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def purge_ingestion_nonces() -> int:
    """Forget replay nonces that can no longer be replayed; returns how many were deleted."""
    return services.ingestion_nonce_purge()
