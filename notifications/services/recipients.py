"""Who is told of a refund event, on which channels, and the words filled into their templates.

Pure reads: nothing here writes. The outbox (``outbox.notifications_for_refund_event``) asks
``refund_event_audiences`` for the people and robots to tell and ``refund_event_context`` for the
placeholder values, then renders and writes the rows.

Who is told (refund events):

===================  =========================================================================
event                recipients
===================  =========================================================================
submitted            the student (confirmation)
assigned             the approver of the new step; a pool tier (quality, finance): every active
                     staff of that role at the campus. Submission opens the first step, so the
                     first approver's task is this event.
advanced             the student (one tier passed it, which one decides next and by when)
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
policy lists it and she has an openid); the outbox then drops what she turned off (never the
inbox) and what cannot reach her. Staff get inbox + e-mail. The staff-facing events
(``ROBOT_EVENTS``: assigned, escalated, payout_failed) also go to the campus's active staff group
robots (``StaffWebhook``) subscribed to them, on the webhook channel. Call tasks only for the
events in ``CALL_TASK_EVENTS``.

The values are text in the reader's language (the outbox calls the context function inside
``translation.override``); the generated sentences (next steps, reasons) are data per language,
like the default templates. What does not depend on the reader is looked up once per event, so
an event's queries stay fixed however many people and robots are told.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from orders.models import PaymentChannel
from payments.gateways.registry import arrival_note
from refunds.models import ApprovalTier, RefundEvent, RefundRequest, RequestKind
from refunds.selectors import approval_settings_for
from schoolops.models import Staff, StaffRole, User

from ..channels.base import Recipient, WebhookTarget
from ..models import StaffWebhook
from ..rendering import ROBOT_EVENTS
from .exchange_words import EXCHANGE_NEXT_STEPS

STAFF_CHANNELS = ("inbox", "email")
CALL_TASK_EVENTS = {"submitted", "approved", "rejected", "payout_succeeded", "closed"}
STUDENT_EVENTS = {
    "submitted",
    "advanced",
    "returned",
    "approved",
    "rejected",
    "cancelled",
    "appealed",
    "payout_succeeded",
    "closed",
}


class Audience(NamedTuple):
    """One recipient of an event and the channels to try for them, in order."""

    recipient: Recipient
    channels: tuple[str, ...]
    is_student: bool = False  # students get the student's link and wording; staff the admin's


# The placeholder values for one recipient: called with (recipient, is_student) in their language.
ContextFor = Callable[[Recipient, bool], dict[str, str]]


def recipient_for_user(user: User, *, openid: str = "") -> Recipient:
    """A user as a recipient, with every address the outbox knows for them."""
    return Recipient(
        user_id=user.pk,
        name=str(user),
        email=user.email or "",
        phone=user.phone or "",
        wechat_openid=openid or "",
    )


def refund_event_audiences(*, event: RefundEvent, request: RefundRequest) -> list[Audience]:
    """Who is told of ``event`` about ``request`` (see the table above), students first."""
    kind = event.kind
    audiences: list[Audience] = []
    # A completed exchange closes its request; the completion notice (exchanges) tells her instead.
    told_elsewhere = kind == "closed" and (event.payload or {}).get("exchange_completed")
    if kind in STUDENT_EVENTS and not told_elsewhere:
        student = request.student
        channels = [
            c for c in (request.quote.notify_channels or ["inbox"]) if c != "call_task" or kind in CALL_TASK_EVENTS
        ]
        if "inbox" not in channels:
            channels.insert(0, "inbox")
        audiences.append(
            Audience(recipient_for_user(student.user, openid=student.wechat_openid), tuple(channels), is_student=True)
        )
    for staff in _staff_recipients(event, request):
        audiences.append(Audience(recipient_for_user(staff.user), STAFF_CHANNELS))
    for robot in _robot_recipients(f"{request.kind}.{kind}", request):
        audiences.append(Audience(robot, ("webhook",)))
    return audiences


def _staff_recipients(event: RefundEvent, request: RefundRequest) -> list[Staff]:
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


def _robot_recipients(key: str, request: RefundRequest) -> list[Recipient]:
    return campus_robots(event=key, campus_ids=[request.campus_id])


def campus_robots(*, event: str, campus_ids: Iterable[int] | None) -> list[Recipient]:
    """The active staff group robots of these campuses (None: every campus) subscribed to a
    staff-facing event, as recipients on the webhook channel (one query)."""
    if event not in ROBOT_EVENTS:
        return []
    robots = StaffWebhook.objects.filter(is_active=True).order_by("pk")
    if campus_ids is not None:
        robots = robots.filter(campus_id__in=list(campus_ids))
    return [
        Recipient(
            user_id=None, name=robot.name, webhook=WebhookTarget(kind=robot.kind, url=robot.url, secret=robot.secret)
        )
        for robot in robots
        if robot.subscribes_to(event)
    ]


# --- The words -----------------------------------------------------------------------------------


def refund_event_context(*, event: RefundEvent, request: RefundRequest) -> ContextFor:
    """The placeholder values of ``event`` per recipient (a function of recipient and is_student).

    The approver's deadline is looked up at the first call and kept for the others.
    """
    pending_due: list[str] = []  # empty until looked up: once per event, not once per recipient

    def due_of_pending_step() -> str:
        if not pending_due:
            step = request.steps.filter(decision="pending").only("due_at").first()
            pending_due.append(_when(step.due_at) if step else "")
        return pending_due[0]

    def context_for(recipient: Recipient, is_student: bool) -> dict[str, str]:
        return _refund_context(
            event=event,
            request=request,
            recipient=recipient,
            is_student=is_student,
            due_of_pending_step=due_of_pending_step,
        )

    return context_for


def _refund_context(
    *,
    event: RefundEvent,
    request: RefundRequest,
    recipient: Recipient,
    is_student: bool,
    due_of_pending_step: Callable[[], str],
) -> dict[str, str]:
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
        "by_contract": "",
    }
    # A contract course before the reviewer set its amount: say so, never "0.00".
    if request.quote.needs_approver_amount and not request.amount_confirmed:
        context["amount"] = _text(WORDS, "by_contract")
        context["amount_words"] = context["amount"]
        context["by_contract"] = "1"
    else:
        context["amount_words"] = _text(WORDS, "amount_words").format(amount=context["amount"])
    if kind == "submitted":
        context["next_steps"] = review_promise(request, at=event.created_at) or context["next_steps"]
    elif kind == "advanced":
        context["passed_tier"] = _tier_label(payload.get("passed_tier"))
        context["next_tier"] = _tier_label(payload.get("next_tier"))
        context["deadline"] = _when(payload.get("due_at")) or due_of_pending_step()
    elif kind in ("assigned", "escalated"):
        context["reason"] = f"{request.get_reason_display()}：{request.details}".strip("：")
        context["deadline"] = _when(payload.get("due_at")) or due_of_pending_step()
    elif kind == "returned":
        needs_info_days = approval_settings_for(campus=request.campus_id).needs_info_days
        context["reason"] = "；".join(str(m) for m in payload.get("missing") or [])
        context["deadline"] = _date(_plus_days(event.created_at, needs_info_days))
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
        context["arrival"] = arrival_note(request.order.channel)  # the wording of the channel's gateway
    elif kind == "closed":
        context["reason"] = str(payload.get("reason") or "") or _text(WORDS, "nothing_due")
    elif kind in ("payout_succeeded", "payout_failed", "payout_needs_check"):
        channel = str(payload.get("channel") or "")
        context["channel"] = str(dict(PaymentChannel.choices).get(channel, channel))
        earliest, latest = _date(payload.get("arrival_earliest")), _date(payload.get("arrival_latest"))
        context["arrival"] = earliest if earliest == latest else f"{earliest} – {latest}"
        if kind in ("payout_failed", "payout_needs_check"):
            context["reason"] = " ".join(str(payload.get(k) or "") for k in ("code", "message")).strip()
    if request.kind == RequestKind.EXCHANGE:
        _exchange_context(context, event=event, request=request)
    return {name: str(value) for name, value in context.items()}


def _tier_label(tier: object) -> str:
    """A tier's name in the reader's language ("班主任初审"), or "" for none."""
    return str(ApprovalTier(str(tier)).label) if tier in ApprovalTier.values else ""


def _exchange_context(context: dict[str, str], *, event: RefundEvent, request: RefundRequest) -> None:
    """The words of a course exchange: the new course, the difference, its own next steps. (The
    exchange is the request's one-to-one row of the exchanges app, read by its reverse name.)"""
    exchange = getattr(request, "exchange", None)
    if exchange is None:
        return
    context["new_course"] = exchange.target_course.name
    if exchange.refund_amount > 0:
        context["difference"] = gettext("%(amount)s yuan refunded to you") % {"amount": _money(exchange.refund_amount)}
    elif exchange.pay_amount > 0:
        context["difference"] = gettext("%(amount)s yuan for you to pay") % {"amount": _money(exchange.pay_amount)}
    else:
        context["difference"] = gettext("no difference to pay or refund")
    if event.kind == "approved" and exchange.pay_amount > 0:
        context["amount"] = _money(exchange.pay_amount)
        deadline = event.created_at + datetime.timedelta(hours=exchange.policy.pay_within_hours)
        context["deadline"] = _when(deadline)
    context["next_steps"] = _text(EXCHANGE_NEXT_STEPS, _exchange_step(event.kind, exchange)) or context["next_steps"]


def _exchange_step(kind: str, exchange: object) -> str:
    """The key of the next-steps text of an exchange event (approved splits by the difference)."""
    if kind == "approved":
        if getattr(exchange, "pay_amount", 0) > 0:
            return "approved_pay"
        if getattr(exchange, "refund_amount", 0) > 0:
            return "approved_refund"
        return "approved_even"
    return kind


def review_promise(request: RefundRequest, *, at: datetime.datetime) -> str:
    """When she may expect the decision, from her route's own deadlines (the campus's hours per
    tier, the first step's due time as the step will get it when submitted at ``at``), not a fixed
    "24 hours": "" when the route has no tier a person decides."""
    sla = approval_settings_for(campus=request.campus_id)
    tiers = [tier for tier in request.route if hasattr(sla, f"sla_{tier}_hours")]
    if not tiers:
        return ""
    values = {
        "count": len(tiers),
        "names": " → ".join(str(ApprovalTier(tier).label) for tier in tiers),
        "hours": sum(sla.sla_hours(tier) for tier in tiers),
        # The first step is due its tier's hours after submission (refunds' routing does the same).
        "due": _when(at + datetime.timedelta(hours=sla.sla_hours(tiers[0]))) if request.route[0] == tiers[0] else "",
    }
    if len(tiers) == 1:
        text = gettext("%(names)s reviews it within %(hours)d hours.") % values
    else:
        text = gettext("It is reviewed in %(count)d steps (%(names)s), in %(hours)d hours at most.") % values
    if values["due"]:
        text += gettext(" The first decision is due by %(due)s.") % values
    return text + gettext(" You can follow it on the request page at any time.")


# Default wording of the generated values, per language: data like the default templates.
NEXT_STEPS = {
    "submitted": {
        "zh-hans": "我们会在 24 小时内完成审核，您可以在申请页面随时查看进度。",
        "en": "We will review it within 24 hours; you can follow it on the request page.",
    },
    "assigned": {"zh-hans": "请在截止时间前完成审核。", "en": "Please review it before the deadline."},
    "advanced": {
        "zh-hans": "目前无需您做任何操作，每一步审核完成后我们都会通知您；审核通过前如需撤回，可在申请页面操作。",
        "en": (
            "There is nothing for you to do now: we tell you after every step. Until it is approved you can "
            "still withdraw it on the request page."
        ),
    },
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
        "zh-hans": "客服热线 {hotline}（{hours}），或在个人中心“联系客服”留言：{desk}",
        "en": "Call us on {hotline} ({hours}), or write to us from your personal center: {desk}",
    },
    "expired": {"zh-hans": "补充材料已超过期限。", "en": "No information arrived before the deadline."},
    "withdrawn": {"zh-hans": "您已主动撤回申请。", "en": "You withdrew it."},
    "by_contract": {
        "zh-hans": "金额由审核人按合同确定",
        "en": "amount set by the reviewer under the contract",
    },
    "amount_words": {"zh-hans": "金额 {amount} 元", "en": "{amount} yuan"},
    "nothing_due": {
        "zh-hans": "经审核，按退费规则本订单可退金额为 0 元",
        "en": "After review, nothing on this order is refundable under the refund rules",
    },
}


