"""Default notification texts: every refund event on every channel, in Chinese and English.

Operations edit them in the admin afterwards; this only adds what is missing.
"""

from django.db import migrations

# event: {language: (subject, full text for inbox / e-mail, short text for SMS / WeChat / robots)}
TEXTS = {
    "refund.submitted": {
        "zh-hans": (
            "您的退费申请已提交（{{ request_no }}）",
            "{{ student_name }}，您好：\n\n我们已收到您对《{{ course }}》（订单 {{ order_no }}）的退费申请，"
            "申请金额 {{ amount }} 元，提交时间 {{ date }}。当前状态：{{ status }}。\n\n"
            "{{ next_steps }}\n查看进度：{{ link }}\n\n如有疑问：{{ contact }}\n感谢您一直以来的信任。",
            "【网校】{{ student_name }}，您对《{{ course }}》的退费申请已提交，金额{{ amount }}元，我们会尽快审核。",
        ),
        "en": (
            "Your refund request {{ request_no }} has been received",
            "Dear {{ student_name }},\n\nWe have received your refund request for \"{{ course }}\" "
            "(order {{ order_no }}) of {{ amount }} yuan, submitted at {{ date }}. Status: {{ status }}.\n\n"
            "{{ next_steps }}\nFollow it here: {{ link }}\n\nQuestions? {{ contact }}\nThank you for your trust.",
            "{{ student_name }}, your refund request for {{ course }} ({{ amount }} yuan) was received.",
        ),
    },
    "refund.assigned": {
        "zh-hans": (
            "待审核：{{ student_name }} 的退费申请 {{ request_no }}",
            "{{ recipient_name }}，您好：\n\n{{ student_name }} 对《{{ course }}》（订单 {{ order_no }}）的退费申请"
            "等待您审核，金额 {{ amount }} 元，请在 {{ deadline }} 前处理。\n申请原因：{{ reason }}\n\n"
            "{{ next_steps }}\n审核入口：{{ link }}",
            "待审核：{{ student_name }}《{{ course }}》退费{{ amount }}元，请于{{ deadline }}前处理。{{ link }}",
        ),
        "en": (
            "To review: refund request {{ request_no }} from {{ student_name }}",
            "Hello {{ recipient_name }},\n\nThe refund request of {{ student_name }} for \"{{ course }}\" "
            "(order {{ order_no }}), {{ amount }} yuan, waits for your review until {{ deadline }}.\n"
            "Reason: {{ reason }}\n\n{{ next_steps }}\nReview it here: {{ link }}",
            "To review: {{ student_name }}, {{ course }}, {{ amount }} yuan, due {{ deadline }}. {{ link }}",
        ),
    },
    "refund.escalated": {
        "zh-hans": (
            "已升级：退费申请 {{ request_no }} 超时未处理",
            "{{ recipient_name }}，您好：\n\n{{ student_name }} 对《{{ course }}》的退费申请（金额 {{ amount }} 元）"
            "已超过审核时限，现已升级处理。\n申请原因：{{ reason }}\n\n{{ next_steps }}\n审核入口：{{ link }}",
            "退费申请{{ request_no }}已超时升级，{{ student_name }}《{{ course }}》{{ amount }}元，请尽快处理。",
        ),
        "en": (
            "Escalated: refund request {{ request_no }} is overdue",
            "Hello {{ recipient_name }},\n\nThe refund request of {{ student_name }} for \"{{ course }}\" "
            "({{ amount }} yuan) passed its review deadline and has been escalated.\nReason: {{ reason }}\n\n"
            "{{ next_steps }}\nReview it here: {{ link }}",
            "Escalated: refund {{ request_no }} of {{ student_name }} ({{ amount }} yuan) is overdue.",
        ),
    },
    "refund.returned": {
        "zh-hans": (
            "请补充材料：退费申请 {{ request_no }}",
            "{{ student_name }}，您好：\n\n为了尽快处理您对《{{ course }}》的退费申请，还需要您补充以下信息：\n"
            "{{ reason }}\n\n请在 {{ deadline }} 前补充，逾期申请将自动撤销。\n{{ next_steps }}\n补充入口：{{ link }}\n\n"
            "如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，您的退费申请需补充材料：{{ reason }}，请于{{ deadline }}前补充。",
        ),
        "en": (
            "More information needed for refund request {{ request_no }}",
            "Dear {{ student_name }},\n\nTo handle your refund request for \"{{ course }}\" we still need:\n"
            "{{ reason }}\n\nPlease add it by {{ deadline }}; after that the request is cancelled.\n"
            "{{ next_steps }}\nAdd it here: {{ link }}\n\nQuestions? {{ contact }}",
            "{{ student_name }}, your refund request needs: {{ reason }}. Please add it by {{ deadline }}.",
        ),
    },
    "refund.approved": {
        "zh-hans": (
            "退费申请已通过：{{ amount }} 元",
            "{{ student_name }}，您好：\n\n您对《{{ course }}》（订单 {{ order_no }}）的退费申请已审核通过，"
            "退款金额 {{ amount }} 元。\n预计到账：{{ arrival }}\n\n{{ next_steps }}\n查看详情：{{ link }}\n\n"
            "如有疑问：{{ contact }}\n感谢您曾选择我们，期待未来再次相见。",
            "【网校】{{ student_name }}，您的退费申请已通过，金额{{ amount }}元。{{ arrival }}",
        ),
        "en": (
            "Refund approved: {{ amount }} yuan",
            "Dear {{ student_name }},\n\nYour refund request for \"{{ course }}\" (order {{ order_no }}) has been "
            "approved for {{ amount }} yuan.\nExpected arrival: {{ arrival }}\n\n{{ next_steps }}\n"
            "Details: {{ link }}\n\nQuestions? {{ contact }}\nThank you for having chosen us.",
            "{{ student_name }}, your refund of {{ amount }} yuan is approved. {{ arrival }}",
        ),
    },
    "refund.rejected": {
        "zh-hans": (
            "关于您的退费申请 {{ request_no }} 的审核结果",
            "{{ student_name }}，您好：\n\n很抱歉，您对《{{ course }}》（订单 {{ order_no }}）的退费申请未能通过。\n"
            "原因：{{ reason }}\n\n{% if deadline %}如对结果有异议，您可以在 {{ deadline }} 前在申请页面提出一次申诉。"
            "{% else %}{{ next_steps }}{% endif %}\n查看详情：{{ link }}\n\n如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，您的退费申请未通过：{{ reason }}。{% if deadline %}可于{{ deadline }}前申诉。{% endif %}",
        ),
        "en": (
            "About your refund request {{ request_no }}",
            "Dear {{ student_name }},\n\nWe are sorry: your refund request for \"{{ course }}\" "
            "(order {{ order_no }}) was not approved.\nReason: {{ reason }}\n\n"
            "{% if deadline %}If you disagree you may appeal once on the request page before {{ deadline }}."
            "{% else %}{{ next_steps }}{% endif %}\nDetails: {{ link }}\n\nQuestions? {{ contact }}",
            "{{ student_name }}, your refund request was not approved: {{ reason }}."
            "{% if deadline %} Appeal by {{ deadline }}.{% endif %}",
        ),
    },
    "refund.cancelled": {
        "zh-hans": (
            "退费申请 {{ request_no }} 已撤销",
            "{{ student_name }}，您好：\n\n您对《{{ course }}》（订单 {{ order_no }}）的退费申请已撤销。{{ reason }}\n\n"
            "{{ next_steps }}\n如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，您对《{{ course }}》的退费申请已撤销。{{ reason }}",
        ),
        "en": (
            "Refund request {{ request_no }} cancelled",
            "Dear {{ student_name }},\n\nYour refund request for \"{{ course }}\" (order {{ order_no }}) is "
            "cancelled. {{ reason }}\n\n{{ next_steps }}\nQuestions? {{ contact }}",
            "{{ student_name }}, your refund request for {{ course }} is cancelled. {{ reason }}",
        ),
    },
    "refund.appealed": {
        "zh-hans": (
            "已收到您的申诉（{{ request_no }}）",
            "{{ student_name }}，您好：\n\n我们已收到您对《{{ course }}》退费结果的申诉。\n申诉理由：{{ reason }}\n\n"
            "{{ next_steps }}\n查看进度：{{ link }}\n\n如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，已收到您的退费申诉，我们会重新审核，请留意消息。",
        ),
        "en": (
            "We received your appeal ({{ request_no }})",
            "Dear {{ student_name }},\n\nWe received your appeal about the refund for \"{{ course }}\".\n"
            "Your reason: {{ reason }}\n\n{{ next_steps }}\nFollow it here: {{ link }}\n\nQuestions? {{ contact }}",
            "{{ student_name }}, we received your appeal and will review the request again.",
        ),
    },
    "refund.payout_succeeded": {
        "zh-hans": (
            "退款已到账：{{ amount }} 元",
            "{{ student_name }}，您好：\n\n您对《{{ course }}》（订单 {{ order_no }}）的退款 {{ amount }} 元"
            "已通过{{ channel }}原路退回，预计到账：{{ arrival }}。\n\n{{ next_steps }}\n电子凭证：{{ link }}\n\n"
            "如有疑问：{{ contact }}\n感谢您曾选择我们，欢迎随时回来学习。",
            "【网校】{{ student_name }}，退款{{ amount }}元已通过{{ channel }}退回，预计{{ arrival }}到账。",
        ),
        "en": (
            "Refund paid: {{ amount }} yuan",
            "Dear {{ student_name }},\n\nThe refund of {{ amount }} yuan for \"{{ course }}\" (order {{ order_no }}) "
            "has been paid back through {{ channel }}; expected arrival: {{ arrival }}.\n\n{{ next_steps }}\n"
            "Receipt: {{ link }}\n\nQuestions? {{ contact }}\nThank you, and welcome back any time.",
            "{{ student_name }}, {{ amount }} yuan refunded via {{ channel }}, arriving {{ arrival }}.",
        ),
    },
    "refund.payout_failed": {
        "zh-hans": (
            "退款失败：{{ request_no }}（{{ amount }} 元）",
            "{{ recipient_name }}，您好：\n\n{{ student_name }} 的退款 {{ amount }} 元（{{ channel }}，订单 {{ order_no }}）"
            "支付失败。\n原因：{{ reason }}\n\n{{ next_steps }}\n处理入口：{{ link }}",
            "退款失败：{{ request_no }} {{ amount }}元（{{ channel }}）：{{ reason }}，请处理。",
        ),
        "en": (
            "Refund payment failed: {{ request_no }} ({{ amount }} yuan)",
            "Hello {{ recipient_name }},\n\nThe refund of {{ amount }} yuan to {{ student_name }} ({{ channel }}, "
            "order {{ order_no }}) failed.\nReason: {{ reason }}\n\n{{ next_steps }}\nHandle it here: {{ link }}",
            "Refund failed: {{ request_no }} {{ amount }} yuan ({{ channel }}): {{ reason }}.",
        ),
    },
}

CALL_NOTE = {
    "zh-hans": "请致电学员确认：{{ student_name }}《{{ course }}》（订单 {{ order_no }}）—— ",
    "en": "Please call the student to confirm: {{ student_name }}, {{ course }} (order {{ order_no }}) — ",
}
CHANNELS = ("inbox", "email", "sms", "wechat", "webhook", "call_task")


def templates():
    for event, languages in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            for channel in CHANNELS:
                if channel in ("inbox", "email"):
                    yield event, channel, language, subject, full
                elif channel == "call_task":
                    yield event, channel, language, subject, CALL_NOTE[language] + short
                elif channel == "sms":  # SMS parameters are short: no links
                    yield event, channel, language, "", short.replace(" {{ link }}", "").replace("{{ link }}", "")
                else:
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
    dependencies = [("notifications", "0002_outbox")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
