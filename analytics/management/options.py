"""The analytics commands' shared ``--since`` option."""

from __future__ import annotations

import datetime

from django.core.management.base import CommandError


def since_date(value: str | None) -> datetime.date | None:
    """``--since`` as a date (None when not given); a clear error for anything else."""
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since must be a date like 2026-01-31, not {value!r}.") from exc
