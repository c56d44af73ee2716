"""The outbox: who is told of an event, on which channels, in which words; written with the event.

``notifications_for_refund_event`` runs inside ``refund_event_record``'s transaction (it is a
``refund_event_writer``): it resolves the recipients, picks their channels, renders the texts
and writes one ``Notification`` row per (event, channel, recipient). After the commit each row
is handed to a worker (``notifications.tasks.deliver_notification``); a row the broker could not
take stays queued for the beat job ``send_pending_notifications``.

Who is told (refund events):

===================  =========================================================================
event                recipients
===================  =========================================================================
submitted            the student (confirmation)
assigned             the approver of the new step; a pool tier (quality, finance): every active
                     staff of that role at the campus. Submission opens the first step, so the
                     first approver's task is this event.
escalated            the assignee it was taken from and the person it was escalated to
returned             the student (what is missing, by when)
approved             the student (amount, expected arrival)
rejected             the student (reason, how and until when to appeal)
cancelled            the student
appealed             the student (confirmation; the new approver gets ``assigned``)
payout_succeeded     the student (amount, channel, arrival, link to the request and receipt)
payout_failed        the campus's finance staff
payout_needs_check   the campus's finance staff (the gateway's outcome is unknown: check it there)
closed               the student (approved with nothing to pay, or closed by finance: why)
resubmitted,         nobody (the step opened after it sends ``assigned``)
amount_adjusted
===================  =========================================================================

Channels: a student gets the refund policy's channels (the quote's ``notify_channels``: trial
inbox + e-mail, regular + SMS, premium + a call task for the account manager, WeChat where the
policy lists it and she has an openid), minus what she turned off (never the inbox), minus what
cannot reach her. Staff get inbox + e-mail. The staff-facing events (``ROBOT_EVENTS``: assigned,
escalated, payout_failed) also go to the campus's active staff group robots (``StaffWebhook``)
subscribed to them, on the webhook channel. Call tasks only for the events in ``CALL_TASK_EVENTS``.

Generic sending for later features: ``notify(key=..., event=..., recipients=[...], context=...,
channels=[...])`` with an event registered by ``notifications.rendering.event_register``.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import asdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from schoolops.http import backoff_with_jitter

from .channels.base import Recipient, WebhookTarget, channel_for
from .models import (
    ROBOT_EVENTS,
    Notification,
    NotificationPreference,
    NotificationStatus,
    NotificationTemplate,
    StaffWebhook,
)
from .rendering import EVENTS, render, used_placeholders

logger = logging.getLogger(__name__)

STAFF_CHANNELS = ("inbox", "email")
OPTIONAL_CHANNELS = ("email", "sms", "wechat")  # what a student may turn off
CALL_TASK_EVENTS = {"submitted", "approved", "rejected", "payout_succeeded", "closed"}
STUDENT_EVENTS = {
    "submitted",
    "returned",
    "approved",
    "rejected",
    "cancelled",
    "appealed",
    "payout_succeeded",
    "closed",
}


# --- Refund events -------------------------------------------------------------------------------


def notifications_for_refund_event(*, event) -> int:
    """Write the outbox rows of one refund event (in the caller's transaction); the number written.

    Idempotent: handling the same event again writes nothing new (unique constraint).
    """
    from refunds.models import RefundRequest

    kind = event.kind
    key = f"refund.{kind}"
    request = (
        RefundRequest.objects.select_related("order__course", "order__enrollment", "student__user", "quote")
        .filter(pk=event.request_id)
        .first()
    )
    if request is None or key not in EVENTS:
        _mark_handled(event)
        return 0
    audiences: list[tuple[Recipient, tuple[str, ...], bool]] = []  # recipient, channels, is_student
    if kind in STUDENT_EVENTS:
        student = request.student
        channels = [
            c for c in (request.quote.notify_channels or ["inbox"]) if c != "call_task" or kind in CALL_TASK_EVENTS
        ]
        if "inbox" not in channels:
            channels.insert(0, "inbox")
        audiences.append((recipient_for_user(student.user, openid=student.wechat_openid), tuple(channels), True))
    for staff in _staff_recipients(event, request):
        audiences.append((recipient_for_user(staff.user), STAFF_CHANNELS, False))
    for robot in _robot_recipients(key, request):
        audiences.append((robot, ("webhook",), False))
    written = _write(
        dedupe_key=f"refund-event:{event.pk}",
        event=key,
        audiences=audiences,
        context_for=lambda recipient, is_student: _refund_context(
            event=event, request=request, recipient=recipient, is_student=is_student
        ),
        refund_request=request,
        source_event=event,
        at=event.created_at,
    )
    _mark_handled(event)
    return written


def refund_event_written(event) -> None:
    """The ``refund_event_writer`` hook."""
    notifications_for_refund_event(event=event)


def _mark_handled(event) -> None:
    type(event).objects.filter(pk=event.pk, handled_at__isnull=True).update(handled_at=timezone.now())


def _staff_recipients(event, request) -> list:
    from schoolops.models import Staff, StaffRole

    payload = event.payload or {}
    kind = event.kind
    query = None
    if kind == "assigned":
        if payload.get("assignee"):
            query = Q(pk=payload["assignee"])
        elif payload.get("pool_role"):
            query = Q(campus_id=request.campus_id, role=payload["pool_role"])
    elif kind == "escalated":
        ids = [pk for pk in (payload.get("from_staff"), payload.get("to_staff")) if pk]
        if ids:
            query = Q(pk__in=ids)
    elif kind in ("payout_failed", "payout_needs_check"):
        query = Q(campus_id=request.campus_id, role=StaffRole.FINANCE)
    if query is None:
        return []
    return list(Staff.objects.active().filter(query).select_related("user").order_by("pk"))


def _robot_recipients(key: str, request) -> list[Recipient]:
    """The campus's active staff group robots subscribed to a staff-facing event (one query)."""
    if key not in ROBOT_EVENTS:
        return []
    robots = StaffWebhook.objects.filter(campus_id=request.campus_id, is_active=True).order_by("pk")
    return [
        Recipient(
            user_id=None, name=robot.name, webhook=WebhookTarget(kind=robot.kind, url=robot.url, secret=robot.secret)
        )
        for robot in robots
        if robot.subscribes_to(key)
    ]


def recipient_for_user(user, *, openid: str = "") -> Recipient:
    """A user as a recipient, with every address the outbox knows for them."""
    return Recipient(
        user_id=user.pk,
        name=str(user),
        email=user.email or "",
        phone=user.phone or "",
        wechat_openid=openid or "",
    )


def _refund_context(*, event, request, recipient: Recipient, is_student: bool) -> dict[str, str]:
    """The placeholder values of a refund event, as text in the active language."""
    payload = event.payload or {}
    kind = event.kind
    course = request.order.course
    context = {
        "student_name": str(request.student.user),
        "recipient_name": recipient.name,
        "order_no": request.order.order_no,
        "request_no": request.request_no,
        "course": course.name,
        "status": str(request.get_status_display()),
        "date": _when(event.created_at),
        "next_steps": _text(NEXT_STEPS, kind),
        "contact": school_contact(),
        "link": _link(request, staff=not is_student),
        "amount": _money(payload.get("amount", request.approved_amount)),
        "deadline": "",
        "reason": "",
        "arrival": "",
        "channel": "",
    }
    if kind in ("assigned", "escalated"):
        context["reason"] = f"{request.get_reason_display()}：{request.details}".strip("：")
        context["deadline"] = _when(payload.get("due_at")) or _due_of_pending_step(request)
    elif kind == "returned":
        context["reason"] = "；".join(str(m) for m in payload.get("missing") or [])
        context["deadline"] = _date(_plus_days(event.created_at, _settings_days(request, "needs_info_days")))
    elif kind == "rejected":
        context["reason"] = str(payload.get("reason") or "")
        context["deadline"] = _date(payload.get("appeal_until"))
        if not context["deadline"]:
            context["next_steps"] = _text(NEXT_STEPS, "rejected_final")
    elif kind == "cancelled":
        context["reason"] = _text(WORDS, "expired" if payload.get("expired") else "withdrawn")
    elif kind == "appealed":
        context["reason"] = str(payload.get("reason") or "")
    elif kind == "approved":
        from portal.timeline import arrival_note

        context["arrival"] = str(arrival_note(request.order.channel))
    elif kind == "closed":
        context["reason"] = str(payload.get("reason") or "") or _text(WORDS, "nothing_due")
    elif kind in ("payout_succeeded", "payout_failed", "payout_needs_check"):
        from orders.models import PaymentChannel

        channel = str(payload.get("channel") or "")
        context["channel"] = str(dict(PaymentChannel.choices).get(channel, channel))
        earliest, latest = _date(payload.get("arrival_earliest")), _date(payload.get("arrival_latest"))
        context["arrival"] = earliest if earliest == latest else f"{earliest} – {latest}"
        if kind in ("payout_failed", "payout_needs_check"):
            context["reason"] = " ".join(str(payload.get(k) or "") for k in ("code", "message")).strip()
    return {name: str(value) for name, value in context.items()}


# Default wording of the generated values, per language: data like the default templates.
NEXT_STEPS = {
    "submitted": {
        "zh-hans": "我们会在 24 小时内完成审核，您可以在申请页面随时查看进度。",
        "en": "We will review it within 24 hours; you can follow it on the request page.",
    },
    "assigned": {"zh-hans": "请在截止时间前完成审核。", "en": "Please review it before the deadline."},
    "escalated": {
        "zh-hans": "该申请已超过审核时限，请尽快处理。",
        "en": "The request waited past its deadline; please decide it now.",
    },
    "returned": {
        "zh-hans": "请在截止日期前到申请页面补充材料。",
        "en": "Please add what is missing on the request page before the deadline.",
    },
    "approved": {
        "zh-hans": "退款正在原路退回，打款完成后我们会再通知您。",
        "en": "The money is on its way back; we will tell you when it has been paid out.",
    },
    "rejected": {
        "zh-hans": "如有异议，您可以在截止日期前在申请页面提出一次申诉。",
        "en": "If you disagree you may appeal once on the request page before the deadline.",
    },
    "rejected_final": {
        "zh-hans": "该申请已申诉过一次，本次为最终结果。",
        "en": "This decision is final: the request was already appealed once.",
    },
    "cancelled": {
        "zh-hans": "如果改变主意，欢迎随时重新申请。",
        "en": "You are welcome to apply again at any time if you change your mind.",
    },
    "appealed": {
        "zh-hans": "我们会请更高一级的老师重新审核您的申请。",
        "en": "A more senior colleague will look at your request again.",
    },
    "payout_succeeded": {
        "zh-hans": "请保留本消息作为凭证，电子凭证可在申请页面下载。",
        "en": "Keep this message as your record; the receipt is on the request page.",
    },
    "payout_failed": {
        "zh-hans": "请重新发起退款，或登记线下转账。",
        "en": "Please retry the payout or record an offline transfer.",
    },
    "payout_needs_check": {
        "zh-hans": "请登录支付平台商户后台核实该退款单号的状态，期间系统会继续查询，切勿以新单号重新退款。",
        "en": (
            "Please check this merchant refund number in the gateway's merchant platform; we keep querying it "
            "meanwhile. Do not send it again under a new number."
        ),
    },
    "closed": {
        "zh-hans": "本次申请已结束，订单已释放；如对结果有疑问，欢迎联系我们。",
        "en": "This request is closed and the order is free again; contact us if you have questions.",
    },
}
WORDS = {
    "contact": {
        "zh-hans": "可在个人中心留言，或拨打客服热线联系我们。",
        "en": "Reply in your personal center, or call us.",
    },
    "expired": {"zh-hans": "补充材料已超过期限。", "en": "No information arrived before the deadline."},
    "withdrawn": {"zh-hans": "您已主动撤回申请。", "en": "You withdrew it."},
    "nothing_due": {
        "zh-hans": "经审核，按退费规则本订单可退金额为 0 元",
        "en": "After review, nothing on this order is refundable under the refund rules",
    },
}


def _text(table: dict[str, dict[str, str]], key: str) -> str:
    texts = table.get(key) or {}
    return texts.get(translation.get_language() or "", "") or texts.get("zh-hans", "")


def _link(request, *, staff: bool) -> str:
    try:
        path = (
            reverse("admin:refunds_refundrequest_change", args=[request.pk])
            if staff
            else reverse("portal:request", args=[request.request_no])
        )
    except NoReverseMatch:  # pragma: no cover - URLs are always installed
        return ""
    return site_url(path)


def site_url(path: str) -> str:
    """``path`` as messages link to it: absolute with ``NOTIFICATIONS_SITE_URL`` when it is set."""
    return f"{getattr(settings, 'NOTIFICATIONS_SITE_URL', '').rstrip('/')}{path}"


def school_contact() -> str:
    """How students reach the school, in the active language: the setting, else our sentence."""
    return getattr(settings, "NOTIFICATIONS_CONTACT", "") or _text(WORDS, "contact")


def _settings_days(request, name: str) -> int:
    from refunds.selectors import approval_settings_for

    return getattr(approval_settings_for(campus=request.campus_id), name)


def _due_of_pending_step(request) -> str:
    # Looked up once per event, not once per recipient: the queries of an event stay fixed
    # however many people and robots are told.
    if not hasattr(request, "_pending_step_due"):
        step = request.steps.filter(decision="pending").only("due_at").first()
        request._pending_step_due = _when(step.due_at) if step else ""
    return request._pending_step_due


def _plus_days(at, days: int):
    return at + datetime.timedelta(days=days) if at else None


def _money(value) -> str:
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"


def _when(value) -> str:
    if isinstance(value, str):
        value = parse_datetime(value) or value
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value or "")


