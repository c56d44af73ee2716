"""The ticket events messages are written for, through the generic notifier."""

from django.utils.translation import gettext_lazy as _

from notifications.rendering import event_register

TICKET_RECEIVED = "ticket.received"
TICKET_REPLIED = "ticket.replied"
TICKET_RESOLVED = "ticket.resolved"
TICKET_ASSIGNED = "ticket.assigned"
TICKET_STUDENT_WROTE = "ticket.student_wrote"
TICKET_ESCALATED = "ticket.escalated"

_SAMPLE = {
    "ticket_no": "TK2026120412345678",
    "subject": "直播课回放打不开",
    "category": "技术问题",
    "priority": "紧急",
    "student_name": "张三",
    "expected": "我们会在 2026-12-04 15:30 前回复您（客服工作时间 09:00–21:00 内 30 分钟）。",
    "due": "2026-12-04 15:30",
    "message": "您好，请在 App 的“我的课程”里下拉刷新后再试一次。",
    "solution": "已为您重新开通回放权限，请刷新后观看。",
    "level": "L2 教学主管",
    "state": "首次回复已超时 35 分钟",
    "owner": "客服 李四",
    "link": "https://school.example.com/me/tickets/TK2026120412345678/",
}

for _key, _label, _names in (
    (TICKET_RECEIVED, _("Ticket received"), ("ticket_no", "subject", "category", "expected", "due", "link", "contact")),
    (TICKET_REPLIED, _("Ticket answered"), ("ticket_no", "subject", "message", "link", "contact")),
    (TICKET_RESOLVED, _("Ticket resolved"), ("ticket_no", "subject", "solution", "link", "contact")),
    (
        TICKET_ASSIGNED,
        _("Ticket waiting for you"),
        ("ticket_no", "subject", "category", "priority", "student_name", "due", "link"),
    ),
    (
        TICKET_STUDENT_WROTE,
        _("The student wrote on a ticket"),
        ("ticket_no", "subject", "student_name", "message", "due", "link"),
    ),
):
    event_register(_key, label=_label, placeholders=("recipient_name", *_names), sample=_SAMPLE)

event_register(
    TICKET_ESCALATED,
    label=_("Ticket escalated"),
    placeholders=("recipient_name", "ticket_no", "subject", "category", "level", "state", "owner", "due", "link"),
    sample=_SAMPLE,
    robot=True,
)

RATING_ASKED = "rating.asked"

event_register(
    RATING_ASKED,
    label=_("Satisfaction survey"),
    placeholders=("recipient_name", "about", "link", "contact"),
    sample={
        "about": "您的退费申请 RF2026120412345678",
        "link": "https://school.example.com/refunds/RF2026120412345678/#rating",
    },
)
