"""Rules kept as data get a version number that counts every saved change (refund and exchange
policies): a request's snapshot names the version it was decided under."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _


class VersionedOnSave(models.Model):
    """Adds ``version`` (1 when created) and counts it up on every save of an existing row, the
    increment taken under a row lock so two admins saving at once get two versions."""

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding or self.pk is None:
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using")):
            current = (
                type(self)
                ._default_manager.select_for_update()
                .filter(pk=self.pk)
                .order_by()  # a default ordering across a relation is refused by FOR UPDATE
                .values_list("version", flat=True)
                .first()
            )
            self.version = (current or 0) + 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
            super().save(*args, **kwargs)