def _text(table: dict[str, dict[str, str]], key: str) -> str:
    texts = table.get(key) or {}
    return texts.get(translation.get_language() or "", "") or texts.get("zh-hans", "")


def _link(request: RefundRequest, *, staff: bool) -> str:
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
    base: str = getattr(settings, "NOTIFICATIONS_SITE_URL", "")
    return f"{base.rstrip('/')}{path}"


def school_contact() -> str:
    """How students reach the school, in the active language: ``NOTIFICATIONS_CONTACT`` if set,
    else the service hotline, its hours and the link to the desk ("联系客服")."""
    contact: str = getattr(settings, "NOTIFICATIONS_CONTACT", "")
    if contact:
        return contact
    try:
        desk = site_url(reverse("portal:ticket_new"))
    except NoReverseMatch:  # pragma: no cover - the personal center is always installed
        desk = ""
    return _text(WORDS, "contact").format(hotline=settings.SERVICE_HOTLINE, hours=settings.SERVICE_HOURS, desk=desk)


def _plus_days(at: datetime.datetime | None, days: int) -> datetime.datetime | None:
    return at + datetime.timedelta(days=days) if at else None


def _money(value: object) -> str:
    if value in (None, ""):
        return ""
    return f"{Decimal(str(value)).quantize(Decimal('0.01')):,}"


def _when(value: object) -> str:
    """A moment as "2026-12-02 15:01" in local time; a payload's ISO text is parsed first."""
    if isinstance(value, str):
        value = parse_datetime(value) or value
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value or "")


def _date(value: object) -> str:
    """A day as "2026-12-02" (a moment in local time); a payload's ISO text is parsed first."""
    if isinstance(value, str):
        value = parse_datetime(value) or parse_date(value) or value
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d") if timezone.is_aware(value) else f"{value:%Y-%m-%d}"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value or "")
