"""The weekly review: its model, and the default texts of its notification (campus heads and
operations, inbox and e-mail; the e-mail carries the PDF). Operations edit the texts in the admin
afterwards; the seed only adds what is missing.
"""

import analytics.models
import django.core.serializers.json
import django.db.models.deletion
from django.db import migrations, models


CHANNELS = ("inbox", "email")

# event: {language: (subject, text)}
TEXTS = {
    "analytics.weekly_review": {
        "zh-hans": (
            "退费周报：{{ scope }} {{ week }}",
            "{{ recipient_name }}，您好：\n\n{{ scope }}上周（{{ week }}）的退费复盘已生成，与前一周（{{ previous_week }}）对比："
            "\n退费申请 {{ applications }} 件（前一周 {{ previous_applications }} 件），审批通过率 {{ approval_rate }}，"
            "退款金额 {{ refunded_amount }} 元，退费占收入 {{ refund_ratio }}。\n\n"
            "完整周报（含图表）见附件 PDF，也可在后台查看：{{ link }}",
        ),
        "en": (
            "Weekly refund review: {{ scope }} {{ week }}",
            "Hello {{ recipient_name }},\n\nThe refund review of {{ scope }} for last week ({{ week }}), against the "
            "week before ({{ previous_week }}), is ready:\n{{ applications }} applications (the week before: "
            "{{ previous_applications }}), approval rate {{ approval_rate }}, {{ refunded_amount }} yuan refunded, "
            "refunds {{ refund_ratio }} of revenue.\n\nThe whole review, with its charts, is the attached PDF; "
            "it is also in the admin: {{ link }}",
        ),
    },
}


def templates():
    for event, languages in TEXTS.items():
        for language, (subject, body) in languages.items():
            for channel in CHANNELS:
                yield event, channel, language, subject, body


def seed(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    existing = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    NotificationTemplate.objects.bulk_create(
        NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
        for event, channel, language, subject, body in templates()
        if (event, channel, language) not in existing
    )


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("notifications", "0007_attachments"),
        ("schoolops", "0002_staff_role_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="WeeklyReview",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("week_start", models.DateField(verbose_name="week of (Monday)")),
                (
                    "figures",
                    models.JSONField(encoder=django.core.serializers.json.DjangoJSONEncoder, verbose_name="figures"),
                ),
                (
                    "pdf",
                    models.FileField(
                        max_length=200, upload_to=analytics.models.weekly_review_upload_to, verbose_name="PDF"
                    ),
                ),
                ("sha256", models.CharField(max_length=64, verbose_name="SHA-256 of the PDF")),
                ("created_at", models.DateTimeField(verbose_name="created at")),
                (
                    "campus",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: the whole school.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="schoolops.campus",
                        verbose_name="campus",
                    ),
                ),
            ],
            options={
                "verbose_name": "weekly review",
                "verbose_name_plural": "weekly reviews",
                "ordering": ["-week_start", "campus__code"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("campus", "week_start"),
                        name="weeklyreview_one_per_scope_and_week",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
