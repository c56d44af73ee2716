"""Notification events, templates, deliveries and the in-app inbox."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class InboxMessage(models.Model):
    """A message in a user's in-app inbox (站内信), often about one of her refund requests."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="inbox_messages",
        verbose_name=_("recipient"),
    )
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    refund_request = models.ForeignKey(
        "refunds.RefundRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbox_messages",
        verbose_name=_("refund request"),
    )
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    campus_lookup = "refund_request__campus"

    class Meta:
        verbose_name = _("inbox message")
        verbose_name_plural = _("inbox messages")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            models.Index(fields=["recipient", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.subject

    def get_absolute_url(self) -> str:
        return reverse("notifications:message", args=[self.pk])

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def mark_read(self, *, at: datetime.datetime) -> None:
        """Record the first reading only: a conditional update, so a second opening changes nothing."""
        if self.read_at is not None:
            return
        type(self)._default_manager.filter(pk=self.pk, read_at__isnull=True).update(read_at=at)
        self.read_at = at
