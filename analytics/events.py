"""The analytics events staff are told about, through the generic notifier."""

from django.utils.translation import gettext_lazy as _

from notifications.rendering import event_register

ALERT_RAISED = "analytics.alert"

event_register(
    ALERT_RAISED,
    label=_("Refund alert raised"),
    placeholders=("recipient_name", "title", "summary", "campus", "date", "link", "contact"),
    sample={
        "title": "当日退费申请激增",
        "summary": "北京海淀校区 2026-11-12 收到 18 份退费申请，是前 28 天日均 1.2 份的 1500%（阈值 150%）。",
        "campus": "北京海淀校区",
        "date": "2026-11-12",
    },
    robot=True,
)
