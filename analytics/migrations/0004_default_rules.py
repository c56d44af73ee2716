"""The shipped alert rules (seed 000 §7: 150% spike, more than 3 refunds a year, 10% for 30 days,
a homeroom teacher far above the campus) and the default texts of the alert message (staff:
inbox, e-mail; staff group robots: webhook), in both languages.

Operations edit both in the admin afterwards; this only adds what is missing.
"""

from decimal import Decimal

from django.db import migrations

# name, kind, scope, threshold, window_days, streak_days, minimum
RULES = [
    ("当日退费申请激增（各校区）", "spike", "campus", Decimal("150"), 28, 1, 5),
    ("当日退费申请激增（全校）", "spike", "school", Decimal("150"), 28, 1, 8),
    ("一年内退费超过 3 次的学员", "high_risk_student", "campus", Decimal("3"), 365, 1, 0),
    ("课程退费率连续 30 天高于 10%", "course_refund_rate", "campus", Decimal("10"), 30, 30, 10),
    ("班主任学员退费率远高于校区", "teacher_refund_rate", "campus", Decimal("2"), 90, 1, 10),
]

TEXTS = {
    "zh-hans": (
        "退费预警：{{ title }}（{{ campus }}）",
        "{{ recipient_name }}，您好：\n\n{{ summary }}\n\n请查看并处理（确认、记录处理结果后关闭）：{{ link }}",
        "【退费预警】{{ title }}：{{ summary }} {{ link }}",
    ),
    "en": (
        "Refund alert: {{ title }} ({{ campus }})",
        "Hello {{ recipient_name }},\n\n{{ summary }}\n\nLook into it, acknowledge it and close it with what was done: "
        "{{ link }}",
        "[Refund alert] {{ title }}: {{ summary }} {{ link }}",
    ),
}


def templates():
    for language, (subject, full, short) in TEXTS.items():
        for channel in ("inbox", "email"):
            yield "analytics.alert", channel, language, subject, full
        yield "analytics.alert", "webhook", language, "", short


def seed(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    existing = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    NotificationTemplate.objects.bulk_create(
        NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
        for event, channel, language, subject, body in templates()
        if (event, channel, language) not in existing
    )


def seed_rules(apps, schema_editor):
    AlertRule = apps.get_model("analytics", "AlertRule")
    if AlertRule.objects.exists():
        return
    AlertRule.objects.bulk_create(
        AlertRule(
            name=name,
            kind=kind,
            scope=scope,
            threshold=threshold,
            window_days=window,
            streak_days=streak,
            minimum=minimum,
        )
        for name, kind, scope, threshold, window, streak, minimum in RULES
    )


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_alerts"),
        ("notifications", "0007_attachments"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(seed_rules, migrations.RunPython.noop),
    ]