def _date(value) -> str:
    if isinstance(value, str):
        value = parse_datetime(value) or parse_date(value) or value
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d") if timezone.is_aware(value) else f"{value:%Y-%m-%d}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value or "")


# --- Writing and queueing ------------------------------------------------------------------------


def _write(
    *,
    dedupe_key: str,
    event: str,
    audiences: Iterable[tuple[Recipient, tuple[str, ...], bool]],
    context_for,
    refund_request=None,
    source_event=None,
    at: datetime.datetime | None = None,
) -> int:
    """Render and write the rows of one event; queue their delivery after the commit."""
    audiences = list(audiences)
    if not audiences:
        return 0
    now = at or timezone.now()
    user_ids = [r.user_id for r, _c, _s in audiences if r.user_id is not None]
    preferences = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=user_ids)}
    templates = {(t.channel, t.language): t for t in NotificationTemplate.objects.filter(event=event, is_active=True)}
    rows = []
    for recipient, channels, is_student in audiences:
        preference = preferences.get(recipient.user_id)
        language = preference.language if preference else settings.LANGUAGE_CODE
        with translation.override(language):
            context = None
            for channel in dict.fromkeys(channels):
                if preference is not None and channel in OPTIONAL_CHANNELS and not preference.allows(channel):
                    continue
                template = templates.get((channel, language)) or templates.get((channel, settings.LANGUAGE_CODE))
                if template is None:
                    logger.warning("No active %s template for %s; not sent on that channel.", channel, event)
                    continue
                try:
                    medium = channel_for(channel)
                except KeyError:
                    logger.warning("Channel %s is not installed; %s not sent on it.", channel, event)
                    continue
                if not medium.can_reach(recipient):
                    continue
                if context is None:
                    context = context_for(recipient, is_student)
                rows.append(
                    Notification(
                        dedupe_key=dedupe_key,
                        recipient_key=_recipient_key(recipient),
                        event=event,
                        channel=channel,
                        refund_request=refund_request,
                        source_event=source_event,
                        recipient_id=recipient.user_id,
                        recipient_name=recipient.name[:100],
                        address=_address(recipient, channel)[:200],
                        webhook=asdict(recipient.webhook) if recipient.webhook else None,
                        language=template.language,
                        subject=render(template.subject, context)[:300],
                        body=render(template.body, context),
                        fields={k: v for k, v in context.items() if k in _used(template)},
                        provider_template_id=template.provider_template_id,
                        link=context.get("link", "")[:300],
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(lambda: notifications_enqueue(dedupe_key=dedupe_key))
    return len(rows)


def _used(template: NotificationTemplate) -> set[str]:
    used = getattr(template, "_used_placeholders", None)
    if used is None:
        used = template._used_placeholders = used_placeholders(template.subject, template.body)
    return used


def _recipient_key(recipient: Recipient) -> str:
    if recipient.user_id is not None:
        return f"user:{recipient.user_id}"
    if recipient.webhook is not None:
        # The robot's address tells two robots apart (one campus cannot register one URL twice);
        # an address too long for the column is keyed by its digest instead of being cut.
        key = f"webhook:{recipient.webhook.kind}:{recipient.webhook.url}"
        if len(key) > 300:
            key = f"webhook:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        return key
    return f"address:{recipient.email or recipient.phone or recipient.wechat_openid}"[:300]


def _address(recipient: Recipient, channel: str) -> str:
    return {"email": recipient.email, "sms": recipient.phone, "wechat": recipient.wechat_openid}.get(channel, "")


# After the broker refused a hand-over, this process leaves it alone for a while: connecting to a
# broker that is down costs seconds (the client's connect retries), and the request that committed
# should not wait for it. The rows stay queued; the beat job sends them.
BROKER_BACKOFF_SECONDS = 30.0
_broker_down_until = 0.0


def notifications_enqueue(*, dedupe_key: str | None = None, ids: Iterable[int] | None = None) -> int:
    """Hand queued rows to the workers. A broker that is down is logged, not raised: the beat job
    ``send_pending_notifications`` sends what stayed queued."""
    import time

    from .tasks import deliver_notification

    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return 0
    if ids is None:
        ids = Notification.objects.filter(dedupe_key=dedupe_key, status=NotificationStatus.QUEUED).values_list(
            "pk", flat=True
        )
    handed = 0
    for pk in list(ids):
        try:
            deliver_notification.apply_async((pk,), retry=False)
        except Exception:  # the broker's errors vary by transport; the row stays queued either way
            _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
            logger.warning("Could not queue notification %s; the periodic job will send it.", pk, exc_info=True)
            return handed
        handed += 1
    return handed


def notifications_broker_reset() -> None:
    """Forget an earlier broker failure (the broker is back, or a test changed it)."""
    global _broker_down_until
    _broker_down_until = 0.0


def notify(
    *,
    key: str,
    event: str,
    recipients: Iterable[Recipient],
    context: dict[str, str],
    channels: Iterable[str],
    refund_request=None,
) -> int:
    """Tell ``recipients`` about ``event`` on ``channels`` (later features: service tasks, alerts).

    ``key`` names the occurrence (e.g. ``f"ticket-sla:{ticket.pk}"``): calling again with the same
    key sends nothing new. ``context`` gives the event's placeholders; ``recipient_name`` is
    filled per recipient. Call it inside the transaction of the change; delivery follows the commit.
    """
    if event not in EVENTS:
        raise KeyError(f"Unknown notification event {event!r}; register it with event_register().")
    channels = tuple(channels)
    return _write(
        dedupe_key=key[:80],
        event=event,
        audiences=[(r, channels, False) for r in recipients],
        context_for=lambda recipient, _is_student: {**context, "recipient_name": recipient.name},
        refund_request=refund_request,
    )


# --- Delivery ------------------------------------------------------------------------------------


def message_for(notification: Notification):
    """The channel's view of one outbox row."""
    from .channels.base import OutgoingMessage

    webhook = WebhookTarget(**notification.webhook) if notification.webhook else None
    user = notification.recipient
    recipient = Recipient(
        user_id=notification.recipient_id,
        name=notification.recipient_name,
        email=notification.address if notification.channel == "email" else (user.email if user else ""),
        phone=notification.address if notification.channel == "sms" else (user.phone or "" if user else ""),
        wechat_openid=notification.address if notification.channel == "wechat" else "",
        webhook=webhook,
        language=notification.language,
    )
    return OutgoingMessage(
        delivery_id=notification.pk,
        channel=notification.channel,
        event=notification.event,
        recipient=recipient,
        subject=notification.subject,
        body=notification.body,
        fields=dict(notification.fields or {}),
        provider_template_id=notification.provider_template_id,
        link=notification.link,
        refund_request_id=notification.refund_request_id,
    )


class Outcome:
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"


# Per channel: (attempts before giving up, first backoff in seconds, backoff cap in seconds).
RETRY_POLICY: dict[str, tuple[int, float, float]] = {
    "inbox": (5, 5, 300),
    "call_task": (5, 5, 300),
    "email": (6, 30, 1800),
    "sms": (6, 30, 1800),
    "wechat": (6, 30, 1800),
    "webhook": (5, 30, 1800),
}
DEFAULT_RETRY_POLICY = (5, 30, 1800)
LEASE = datetime.timedelta(minutes=5)


def retry_countdown(channel: str, attempts: int) -> float:
    """Exponential backoff with jitter, capped, per channel (``attempts`` made so far)."""
    _max, base, cap = RETRY_POLICY.get(channel, DEFAULT_RETRY_POLICY)
    return backoff_with_jitter(attempt=max(attempts - 1, 0), base=base, cap=cap)


def notification_deliver(*, notification_id: int, now: datetime.datetime | None = None) -> tuple[str, float | None]:
    """Send one outbox row: claim it under a row lock, call its channel outside any transaction,
    record the result. Returns the outcome and, for a retry, the seconds to wait.

    A row another worker holds, or one already sent, failed or not yet due, is skipped: two
    workers never send the same row at once.
    """
    from .channels.base import ChannelPermanentError, ChannelTemporaryError

    now = now or timezone.now()
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return Outcome.SKIPPED, None
        due = notification.status == NotificationStatus.QUEUED and (
            notification.next_attempt_at is None or notification.next_attempt_at <= now
        )
        stale = notification.status == NotificationStatus.SENDING and (
            notification.lease_until is None or notification.lease_until <= now
        )
        if not (due or stale):
            return Outcome.SKIPPED, None
        notification.status = NotificationStatus.SENDING
        notification.attempts += 1
        notification.lease_until = now + LEASE
        notification.save(update_fields=["status", "attempts", "lease_until"])
    attempt = notification.attempts
    claimed = Notification.objects.filter(pk=notification.pk, status=NotificationStatus.SENDING, attempts=attempt)
    try:
        provider_id = channel_for(notification.channel).send(message_for(notification))
    except ChannelPermanentError as exc:
        claimed.update(status=NotificationStatus.FAILED, lease_until=None, last_error=_error(exc))
        logger.warning("Notification %s failed for good: %s", notification.pk, exc.message)
        return Outcome.FAILED, None
    except KeyError as exc:
        claimed.update(status=NotificationStatus.FAILED, lease_until=None, last_error=str(exc.args[0]))
        return Outcome.FAILED, None
    except Exception as exc:  # temporary errors and anything unexpected: try again later
        if not isinstance(exc, ChannelTemporaryError):
            logger.exception("Notification %s: unexpected error from channel %s", notification.pk, notification.channel)
        max_attempts = RETRY_POLICY.get(notification.channel, DEFAULT_RETRY_POLICY)[0]
        error = _error(exc)
        if attempt >= max_attempts:
            claimed.update(
                status=NotificationStatus.FAILED,
                lease_until=None,
                last_error=_("Gave up after %(n)d attempts: %(error)s") % {"n": attempt, "error": error},
            )
            return Outcome.FAILED, None
        wait = retry_countdown(notification.channel, attempt)
        claimed.update(
            status=NotificationStatus.QUEUED,
            lease_until=None,
            last_error=error,
            next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait),
        )
        return Outcome.RETRY, wait
    claimed.update(
        status=NotificationStatus.SENT,
        lease_until=None,
        provider_id=(provider_id or "")[:128],
        sent_at=timezone.now(),
    )
    return Outcome.SENT, None


def _error(exc: Exception) -> str:
    message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
    code = getattr(exc, "code", "")
    return f"[{code}] {message}" if code else message


PENDING_BATCH = 500


def notifications_send_pending(*, now: datetime.datetime | None = None, grace_seconds: float | None = None) -> int:
    """Beat: hand to the workers every row still queued past its time (the broker was down, a
    worker died) or left sending past its lease, after writing the rows of recent refund events
    whose writer failed. Returns how many rows were handed over."""
    now = now or timezone.now()
    if grace_seconds is None:
        grace_seconds = float(getattr(settings, "NOTIFICATIONS_PENDING_GRACE_SECONDS", 30))
    cutoff = now - datetime.timedelta(seconds=grace_seconds)
    _refund_events_catch_up(now=now, cutoff=cutoff)
    ids = list(
        Notification.objects.filter(
            Q(status=NotificationStatus.QUEUED, next_attempt_at__lte=cutoff)
            | Q(status=NotificationStatus.SENDING, lease_until__lte=now)
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:PENDING_BATCH]
    )
    notifications_broker_reset()  # the beat job always tries: it runs on a broker that works
    return notifications_enqueue(ids=ids)


CATCH_UP = datetime.timedelta(days=1)


def _refund_events_catch_up(*, now: datetime.datetime, cutoff: datetime.datetime) -> int:
    """Write the rows of recent refund events whose writer failed (``handled_at`` still empty).
    Older ones are not told any more: news of a day ago would mislead more than help."""
    from refunds.models import RefundEvent

    pending = list(
        RefundEvent.objects.filter(
            handled_at__isnull=True, created_at__gte=now - CATCH_UP, created_at__lte=cutoff
        ).order_by("created_at", "pk")[:PENDING_BATCH]
    )
    for event in pending:
        try:
            with transaction.atomic():
                notifications_for_refund_event(event=event)
        except Exception:
            logger.exception("Refund event %s still cannot be turned into notifications.", event.pk)
    return len(pending)


def notifications_resend(*, ids: Iterable[int]) -> int:
    """Send failed rows again from the first attempt (the admin's action). Returns how many."""
    ids = list(ids)
    with transaction.atomic():
        count = Notification.objects.filter(pk__in=ids, status=NotificationStatus.FAILED).update(
            status=NotificationStatus.QUEUED, attempts=0, next_attempt_at=timezone.now(), lease_until=None
        )
        transaction.on_commit(lambda: notifications_enqueue(ids=ids))
    return count
