"""Notification events, templates, deliveries and the in-app inbox."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from refunds.models import NotifyChannel

from .rendering import EVENTS, ROBOT_EVENTS, template_errors


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
    delivery = models.OneToOneField(
        "Notification",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbox_message",
        verbose_name=_("delivery"),
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
        return reverse("portal:message", args=[self.pk])

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def mark_read(self, *, at: datetime.datetime) -> None:
        """Record the first reading only: a conditional update, so a second opening changes nothing."""
        if self.read_at is not None:
            return
        type(self)._default_manager.filter(pk=self.pk, read_at__isnull=True).update(read_at=at)
        self.read_at = at


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class NotificationTemplate(models.Model):
    """The text of one event on one channel in one language, edited by operations.

    Django template syntax limited to the event's placeholders (``notifications.placeholders``);
    ``clean`` renders a sample and asks the channel about its limits.
    """

    event = models.CharField(_("event"), max_length=40)
    channel = models.CharField(pgettext_lazy("message", "channel"), max_length=20)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    provider_template_id = models.CharField(
        _("provider template id"),
        max_length=64,
        blank=True,
        help_text=_("The SMS template code or WeChat template id registered with the provider, where needed."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")
        ordering = ["event", "channel", "language"]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel", "language"], name="notificationtemplate_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event} · {self.channel} · {self.language}"

    def clean(self) -> None:
        errors = template_errors(
            event=self.event, channel=self.channel, subject=self.subject or "", body=self.body or ""
        )
        if errors:
            raise ValidationError(errors)


class Notification(models.Model):
    """The outbox: one message for one recipient on one channel, written with its event, sent by a worker.

    The rendered copy is kept as sent. ``(dedupe_key, channel, recipient_key)`` is unique, so
    handling an event twice writes nothing new.
    """

    dedupe_key = models.CharField(_("source"), max_length=80, help_text=_("e.g. refund-event:42"))
    recipient_key = models.CharField(
        _("recipient key"), max_length=300, help_text=_("user:<id> or the webhook's address.")
    )
    event = models.CharField(_("event"), max_length=40)
    channel = models.CharField(pgettext_lazy("message", "channel"), max_length=20)
    refund_request = models.ForeignKey(
        "refunds.RefundRequest",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("refund request"),
    )
    source_event = models.ForeignKey(
        "refunds.RefundEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("refund event"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    recipient_name = models.CharField(_("recipient name"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True, help_text=_("E-mail, phone or openid."))
    webhook = models.JSONField(_("webhook target"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("text"))
    fields = models.JSONField(_("fields"), default=dict, blank=True)
    provider_template_id = models.CharField(_("provider template id"), max_length=64, blank=True)
    link = models.CharField(_("link"), max_length=300, blank=True)
    attachments = models.JSONField(
        _("attachments"),
        default=list,
        blank=True,
        help_text=_("Files sent with the message (e-mail only): storage name, file name, content type."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    lease_until = models.DateTimeField(_("held by a worker until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    provider_id = models.CharField(_("provider id"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    campus_lookup = "refund_request__campus"

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        permissions = [("resend_notification", _("Can send a failed notification again"))]
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["refund_request", "created_at"]),
            models.Index(fields=["recipient", "-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key", "channel", "recipient_key"], name="notification_one_per_source_channel_recipient"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient_name or self.recipient_key} ({self.channel})"

    @property
    def event_label(self) -> str:
        """The event's name for people (an SMS has no subject to show instead)."""
        spec = EVENTS.get(self.event)
        return str(spec.label) if spec is not None else self.event

    @property
    def channel_label(self) -> str:
        """The channel's name for people (the registry knows channels by code)."""
        if self.channel == "webhook":
            return str(StaffWebhook._meta.verbose_name)
        return str(dict(NotifyChannel.choices).get(self.channel, self.channel))


class NotificationPreference(models.Model):
    """What a user has turned off. The inbox cannot be: every message lands there."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_preference",
        verbose_name=_("user"),
    )
    email_enabled = models.BooleanField(_("e-mail"), default=True)
    sms_enabled = models.BooleanField(_("SMS"), default=True)
    wechat_enabled = models.BooleanField(_("WeChat"), default=True)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, default="zh-hans")

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return str(self.user)

    def allows(self, channel: str) -> bool:
        return getattr(self, f"{channel}_enabled", True)


class CallTask(models.Model):
    """Premium courses: the account manager (the order's homeroom teacher) calls the student."""

    assignee = models.ForeignKey(
        "schoolops.Staff", on_delete=models.PROTECT, related_name="call_tasks", verbose_name=_("assigned to")
    )
    refund_request = models.ForeignKey(
        "refunds.RefundRequest",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="call_tasks",
        verbose_name=_("refund request"),
    )
    notification = models.OneToOneField(
        Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="call_task"
    )
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    note = models.TextField(_("what to say"))
    due_at = models.DateTimeField(_("call by"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    campus_lookup = "assignee__campus"

    class Meta:
        verbose_name = _("call task")
        verbose_name_plural = _("call tasks")
        ordering = ["done_at", "due_at", "pk"]
        indexes = [models.Index(fields=["assignee", "done_at"])]

    def __str__(self) -> str:
        return self.subject or self.note[:40]


class WebhookKind(models.TextChoices):
    DINGTALK = "dingtalk", _("DingTalk")
    WECOM = "wecom", _("WeCom")
    SLACK = "slack", _("Slack-style")


# The staff-facing refund events a group robot can be told of (keys of ``notifications.rendering.EVENTS``).
def default_robot_events() -> list[str]:
    """A new robot is told of every staff-facing event (``event_register(robot=True)``)."""
    return list(ROBOT_EVENTS)


class StaffWebhook(models.Model):
    """A campus staff group's robot (DingTalk / WeCom / Slack-style) told of the events it subscribes to."""

    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="staff_webhooks", verbose_name=_("campus")
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("The group, e.g. the campus's refund group."))
    kind = models.CharField(_("kind"), max_length=10, choices=WebhookKind.choices)
    url = models.URLField(_("webhook URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"), max_length=200, blank=True, help_text=_("DingTalk's signing secret (SEC...), if set.")
    )
    events = models.JSONField(_("events"), default=default_robot_events, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords(excluded_fields=["secret"])

    campus_lookup = "campus"

    class Meta:
        verbose_name = _("staff group robot")
        verbose_name_plural = _("staff group robots")
        ordering = ["campus", "name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["campus", "url"], name="staffwebhook_one_per_campus_url"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list] = {}
        scheme = urlsplit(self.url or "").scheme
        if self.url and scheme != "https" and not (settings.DEBUG and scheme == "http"):
            errors.setdefault("url", []).append(_("The webhook URL must use https."))
        events = self.events if isinstance(self.events, list) else None
        if events is None or not all(isinstance(e, str) for e in events):
            errors.setdefault("events", []).append(_("A list of event keys."))
        else:
            unknown = [e for e in events if e not in EVENTS or e not in ROBOT_EVENTS]
            if unknown:
                errors.setdefault("events", []).append(
                    _("Not an event a staff robot can be told of: %(events)s") % {"events": ", ".join(unknown)}
                )
            self.events = list(dict.fromkeys(events))
        if errors:
            raise ValidationError(errors)

    def subscribes_to(self, event: str) -> bool:
        return isinstance(self.events, list) and event in self.events
