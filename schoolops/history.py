"""Who made a change, when and why, for the history row simple-history writes on the next save."""

from __future__ import annotations

import datetime
from enum import Enum
from typing import TYPE_CHECKING, Literal

from django.db import models

if TYPE_CHECKING:
    from .models import User

# simple-history's own column width for the reason
REASON_MAX = 100


class _Who(Enum):
    REQUEST_USER = "the user of the current HTTP request"


# ``history_note``'s default: let simple-history name the logged-in user of the HTTP request, if any.
REQUEST_USER = _Who.REQUEST_USER


def history_note(
    obj: models.Model,
    *,
    user: User | None | Literal[_Who.REQUEST_USER] = REQUEST_USER,
    reason: str | None = None,
    at: datetime.datetime | None = None,
) -> None:
    """Name who (``None``: nobody, the system, even inside an HTTP request), why and when for the
    history row of ``obj``'s next ``save()``. Left out, each is simple-history's own: the request's
    user, no reason, the moment of the save. These are simple-history's documented instance hooks,
    which its stubs do not declare."""
    if user is not REQUEST_USER:
        obj._history_user = user  # type: ignore[attr-defined]
    if reason is not None:
        obj._change_reason = reason[:REASON_MAX]  # type: ignore[attr-defined]
    if at is not None:
        obj._history_date = at  # type: ignore[attr-defined]
