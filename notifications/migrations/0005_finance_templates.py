"""Default texts of finance's events: statement differences and ready exports (staff, inbox and
e-mail), paper receipts asked for (finance) and mailed (the student, every channel).

Operations edit them in the admin afterwards; this only adds what is missing.
"""

from django.db import migrations

STAFF_CHANNELS = ("inbox", "email")
STUDENT_CHANNELS = ("inbox", "email", "sms", "wechat")

# event: {language: (subject, full text, short text)}, channels
TEXTS = {
    "finance.reconciliation_mismatch": (
        {
            "zh-hans": (
                "对账差异：{{ channel }} {{ date }}",
                "{{ recipient_name }}，您好：\n\n{{ channel }} {{ date }} 的对账单已核对，发现差异：{{ reason }}。"
                "\n对账单退款合计 {{ amount }} 元。\n\n请逐笔核查：{{ link }}",
                "{{ channel }} {{ date }} 对账差异：{{ reason }}。",
            ),
            "en": (
                "Statement differences: {{ channel }} {{ date }}",
                "Hello {{ recipient_name }},\n\nThe {{ channel }} statement of {{ date }} was reconciled and shows "
                "differences: {{ reason }}.\nRefunds on the statement: {{ amount }} yuan.\n\n"
                "Check each row: {{ link }}",
                "{{ channel }} statement {{ date }}: {{ reason }}.",
            ),
        },
        STAFF_CHANNELS,
    ),
    "finance.paper_copy_requested": (
        {
            "zh-hans": (
                "纸质退款凭证申请：{{ request_no }}",
                "{{ recipient_name }}，您好：\n\n学员 {{ student_name }} 申请邮寄盖章的纸质退款凭证"
                "（《{{ course }}》，订单 {{ order_no }}，申请 {{ request_no }}）。\n邮寄信息：{{ reason }}\n\n"
                "请打印、盖章并寄出后登记快递单号：{{ link }}",
                "{{ student_name }} 申请纸质退款凭证（{{ request_no }}），请处理。",
            ),
            "en": (
                "Paper refund receipt requested: {{ request_no }}",
                "Hello {{ recipient_name }},\n\n{{ student_name }} asks for a stamped paper copy of the refund "
                'receipt ("{{ course }}", order {{ order_no }}, request {{ request_no }}).\nMail to: {{ reason }}\n\n'
                "Print, stamp and mail it, then record the tracking number: {{ link }}",
                "{{ student_name }} asks for a paper receipt ({{ request_no }}).",
            ),
        },
        STAFF_CHANNELS,
    ),
    "finance.paper_copy_mailed": (
        {
            "zh-hans": (
                "您的纸质退款凭证已寄出",
                "{{ student_name }}，您好：\n\n您申请的《{{ course }}》（订单 {{ order_no }}）盖章纸质退款凭证已寄出，"
                "快递：{{ reason }}。\n\n查看退款详情：{{ link }}\n如有疑问：{{ contact }}",
                "【网校】{{ student_name }}，您的纸质退款凭证已寄出，快递：{{ reason }}。",
            ),
            "en": (
                "Your paper refund receipt is in the mail",
                'Dear {{ student_name }},\n\nThe stamped paper receipt of your refund for "{{ course }}" '
                "(order {{ order_no }}) has been mailed: {{ reason }}.\n\nYour refund: {{ link }}\n"
                "Questions: {{ contact }}",
                "{{ student_name }}, your paper refund receipt has been mailed: {{ reason }}.",
            ),
        },
        STUDENT_CHANNELS,
    ),
    "finance.export_ready": (
        {
            "zh-hans": (
                "报表已生成：{{ reason }}",
                "{{ recipient_name }}，您好：\n\n您于 {{ date }} 申请的报表已生成：{{ reason }}。\n\n下载：{{ link }}",
                "报表已生成：{{ reason }}。",
            ),
            "en": (
                "Your export is ready: {{ reason }}",
                "Hello {{ recipient_name }},\n\nThe export you asked for on {{ date }} is ready: {{ reason }}.\n\n"
                "Download: {{ link }}",
                "Your export is ready: {{ reason }}.",
            ),
        },
        STAFF_CHANNELS,
    ),
}


def templates():
    for event, (languages, channels) in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            for channel in channels:
                if channel in ("inbox", "email"):
                    yield event, channel, language, subject, full
                else:  # SMS and WeChat fields are short and carry no links
                    yield event, channel, language, "", short


def seed(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    existing = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    NotificationTemplate.objects.bulk_create(
        NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
        for event, channel, language, subject, body in templates()
        if (event, channel, language) not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0004_staff_webhooks")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
