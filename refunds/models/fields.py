"""The percentage column of refunds' models (policies, quotes, approval settings)."""

from __future__ import annotations

from typing import Any

from django.db import models

PERCENT_DIGITS = 5
PERCENT_PLACES = 2


class PercentField(models.DecimalField):
    """A percentage, 0.00 to 100.00 by its validators: `DecimalField(max_digits=5, decimal_places=2)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", PERCENT_DIGITS)
        kwargs.setdefault("decimal_places", PERCENT_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        # Migrations record the plain DecimalField: same column, same digits.
        return name, "django.db.models.DecimalField", args, kwargs
