"""The default texts of the ticket messages, in both languages: the student's (inbox, e-mail,
SMS) and staff's (inbox, e-mail; escalations also to staff group robots). Operations edit them in
the admin afterwards; this only adds what is missing."""

from django.db import migrations

STUDENT = ("inbox", "email", "sms")
STAFF = ("inbox", "email")

# event: {language: (subject, full text, SMS or robot text)}
TEXTS = {
    "ticket.received": {
        "zh-hans": (
            "已收到您的工单 {{ ticket_no }}",
            "{{ recipient_name }}，您好：\n\n我们已收到您的工单「{{ subject }}」（{{ category }}），编号 {{ ticket_no }}。"
            "\n{{ expected }}\n\n查看进度或补充说明：{{ link }}\n\n{{ contact }}",
            "【网校客服】已收到您的工单 {{ ticket_no }}，我们会在 {{ due }} 前回复您。",
        ),
        "en": (
            "We received your ticket {{ ticket_no }}",
            "Hello {{ recipient_name }},\n\nWe received your ticket \"{{ subject }}\" ({{ category }}), number "
            "{{ ticket_no }}.\n{{ expected }}\n\nFollow it or add details: {{ link }}\n\n{{ contact }}",
            "[School service] Ticket {{ ticket_no }} received; we will answer by {{ due }}.",
        ),
    },
    "ticket.replied": {
        "zh-hans": (
            "客服回复了您的工单 {{ ticket_no }}",
            "{{ recipient_name }}，您好：\n\n关于「{{ subject }}」，客服回复：\n{{ message }}\n\n查看并回复：{{ link }}"
            "\n\n{{ contact }}",
            "【网校客服】您的工单 {{ ticket_no }} 有新回复，请到个人中心“我的工单”查看。",
        ),
        "en": (
            "We answered your ticket {{ ticket_no }}",
            "Hello {{ recipient_name }},\n\nAbout \"{{ subject }}\", we wrote:\n{{ message }}\n\nRead and reply: {{ link }}"
            "\n\n{{ contact }}",
            "[School service] New reply on ticket {{ ticket_no }}: see My tickets in your personal center.",
        ),
    },
    "ticket.resolved": {
        "zh-hans": (
            "您的工单 {{ ticket_no }} 已处理完毕",
            "{{ recipient_name }}，您好：\n\n关于「{{ subject }}」，处理结果：\n{{ solution }}\n\n"
            "请在工单页为本次服务打分（1–5 星）；如仍有疑问，直接在工单中回复，工单会重新打开：{{ link }}\n\n{{ contact }}",
            "【网校客服】您的工单 {{ ticket_no }} 已处理完毕，请到个人中心“我的工单”查看结果。",
        ),
        "en": (
            "Your ticket {{ ticket_no }} is resolved",
            "Hello {{ recipient_name }},\n\nAbout \"{{ subject }}\", the outcome:\n{{ solution }}\n\n"
            "Please rate our service (1–5 stars) on the ticket's page; if anything is still unclear, reply there and "
            "the ticket opens again: {{ link }}\n\n{{ contact }}",
            "[School service] Ticket {{ ticket_no }} is resolved: see My tickets in your personal center.",
        ),
    },
    "ticket.assigned": {
        "zh-hans": (
            "新工单待处理：{{ ticket_no }}",
            "{{ recipient_name }}，您好：\n\n学员 {{ student_name }} 的工单「{{ subject }}」（{{ category }}，{{ priority }}）"
            "由您处理，请在 {{ due }} 前回复。\n\n打开工单：{{ link }}",
            "",
        ),
        "en": (
            "New ticket for you: {{ ticket_no }}",
            "Hello {{ recipient_name }},\n\n{{ student_name }}'s ticket \"{{ subject }}\" ({{ category }}, {{ priority }}) "
            "is yours; reply by {{ due }}.\n\nOpen it: {{ link }}",
            "",
        ),
    },
    "ticket.student_wrote": {
        "zh-hans": (
            "学员回复了工单 {{ ticket_no }}",
            "{{ recipient_name }}，您好：\n\n学员 {{ student_name }} 在工单「{{ subject }}」中写道：\n{{ message }}\n\n"
            "请在 {{ due }} 前回复：{{ link }}",
            "",
        ),
        "en": (
            "The student wrote on ticket {{ ticket_no }}",
            "Hello {{ recipient_name }},\n\n{{ student_name }} wrote on \"{{ subject }}\":\n{{ message }}\n\n"
            "Reply by {{ due }}: {{ link }}",
            "",
        ),
    },
    "ticket.escalated": {
        "zh-hans": (
            "工单升级（{{ level }}）：{{ ticket_no }}",
            "{{ recipient_name }}，您好：\n\n工单「{{ subject }}」（{{ category }}）已升级至 {{ level }}：{{ state }}"
            "（时限 {{ due }}），当前处理人：{{ owner }}。\n\n请跟进：{{ link }}",
            "【工单升级 {{ level }}】{{ ticket_no }}「{{ subject }}」：{{ state }}，处理人 {{ owner }}。{{ link }}",
        ),
        "en": (
            "Ticket escalated ({{ level }}): {{ ticket_no }}",
            "Hello {{ recipient_name }},\n\nThe ticket \"{{ subject }}\" ({{ category }}) is escalated to {{ level }}: "
            "{{ state }} (deadline {{ due }}); owner: {{ owner }}.\n\nFollow it up: {{ link }}",
            "[Ticket escalated, {{ level }}] {{ ticket_no }} \"{{ subject }}\": {{ state }}; owner {{ owner }}. {{ link }}",
        ),
    },
}
STUDENT_EVENTS = {"ticket.received", "ticket.replied", "ticket.resolved"}


def templates():
    for event, languages in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            for channel in STUDENT if event in STUDENT_EVENTS else STAFF:
                yield event, channel, language, ("" if channel == "sms" else subject), (short if channel == "sms" else full)
            if event == "ticket.escalated":
                yield event, "webhook", language, "", short


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
        ("servicedesk", "0001_initial"),
        ("notifications", "0007_attachments"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
