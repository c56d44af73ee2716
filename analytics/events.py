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

WEEKLY_REVIEW = "analytics.weekly_review"

event_register(
    WEEKLY_REVIEW,
    label=_("Weekly refund review"),
    placeholders=(
        "recipient_name",
        "scope",
        "week",
        "previous_week",
        "applications",
        "previous_applications",
        "approval_rate",
        "refunded_amount",
        "refund_ratio",
        "service",
        "link",
        "contact",
    ),
    sample={
        "scope": "北京海淀校区",
        "week": "2026-03-02 至 2026-03-08",
        "previous_week": "2026-02-23 至 2026-03-01",
        "applications": "12",
        "previous_applications": "9",
        "approval_rate": "75.0%",
        "refunded_amount": "8,400.00",
        "refund_ratio": "4.20%",
        "service": "学员服务（括号内为前一周）：\n任务按时完成 85.0%（80.0%），20 件中 17 件；\n"
        "24 小时内首次联系 90.0%（100.0%）；\n2 天内跟进不学习学员 75.0%（50.0%）；\n"
        "首课反馈：很好 8 · 还行 2 · 不太好 1；课程评分 4.50；\n"
        "续费率 40.0%（33.3%），5 件中 2 件；\n转介绍率 1.5%（0.5%），3 次转介绍。",
        "link": "https://school.example.com/admin/analytics/weeklyreview/1/change/",
    },
)
