"""Default texts of two refund events, on every channel in both languages like every refund event: a
request closed with nothing to pay (told to the student) and a payout whose outcome needs a check at
the gateway (told to finance and the staff robots).

Operations edit them in the admin afterwards; this only adds what is missing.
"""

from django.db import migrations

CHANNELS = ("inbox", "email", "sms", "wechat", "webhook", "call_task")

CALL_NOTE = {
    "zh-hans": "请致电学员说明：{{ student_name }}《{{ course }}》（订单 {{ order_no }}）—— ",
    "en": "Please call the student to explain: {{ student_name }}, {{ course }} (order {{ order_no }}) — ",
}

# event: {language: (subject, full text, short text)}
TEXTS = {
    "refund.closed": {
        "zh-hans": (
            "退费申请已结束（{{ request_no }}）",
            "{{ student_name }}，您好：\n\n您对《{{ course }}》（订单 {{ order_no }}）的退费申请已审核完毕：{{ reason }}，"
            "因此不会发生退款，申请已结束。\n\n{{ next_steps }}\n查看详情：{{ link }}\n\n如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，您对《{{ course }}》的退费申请已结束：{{ reason }}，不会发生退款。",
        ),
        "en": (
            "Your refund request {{ request_no }} is closed",
            'Dear {{ student_name }},\n\nYour refund request for "{{ course }}" (order {{ order_no }}) has been '
            "reviewed: {{ reason }}, so no money will be paid back and the request is closed.\n\n"
            "{{ next_steps }}\nDetails: {{ link }}\n\nQuestions? {{ contact }}",
            "{{ student_name }}, your refund request for {{ course }} is closed: {{ reason }}. Nothing is paid back.",
        ),
    },
    "refund.payout_needs_check": {
        "zh-hans": (
            "退款待人工核实：{{ request_no }}（{{ amount }} 元）",
            "{{ recipient_name }}，您好：\n\n{{ student_name }} 的退款 {{ amount }} 元（{{ channel }}，订单 {{ order_no }}）"
            "需要到支付平台人工核实。\n原因：{{ reason }}\n\n{{ next_steps }}\n处理入口：{{ link }}",
            "退款待核实：{{ request_no }} {{ amount }}元（{{ channel }}）：{{ reason }}。请到支付平台核实，勿以新单号重退。",
        ),
        "en": (
            "Refund payment to check: {{ request_no }} ({{ amount }} yuan)",
            "Hello {{ recipient_name }},\n\nThe refund of {{ amount }} yuan to {{ student_name }} ({{ channel }}, "
            "order {{ order_no }}) needs a check at the gateway.\nWhy: {{ reason }}\n\n"
            "{{ next_steps }}\nHandle it here: {{ link }}",
            "Refund to check: {{ request_no }} {{ amount }} yuan ({{ channel }}): {{ reason }}. Do not resend it.",
        ),
    },
}


def templates():
    for event, languages in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            for channel in CHANNELS:
                if channel in ("inbox", "email"):
                    yield event, channel, language, subject, full
                elif channel == "call_task":
                    yield event, channel, language, subject, CALL_NOTE[language] + short
                else:  # SMS, WeChat and robots: short, no links
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
    dependencies = [("notifications", "0005_finance_templates")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
