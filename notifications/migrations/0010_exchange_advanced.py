"""``exchange.advanced``: the student hears that one review step passed her course exchange and which
one decides next, by when (as ``refund.advanced`` does for a refund); every channel in both languages,
only what is missing is added."""

from django.db import migrations

# event: {language: (subject, full text for inbox / e-mail, short text for SMS / WeChat)}
TEXTS = {
    "exchange.advanced": {
        "zh-hans": (
            "您的换课申请已进入下一步审核（{{ request_no }}）",
            "{{ student_name }}，您好：\n\n您由《{{ course }}》（订单 {{ order_no }}）换至《{{ new_course }}》的换课申请"
            "已通过{{ passed_tier }}，现进入{{ next_tier }}，预计 {{ deadline }} 前处理。\n差额：{{ difference }}。\n\n"
            "{{ next_steps }}\n查看进度：{{ link }}\n\n如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，您的换课申请已通过{{ passed_tier }}，进入{{ next_tier }}，预计{{ deadline }}前处理。",
        ),
        "en": (
            "Your course exchange {{ request_no }} moved to the next review",
            'Dear {{ student_name }},\n\nYour request to move from "{{ course }}" (order {{ order_no }}) to '
            '"{{ new_course }}" has passed the {{ passed_tier }} and is now with the {{ next_tier }}, to be decided '
            "by {{ deadline }}.\nDifference: {{ difference }}.\n\n"
            "{{ next_steps }}\nFollow it here: {{ link }}\n\nQuestions? {{ contact }}",
            "{{ student_name }}, your course exchange passed the {{ passed_tier }}; the {{ next_tier }} decides it "
            "by {{ deadline }}.",
        ),
    },
}


def templates():
    """The student's channels (as 0008 seeds every student event of an exchange: no call task for
    this one), in both languages."""
    for event, languages in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            yield event, "inbox", language, subject, full
            yield event, "email", language, subject, full
            yield event, "sms", language, "", short
            yield event, "wechat", language, "", short


def seed(apps, schema_editor):
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    existing = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    NotificationTemplate.objects.bulk_create(
        NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
        for event, channel, language, subject, body in templates()
        if (event, channel, language) not in existing
    )


def unseed(apps, schema_editor):
    apps.get_model("notifications", "NotificationTemplate").objects.filter(event__in=list(TEXTS)).delete()


class Migration(migrations.Migration):
    dependencies = [("notifications", "0009_contract_amount_and_advanced")]

    operations = [migrations.RunPython(seed, unseed)]
