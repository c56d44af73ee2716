"""The weekly review's e-mail and inbox message gain the student-service part (``{{ service }}``:
the homeroom teachers' service metrics of the week). Only the shipped texts are changed: a text
operations have edited keeps their words (they may add the placeholder in the admin).
"""

from django.db import migrations

EVENT = "analytics.weekly_review"

# language: (the text shipped by 0002, the text with the service part)
TEXTS = {
    "zh-hans": (
        "{{ recipient_name }}，您好：\n\n{{ scope }}上周（{{ week }}）的退费复盘已生成，与前一周（{{ previous_week }}）对比："
        "\n退费申请 {{ applications }} 件（前一周 {{ previous_applications }} 件），审批通过率 {{ approval_rate }}，"
        "退款金额 {{ refunded_amount }} 元，退费占收入 {{ refund_ratio }}。\n\n"
        "完整周报（含图表）见附件 PDF，也可在后台查看：{{ link }}",
        "{{ recipient_name }}，您好：\n\n{{ scope }}上周（{{ week }}）的退费复盘已生成，与前一周（{{ previous_week }}）对比："
        "\n退费申请 {{ applications }} 件（前一周 {{ previous_applications }} 件），审批通过率 {{ approval_rate }}，"
        "退款金额 {{ refunded_amount }} 元，退费占收入 {{ refund_ratio }}。\n\n"
        "{% if service %}{{ service }}\n\n{% endif %}"
        "完整周报（含图表）见附件 PDF，也可在后台查看：{{ link }}",
    ),
    "en": (
        "Hello {{ recipient_name }},\n\nThe refund review of {{ scope }} for last week ({{ week }}), against the "
        "week before ({{ previous_week }}), is ready:\n{{ applications }} applications (the week before: "
        "{{ previous_applications }}), approval rate {{ approval_rate }}, {{ refunded_amount }} yuan refunded, "
        "refunds {{ refund_ratio }} of revenue.\n\nThe whole review, with its charts, is the attached PDF; "
        "it is also in the admin: {{ link }}",
        "Hello {{ recipient_name }},\n\nThe refund review of {{ scope }} for last week ({{ week }}), against the "
        "week before ({{ previous_week }}), is ready:\n{{ applications }} applications (the week before: "
        "{{ previous_applications }}), approval rate {{ approval_rate }}, {{ refunded_amount }} yuan refunded, "
        "refunds {{ refund_ratio }} of revenue.\n\n{% if service %}{{ service }}\n\n{% endif %}"
        "The whole review, with its charts, is the attached PDF; it is also in the admin: {{ link }}",
    ),
}


def seed(apps, schema_editor):
    """Put the service part into the shipped texts (the tests' reseed calls this too)."""
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for language, (shipped, new) in TEXTS.items():
        NotificationTemplate.objects.filter(event=EVENT, language=language, body=shipped).update(body=new)


def unseed(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    for language, (shipped, new) in TEXTS.items():
        NotificationTemplate.objects.filter(event=EVENT, language=language, body=new).update(body=shipped)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0005_daily_rollup"),
        ("notifications", "0007_attachments"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
