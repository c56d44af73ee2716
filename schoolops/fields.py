"""Model fields shared by every app.

`MoneyField` is the one column type for an amount of money: CNY, two decimals, up to
9,999,999,999.99, read and written as `Decimal`. It is a `DecimalField` with those digits fixed,
and it deconstructs as one, so a model moving to it changes no migration and no column.
"""

from __future__ import annotations

from typing import Any

from django.db import models

MONEY_DIGITS = 12
MONEY_PLACES = 2


class MoneyField(models.DecimalField):
    """An amount in CNY: `DecimalField(max_digits=12, decimal_places=2)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", MONEY_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_PLACES)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        # Migrations record the plain DecimalField: same column, same digits.
        return name, "django.db.models.DecimalField", args, kwargs
