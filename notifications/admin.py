"""Notifications in the admin: the inbox and the outbox (read-only), templates and staff group robots
(operations), call tasks."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import SEE_ALL_CAMPUSES, CampusScopedAdminMixin

from .channels.base import ChannelError, OutgoingMessage, Recipient, WebhookTarget, channel_for
from .models import (
    ROBOT_EVENTS,
    CallTask,
    InboxMessage,
    Notification,
    NotificationPreference,
    NotificationStatus,
    NotificationTemplate,
    StaffWebhook,
)
from .rendering import CHANNELS, EVENTS, render_sample, template_errors
from .services import notifications_resend


@admin.register(InboxMessage)
class InboxMessageAdmin(CampusScopedAdminMixin, admin.ModelAdmin):
    """Messages are written by the notification services only; here they are looked up.

    Campus-scoped through the refund request: staff of a campus see the messages about its
    requests; messages about no request only with every campus in view (operations, superusers).
    Viewing needs ``notifications.view_inboxmessage`` or the all-campuses permission.
    """

    campus_field = "refund_request__campus"
    list_display = ("created_at", "recipient", "subject", "refund_request", "read_at")
    list_filter = (("read_at", admin.EmptyFieldListFilter),)
    search_fields = ("subject", "recipient__username", "recipient__name", "refund_request__request_no")
    date_hierarchy = "created_at"
    list_select_related = ("recipient", "refund_request")
    fields = ("recipient", "subject", "body", "refund_request", "created_at", "read_at")
    readonly_fields = fields

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(SEE_ALL_CAMPUSES)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NotificationTemplateForm(forms.ModelForm):
    event = forms.ChoiceField(label=_("event"))
    channel = forms.ChoiceField(label=_("channel"))

    class Meta:
        model = NotificationTemplate
        fields = ("event", "channel", "language", "subject", "body", "provider_template_id", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The fields declared above; the form's ``fields`` is typed by their base class.
        cast(forms.ChoiceField, self.fields["event"]).choices = [
            (key, f"{spec.label} ({key})") for key, spec in sorted(EVENTS.items())
        ]
        cast(forms.ChoiceField, self.fields["channel"]).choices = [(name, name) for name in CHANNELS]
        event = self.data.get("event") or self.initial.get("event") or getattr(self.instance, "event", "")
        if event in EVENTS:
            self.fields["body"].help_text = _("Placeholders: %(names)s") % {
                "names": ", ".join(f"{{{{ {name} }}}}" for name in EVENTS[event].placeholders)
            }


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(SimpleHistoryAdmin):
    """Operations edit the texts; unknown placeholders and forbidden tags are refused on save
    (``NotificationTemplate.clean``), and a preview renders the text with sample data."""

    form = NotificationTemplateForm
    list_display = ("event", "channel", "language", "subject", "is_active", "updated_at", "preview_link")
    list_filter = ("event", "channel", "language", "is_active")
    search_fields = ("subject", "body")
    readonly_fields = ("sample",)

    @admin.display(description=_("preview"))
    def preview_link(self, obj: NotificationTemplate) -> str:
        url = reverse("admin:notifications_notificationtemplate_preview", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Preview"))

    @admin.display(description=_("with sample data"))
    def sample(self, obj: NotificationTemplate) -> str:
        if obj.pk is None or template_errors(event=obj.event, channel=obj.channel, subject=obj.subject, body=obj.body):
            return "-"
        subject, body, _fields = render_sample(event=obj.event, subject=obj.subject, body=obj.body)
        return format_html("<strong>{}</strong><br>{}", subject, linebreaksbr(body))

    def get_urls(self):
        urls = [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="notifications_notificationtemplate_preview",
            )
        ]
        return urls + super().get_urls()

    def preview_view(self, request, pk: int):
        template = self.get_queryset(request).filter(pk=pk).first()
        if template is None or not self.has_view_permission(request, template):
            raise Http404
        problems = template_errors(
            event=template.event, channel=template.channel, subject=template.subject, body=template.body
        )
        subject = body = ""
        fields: dict[str, str] = {}
        if not problems:
            subject, body, fields = render_sample(event=template.event, subject=template.subject, body=template.body)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Preview of %(template)s") % {"template": template},
            "template_obj": template,
            "subject": subject,
            "body": body,
            "fields": fields,
            "problems": [p for values in problems.values() for p in values],
        }
        return TemplateResponse(request, "admin/notifications/notificationtemplate/preview.html", context)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    """The outbox, read-only: what was sent to whom, on which channel, and what went wrong.

    Campus-scoped through the refund request; failed rows can be sent again.
    """

    campus_field = "refund_request__campus"
    list_display = (
        "created_at",
        "event_name",
        "channel_name",
        "recipient_name",
        "status",
        "attempts",
        "sent_at",
        "last_error",
    )
    list_filter = ("status", "channel", "event")
    search_fields = ("recipient_name", "address", "subject", "refund_request__request_no")
    date_hierarchy = "created_at"
    list_select_related = ("refund_request",)
    actions = ["send_again"]
    fields = (
        "event",
        "channel",
        "refund_request",
        "recipient_name",
        "address",
        "language",
        "subject",
        "body",
        "fields",
        "link",
        "attachments",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
        "provider_id",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    @admin.display(description=_("event"), ordering="event")
    def event_name(self, obj: Notification) -> str:
        return obj.event_label

    @admin.display(description=pgettext_lazy("message", "channel"), ordering="channel")
    def channel_name(self, obj: Notification) -> str:
        return obj.channel_label

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_send_again_permission(self, request) -> bool:
        return request.user.has_perm("notifications.resend_notification")

    @admin.action(description=_("Send the failed ones again"), permissions=["send_again"])
    def send_again(self, request, queryset) -> None:
        count = notifications_resend(ids=queryset.filter(status=NotificationStatus.FAILED).values_list("pk", flat=True))
        self.message_user(request, _("%(count)d notifications queued again.") % {"count": count}, messages.SUCCESS)


@admin.register(CallTask)
class CallTaskAdmin(CampusScopedAdminMixin, admin.ModelAdmin):
    """Call tasks: each member of staff sees their own; with every campus in view, all of them."""

    campus_field = "assignee__campus"
    list_display = ("due_at", "subject", "assignee", "refund_request", "done_at")
    list_filter = (("done_at", admin.EmptyFieldListFilter),)
    list_select_related = ("assignee__user", "refund_request")
    fields = ("subject", "note", "assignee", "refund_request", "due_at", "done_at")
    readonly_fields = fields
    actions = ["mark_done"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser or request.user.has_perm(SEE_ALL_CAMPUSES):
            return queryset
        staff = getattr(request.user, "staff", None)
        return queryset.filter(assignee=staff) if staff is not None else queryset.none()

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Mark as done"), permissions=["change"])
    def mark_done(self, request, queryset) -> None:
        count = queryset.filter(done_at__isnull=True).update(done_at=timezone.now())
        self.message_user(request, _("%(count)d call tasks marked done.") % {"count": count}, messages.SUCCESS)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    """What users turned off; they change it themselves in the personal center."""

    list_display = ("user", "email_enabled", "sms_enabled", "wechat_enabled", "language")
    list_filter = ("email_enabled", "sms_enabled", "wechat_enabled", "language")
    search_fields = ("user__username", "user__name", "user__phone")
    list_select_related = ("user",)
    readonly_fields = ("user",)

    def has_add_permission(self, request) -> bool:
        return False


class StaffWebhookForm(forms.ModelForm):
    """The secret is write-only: never rendered back; left empty it keeps the stored one."""

    url = forms.URLField(label=_("webhook URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), widget=forms.CheckboxSelectMultiple, required=False, choices=()
    )
    secret = forms.CharField(
        label=_("signing secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("DingTalk's signing secret (SEC...). Leave empty to keep the current one."),
    )
    clear_secret = forms.BooleanField(label=_("remove the signing secret"), required=False)

    class Meta:
        model = StaffWebhook
        fields = ("campus", "name", "kind", "url", "secret", "clear_secret", "events", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["events"]).choices = [
            (key, f"{EVENTS[key].label} ({key})") for key in ROBOT_EVENTS if key in EVENTS
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
        elif not cleaned.get("secret") and self.instance.pk:
            cleaned["secret"] = (
                StaffWebhook.objects.filter(pk=self.instance.pk).values_list("secret", flat=True).first() or ""
            )
        self.instance.secret = cleaned.get("secret", "")
        return cleaned


@admin.register(StaffWebhook)
class StaffWebhookAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    """Staff group robots per campus (operations); the secret is never shown back, only whether
    one is set. "Send a test message" posts a short text through the webhook channel now."""

    form = StaffWebhookForm
    campus_field = "campus"
    list_display = ("name", "campus", "kind", "subscribed_events", "has_secret", "is_active", "updated_at")
    list_filter = ("kind", "is_active", "campus")
    search_fields = ("name",)
    list_select_related = ("campus",)
    actions = ["send_test_message"]

    @admin.display(description=_("events"))
    def subscribed_events(self, obj: StaffWebhook) -> str:
        return ", ".join(str(EVENTS[key].label) if key in EVENTS else key for key in obj.events or [])

    @admin.display(description=_("signing secret set"), boolean=True)
    def has_secret(self, obj: StaffWebhook) -> bool:
        return bool(obj.secret)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # turn a robot off instead: its outbox rows stay explained

    def has_send_test_message_permission(self, request) -> bool:
        return self.has_change_permission(request)

    @admin.action(description=_("Send a test message"), permissions=["send_test_message"])
    def send_test_message(self, request, queryset) -> None:
        medium = channel_for("webhook")
        for robot in queryset:
            message = OutgoingMessage(
                delivery_id=0,
                channel="webhook",
                event="test",
                recipient=Recipient(
                    user_id=None,
                    name=robot.name,
                    webhook=WebhookTarget(kind=robot.kind, url=robot.url, secret=robot.secret),
                ),
                subject=str(_("Test message")),
                body=str(
                    _("A test message from schoolops for %(name)s (%(campus)s): this robot works.")
                    % {"name": robot.name, "campus": robot.campus}
                ),
            )
            try:
                medium.send(message)
            except ChannelError as exc:
                error = f"[{exc.code}] {exc.message}" if exc.code else exc.message
                self.message_user(
                    request,
                    _("The test message to %(name)s failed: %(error)s") % {"name": robot.name, "error": error},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, _("The test message to %(name)s was sent.") % {"name": robot.name}, messages.SUCCESS
                )
