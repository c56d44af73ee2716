"""Two changes to the shipped refund texts.

1. A contract course (精品课) has no amount until the reviewer sets it: ``amount`` then says so
   ("金额由审核人按合同确定") and ``by_contract`` is "1". The shipped texts of the events told before
   that (submitted, assigned, escalated) say it in their own words instead of "申请金额 … 元". A
   text is updated only where it still equals the text 0003 shipped: one operations edited is
   left as they wrote it.
2. ``refund.advanced``: the student hears that one review step passed her request and which one
   decides next, by when; every channel in both languages (only what is missing is added).
"""

import importlib

from django.db import migrations

# Where the shipped texts name the amount, and what they say instead, in the full texts (inbox,
# e-mail: ``by_contract`` chooses the words) and the short ones (SMS, WeChat, robots, call tasks:
# ``amount_words``, never empty, as WeChat wants every field filled).
# {event: {language: {"full": [(old, new)], "short": [(old, new)]}}}
CONTRACT_WORDING = {
    "refund.submitted": {
        "zh-hans": {
            "full": [
                (
                    "申请金额 {{ amount }} 元，",
                    "{% if by_contract %}退费金额由审核人按合同确定，审核通过时我们会告知您确定的金额，"
                    "{% else %}申请金额 {{ amount }} 元，{% endif %}",
                ),
            ],
            "short": [("金额{{ amount }}元，", "{{ amount_words }}，")],
        },
        "en": {
            "full": [
                (
                    "of {{ amount }} yuan, submitted",
                    "{% if by_contract %}(the amount is set by the reviewer under your contract; we tell you the "
                    "amount when it is approved){% else %}of {{ amount }} yuan{% endif %}, submitted",
                ),
            ],
            "short": [("({{ amount }} yuan)", "({{ amount_words }})")],
        },
    },
    "refund.assigned": {
        "zh-hans": {
            "full": [
                (
                    "金额 {{ amount }} 元，请在",
                    "{% if by_contract %}金额需您按合同确定，{% else %}金额 {{ amount }} 元，{% endif %}请在",
                ),
            ],
            "short": [("退费{{ amount }}元，", "退费，{{ amount_words }}，")],
        },
        "en": {
            "full": [
                (
                    "), {{ amount }} yuan, waits",
                    "), {% if by_contract %}amount to set under the contract{% else %}{{ amount }} yuan{% endif %}, "
                    "waits",
                ),
            ],
            "short": [(", {{ amount }} yuan, due", ", {{ amount_words }}, due")],
        },
    },
    "refund.escalated": {
        "zh-hans": {
            "full": [
                (
                    "（金额 {{ amount }} 元）",
                    "{% if by_contract %}（金额按合同确定）{% else %}（金额 {{ amount }} 元）{% endif %}",
                ),
            ],
            "short": [("》{{ amount }}元，", "》{{ amount_words }}，")],
        },
        "en": {
            "full": [
                (
                    "({{ amount }} yuan)",
                    "({% if by_contract %}amount by contract{% else %}{{ amount }} yuan{% endif %})",
                ),
            ],
            "short": [("({{ amount }} yuan)", "({{ amount_words }})")],
        },
    },
}

CHANNELS = ("inbox", "email", "sms", "wechat", "webhook", "call_task")
CALL_NOTE = {
    "zh-hans": "请致电学员说明：{{ student_name }}《{{ course }}》（订单 {{ order_no }}）—— ",
    "en": "Please call the student to explain: {{ student_name }}, {{ course }} (order {{ order_no }}) — ",
}

# event: {language: (subject, full text for inbox / e-mail, short text for SMS / WeChat)}
TEXTS = {
    "refund.advanced": {
        "zh-hans": (
            "您的退费申请已进入下一步审核（{{ request_no }}）",
            "{{ student_name }}，您好：\n\n您对《{{ course }}》（订单 {{ order_no }}）的退费申请已通过{{ passed_tier }}，"
            "现进入{{ next_tier }}，预计 {{ deadline }} 前处理。\n"
            "{% if by_contract %}退费金额由审核人按合同确定，审核通过时我们会告知您确定的金额。"
            "{% else %}申请金额 {{ amount }} 元。{% endif %}\n\n"
            "{{ next_steps }}\n查看进度：{{ link }}\n\n如有疑问：{{ contact }}",
            "【网校】{{ student_name }}，您的退费申请已通过{{ passed_tier }}，进入{{ next_tier }}，预计{{ deadline }}前处理。",
        ),
        "en": (
            "Your refund request {{ request_no }} moved to the next review",
            'Dear {{ student_name }},\n\nYour refund request for "{{ course }}" (order {{ order_no }}) has passed '
            "the {{ passed_tier }} and is now with the {{ next_tier }}, to be decided by {{ deadline }}.\n"
            "{% if by_contract %}The amount is set by the reviewer under your contract; we tell you the amount "
            "when the request is approved.{% else %}Amount asked: {{ amount }} yuan.{% endif %}\n\n"
            "{{ next_steps }}\nFollow it here: {{ link }}\n\nQuestions? {{ contact }}",
            "{{ student_name }}, your refund request passed the {{ passed_tier }}; the {{ next_tier }} decides it "
            "by {{ deadline }}.",
        ),
    },
}


def _reworded(event, channel, language, text):
    kind = "full" if channel in ("inbox", "email") else "short"
    for old, new in CONTRACT_WORDING.get(event, {}).get(language, {}).get(kind, []):
        text = text.replace(old, new)
    return text


def templates():
    """Every channel in both languages, like every refund event (only the student's are used: the
    event goes to nobody else)."""
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
    shipped = importlib.import_module("notifications.migrations.0003_default_templates")
    for event, channel, language, subject, body in shipped.templates():
        if event not in CONTRACT_WORDING:
            continue
        new_subject = _reworded(event, channel, language, subject)
        new_body = _reworded(event, channel, language, body)
        if (new_subject, new_body) == (subject, body):
            continue
        NotificationTemplate.objects.filter(
            event=event, channel=channel, language=language, subject=subject, body=body
        ).update(subject=new_subject, body=new_body)
    existing = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    NotificationTemplate.objects.bulk_create(
        NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
        for event, channel, language, subject, body in templates()
        if (event, channel, language) not in existing
    )


def unseed(apps, schema_editor):
    """Put the shipped texts back where they still read as this migration left them."""
    NotificationTemplate = apps.get_model("notifications", "NotificationTemplate")
    shipped = importlib.import_module("notifications.migrations.0003_default_templates")
    for event, channel, language, subject, body in shipped.templates():
        if event not in CONTRACT_WORDING:
            continue
        NotificationTemplate.objects.filter(
            event=event,
            channel=channel,
            language=language,
            subject=_reworded(event, channel, language, subject),
            body=_reworded(event, channel, language, body),
        ).update(subject=subject, body=body)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0008_exchange_templates")]

    operations = [migrations.RunPython(seed, unseed)]
