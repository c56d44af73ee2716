"""What a completed course exchange tells people, written to the outbox inside the completion's
transaction.

- The student (inbox, e-mail, SMS; ``exchange.completed``): the exchange is done, the new course
  and order, what happened to the difference, and a request to confirm and rate it on her
  exchange page.
- Her homeroom teachers (inbox, e-mail; ``exchange.student_moved``): the old order's and the new
  one's, once when one teacher has both, that she moved from one course to the other, each with
  the next step of their side and a link to the enrollment they look after.

Each message is keyed by the exchange (``exchange-completed:<id>``, the teachers' with their id
after it): completing or calling again writes nothing new.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from functools import partial

from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from notifications.models import Notification
from notifications.rendering import COMMON, event_register
from notifications.services.exchange_words import EXCHANGE_NEXT_STEPS
from notifications.services.outbox import notify
from notifications.services.recipients import (
    STAFF_CHANNELS,
    recipient_for_user,
    school_contact,
    site_url,
)
from orders.models import Order
from schoolops.models import Staff

from .models import Exchange

EXCHANGE_COMPLETED = "exchange.completed"
STUDENT_MOVED = "exchange.student_moved"

STUDENT_CHANNELS = ("inbox", "email", "sms")

_SAMPLE = {
    "new_course": "高中数学强化班（秋季）",
    "new_order_no": "HX20260301A1B2C3D4E5",
    "difference": "退还差额 ¥600.00",
    "status": "已完成",
    "date": "2026-03-05 14:20",
    "next_steps": "请到换课页面确认本次换课，并为我们的服务打个分。",
}

event_register(
    EXCHANGE_COMPLETED,
    label=gettext_lazy("Course exchange completed"),
    placeholders=(*COMMON, "new_course", "new_order_no", "difference"),
    sample={**_SAMPLE, "link": "https://school.example.com/me/exchanges/RF20260301001/"},
)
event_register(
    STUDENT_MOVED,
    label=gettext_lazy("A student moved to another course (homeroom teachers)"),
    placeholders=(
        "recipient_name",
        "student_name",
        "course",
        "order_no",
        "new_course",
        "new_order_no",
        "request_no",
        "date",
        "next_steps",
        "link",
    ),
    sample={
        **_SAMPLE,
        "recipient_name": "孙老师",
        "next_steps": "请尽快联系学员，欢迎其加入新课程，并帮助其顺利开始学习。",
        "link": "https://school.example.com/admin/students/enrollment/42/change/",
    },
)


def exchange_completed_notify(*, exchange: Exchange, old_order: Order, new_order: Order, at: datetime.datetime) -> int:
    """Tell the student and both homeroom teachers that ``exchange`` is complete (see the module
    docstring); in the caller's transaction, delivery after the commit. The rows written (0 when
    called again for the same exchange)."""
    request = exchange.request
    student = request.student
    key = f"exchange-completed:{exchange.pk}"
    teachers = _teachers(old_order, new_order)
    keys = [key, *(f"{key}:{teacher.pk}" for teacher, _side, _order in teachers)]
    before = Notification.objects.filter(dedupe_key__in=keys).count()
    notify(
        key=key,
        event=EXCHANGE_COMPLETED,
        recipients=[recipient_for_user(student.user, openid=student.wechat_openid)],
        context=partial(_student_context, exchange, old_order, new_order, at),
        channels=STUDENT_CHANNELS,
        refund_request=request,
    )
    for teacher, side, enrollment_order in teachers:
        notify(
            key=f"{key}:{teacher.pk}",
            event=STUDENT_MOVED,
            recipients=[recipient_for_user(teacher.user)],
            context=partial(_teacher_context, exchange, old_order, new_order, at, side, enrollment_order),
            channels=STAFF_CHANNELS,
            refund_request=request,
        )
    # The outbox ignores rows it already has; count what this call added.
    return Notification.objects.filter(dedupe_key__in=keys).count() - before


def _teachers(old_order: Order, new_order: Order) -> list[tuple[Staff, str, Order]]:
    """The active homeroom teachers to tell: (teacher, which side, the order whose enrollment the
    link opens); one teacher of both orders is told once."""
    old, new = _homeroom(old_order), _homeroom(new_order)
    if old is not None and new is not None and old.pk == new.pk:
        return [(new, "moved_both", new_order)]
    teachers = [(old, "moved_from", old_order), (new, "moved_to", new_order)]
    return [(teacher, side, order) for teacher, side, order in teachers if teacher is not None]


def _homeroom(order: Order) -> Staff | None:
    enrollment = getattr(order, "enrollment", None)
    teacher = enrollment.homeroom_teacher if enrollment is not None else None
    if teacher is None or not teacher.user.is_active:
        return None
    return teacher


def _common(exchange: Exchange, old_order: Order, new_order: Order, at: datetime.datetime) -> dict[str, str]:
    return {
        "student_name": str(exchange.request.student.user),
        "course": old_order.course.name,
        "order_no": old_order.order_no,
        "new_course": new_order.course.name,
        "new_order_no": new_order.order_no,
        "request_no": exchange.request.request_no,
        "date": f"{timezone.localtime(at):%Y-%m-%d %H:%M}",
    }


def _student_context(exchange: Exchange, old_order: Order, new_order: Order, at: datetime.datetime) -> dict[str, str]:
    """The student's placeholders, in her language (the outbox calls this inside it)."""
    return {
        **_common(exchange, old_order, new_order, at),
        "status": str(exchange.get_status_display()),
        "difference": _difference(exchange),
        "next_steps": _words("completed"),
        "contact": school_contact(),
        "link": _exchange_link(exchange),
    }


def _teacher_context(
    exchange: Exchange,
    old_order: Order,
    new_order: Order,
    at: datetime.datetime,
    side: str,
    enrollment_order: Order,
) -> dict[str, str]:
    """A homeroom teacher's placeholders: the next step of their side, their enrollment's page."""
    return {
        **_common(exchange, old_order, new_order, at),
        "next_steps": _words(side),
        "link": _enrollment_link(enrollment_order),
    }


def _difference(exchange: Exchange) -> str:
    """What happened to the difference, now that it is settled."""
    if exchange.refund_amount > 0:
        return _("%(amount)s yuan refunded to you") % {"amount": _money(exchange.refund_amount)}
    if exchange.pay_amount > 0:
        return _("%(amount)s yuan paid by you") % {"amount": _money(exchange.pay_amount)}
    return _("no difference to pay or refund")


def _words(key: str) -> str:
    texts = EXCHANGE_NEXT_STEPS.get(key) or {}
    return texts.get(translation.get_language() or "", "") or texts.get("zh-hans", "")


def _exchange_link(exchange: Exchange) -> str:
    """The student's exchange page (confirm and rate), else her personal center's home."""
    try:
        path = reverse("portal:exchange", args=[exchange.request.request_no])
    except NoReverseMatch:
        path = reverse("portal:home")
    return site_url(path)


def _enrollment_link(order: Order) -> str:
    enrollment = getattr(order, "enrollment", None)
    if enrollment is None:
        return ""
    try:
        return site_url(reverse("admin:students_enrollment_change", args=[enrollment.pk]))
    except NoReverseMatch:  # pragma: no cover - the admin is always installed
        return ""


def _money(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):,}"
