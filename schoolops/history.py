"""Who made a change, and why, for the history rows simple-history writes on the next save."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from .models import User

# simple-history's own column width for the reason
REASON_MAX = 100


def history_note(obj: models.Model, *, user: User | None = None, reason: str | None = None) -> None:
    """Name the user (when given) and the reason (when given) that the history row of ``obj``'s
    next ``save()`` records; without a user simple-history takes the current request's."""
    if user is not None:
        obj._history_user = user  # type: ignore[attr-defined]  # simple-history's documented hook
    if reason is not None:
        obj._change_reason = reason[:REASON_MAX]  # type: ignore[attr-defined]  # likewise
