"""Notifications in the admin: the inbox and the outbox (read-only), templates and staff group robots
(operations), call tasks."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import SEE_ALL_CAMPUSES, CampusScopedAdminMixin

from .channels.base import ChannelError, OutgoingMessage, Recipient, WebhookTarget, channel_for
from .channels.sms import LONG_MESSAGE_PART_CHARS, SINGLE_MESSAGE_CHARS, sms_length
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
from .rendering import CHANNELS, EVENTS, render_sample, template_errors, used_placeholders
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
    channel = forms.ChoiceField(label=pgettext_lazy("message", "channel"))

    class Meta:
        model = NotificationTemplate
        fields = ("event", "channel", "language", "subject", "body", "provider_template_id", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The fields declared above; the form's ``fields`` is typed by their base class.
        if "event" in self.fields:
            cast(forms.ChoiceField, self.fields["event"]).choices = [
                (key, f"{spec.label} ({key})") for key, spec in sorted(EVENTS.items())
            ]
        if "channel" in self.fields:
            cast(forms.ChoiceField, self.fields["channel"]).choices = [(name, name) for name in CHANNELS]
        event = self.data.get("event") or self.initial.get("event") or getattr(self.instance, "event", "")
        if event in EVENTS and "body" in self.fields:  # a reader's form has no fields: all read-only
            self.fields["body"].help_text = _("Placeholders: %(names)s") % {
                "names": ", ".join(f"{{{{ {name} }}}}" for name in EVENTS[event].placeholders)
            }


def _where(source: str, name: str) -> tuple[int, int] | None:
    """Line and column (from 1) where ``source`` first reads the placeholder ``name``."""
    tag = re.compile(r"\{\{\s*" + re.escape(name) + r"\b|\{%[^%]*?\b" + re.escape(name) + r"\b")
    found = tag.search(source)
    if found is None:
        return None
    before = source[: found.start()]
    return before.count("\n") + 1, found.start() - (before.rfind("\n") + 1) + 1


def unknown_placeholders(*, event: str, texts: dict[str, str]) -> list[dict[str, Any]]:
    """The placeholders ``event`` does not offer, with the field and place each is first read."""
    spec = EVENTS.get(event)
    if spec is None:
        return []
    found = []
    for field, source in texts.items():
        for name in sorted(used_placeholders(source) - set(spec.placeholders)):
            where = _where(source, name)
            found.append(
                {
                    "field": field,
                    "name": name,
                    "line": where[0] if where else None,
                    "column": where[1] if where else None,
                }
            )
    return found


def live_preview(*, event: str, channel: str, subject: str, body: str) -> dict[str, Any]:
    """A template as typed, rendered with the event's sample values through the sandbox, or its
    problems (an unknown placeholder named, with its field, line and column)."""
    errors = template_errors(event=event, channel=channel, subject=subject, body=body)
    if errors:
        form_fields = NotificationTemplateForm.base_fields
        labels = {name: form_fields[name].label or name for name in ("event", "channel", "subject", "body")}
        unknown = unknown_placeholders(event=event, texts={"subject": subject, "body": body})
        places = [
            str(
                _("%(field)s, line %(line)s, column %(column)s: {{ %(name)s }} is not a placeholder of this event.")
                % {**item, "field": labels[item["field"]]}
            )
            for item in unknown
            if item["line"] is not None
        ]
        return {
            "ok": False,
            "errors": [
                {"field": field, "label": str(labels.get(field, field)), "message": message}
                for field, messages_ in errors.items()
                for message in messages_
            ],
            "unknown": unknown,
            "places": places,
        }
    rendered_subject, rendered_body, fields = render_sample(event=event, subject=subject, body=body)
    answer: dict[str, Any] = {
        "ok": True,
        "kind": "email" if channel == "email" else "phone",
        "channel": channel,
        "subject": rendered_subject,
        "body": rendered_body,
        "fields": fields,
    }
    if channel == "sms":
        length = sms_length(rendered_body)
        answer["sms"] = {
            "characters": length.characters,
            "segments": length.segments,
            "signature": length.signature,
            "text": ngettext(
                "%(characters)d characters with the signature %(signature)s: %(segments)d message",
                "%(characters)d characters with the signature %(signature)s: %(segments)d messages",
                length.segments,
            )
            % {"characters": length.characters, "signature": length.signature, "segments": length.segments},
            "rule": str(
                _("One message holds %(single)d characters; a longer text goes in parts of %(part)d.")
                % {"single": SINGLE_MESSAGE_CHARS, "part": LONG_MESSAGE_PART_CHARS}
            ),
        }
    return answer


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(SimpleHistoryAdmin):
    """Operations edit the texts; unknown placeholders and forbidden tags are refused on save
    (``NotificationTemplate.clean``), and a preview renders the text with sample data."""

    form = NotificationTemplateForm
    list_display = ("event", "channel", "language", "subject", "is_active", "updated_at", "preview_link")
    list_filter = ("event", "channel", "language", "is_active")
    search_fields = ("subject", "body")
    readonly_fields = ("sample",)
    change_form_template = "admin/notifications/notificationtemplate/change_form.html"

    class Media:
        css = {"all": ("ops/template_preview.css",)}
        js = ("ops/template_preview.js",)

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
            ),
            path(
                "live-preview/",
                self.admin_site.admin_view(self.live_preview_view),
                name="notifications_notificationtemplate_live_preview",
            ),
        ]
        return urls + super().get_urls()

    def live_preview_view(self, request: HttpRequest) -> JsonResponse:
        """The template as typed in the editor, rendered with sample values (the page's live preview).
        POST only, CSRF-checked by the admin; for those who may change templates."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        return _live_preview_post(request)

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


@require_POST
def _live_preview_post(request: HttpRequest) -> JsonResponse:
    data = request.POST
    return JsonResponse(
        live_preview(
            event=data.get("event", ""),
            channel=data.get("channel", ""),
            subject=data.get("subject", ""),
            body=data.get("body", ""),
        )
    )


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
