"""Default texts of the course exchange (换课) events, in Chinese and English, on the channels of
their refund counterparts: the student's events on inbox, e-mail, SMS and WeChat (and a call task
for the account manager where the refund event has one), the staff's on inbox and e-mail and the
staff group robots. Also the exchange's own messages (``exchanges.notices``): the student told it
is complete (inbox, e-mail, SMS) and her homeroom teachers told she moved (inbox, e-mail).

Operations edit them in the admin afterwards; this only adds what is missing.
"""

from django.db import migrations

STUDENT = ("inbox", "email", "sms", "wechat")
STUDENT_CALLED = (*STUDENT, "call_task")  # the refund events that also ask for a call (CALL_TASK_EVENTS)
STAFF_ROBOTS = ("inbox", "email", "webhook")
COMPLETED = ("inbox", "email", "sms")
TEACHERS = ("inbox", "email")

CALL_NOTE = {
    "zh-hans": "请致电学员说明换课进展：{{ student_name }}《{{ course }}》（订单 {{ order_no }}）—— ",
    "en": "Please call the student about the course exchange: {{ student_name }}, {{ course }} (order {{ order_no }}) — ",
}

# event: ({language: (subject, full text for inbox / e-mail, short text for SMS / WeChat / robots)}, channels)
TEXTS = {
    "exchange.submitted": (
        {
            "zh-hans": (
                "您的换课申请已提交（{{ request_no }}）",
                "{{ student_name }}，您好：\n\n我们已收到您的换课申请：由《{{ course }}》（订单 {{ order_no }}）"
                "换至《{{ new_course }}》，提交时间 {{ date }}。\n差额：{{ difference }}。当前状态：{{ status }}。\n\n"
                "{{ next_steps }}\n查看进度：{{ link }}\n\n如有疑问：{{ contact }}\n感谢您的信任，我们会尽快为您处理。",
                "【网校】{{ student_name }}，您由《{{ course }}》换至《{{ new_course }}》的换课申请已提交，我们会尽快审核。",
            ),
            "en": (
                "Your course exchange request {{ request_no }} has been received",
                'Dear {{ student_name }},\n\nWe have received your request to exchange "{{ course }}" '
                '(order {{ order_no }}) for "{{ new_course }}", submitted at {{ date }}.\n'
                "Difference: {{ difference }}. Status: {{ status }}.\n\n{{ next_steps }}\nFollow it here: {{ link }}"
                "\n\nQuestions? {{ contact }}\nThank you for your trust; we will handle it soon.",
                "{{ student_name }}, your request to exchange {{ course }} for {{ new_course }} was received.",
            ),
        },
        STUDENT_CALLED,
    ),
    "exchange.assigned": (
        {
            "zh-hans": (
                "待审核：{{ student_name }} 的换课申请 {{ request_no }}",
                "{{ recipient_name }}，您好：\n\n{{ student_name }} 申请将《{{ course }}》（订单 {{ order_no }}）"
                "换至《{{ new_course }}》，差额：{{ difference }}。该申请等待您审核，请在 {{ deadline }} 前处理。\n"
                "申请原因：{{ reason }}\n\n{{ next_steps }}\n审核入口：{{ link }}",
                "待审核换课：{{ student_name }}《{{ course }}》→《{{ new_course }}》，{{ difference }}，"
                "请于{{ deadline }}前处理。{{ link }}",
            ),
            "en": (
                "To review: course exchange {{ request_no }} from {{ student_name }}",
                'Hello {{ recipient_name }},\n\n{{ student_name }} asks to exchange "{{ course }}" '
                '(order {{ order_no }}) for "{{ new_course }}"; difference: {{ difference }}. It waits for your '
                "review until {{ deadline }}.\nReason: {{ reason }}\n\n{{ next_steps }}\nReview it here: {{ link }}",
                "To review: exchange of {{ student_name }}, {{ course }} → {{ new_course }}, {{ difference }}, "
                "due {{ deadline }}. {{ link }}",
            ),
        },
        STAFF_ROBOTS,
    ),
    "exchange.escalated": (
        {
            "zh-hans": (
                "已升级：换课申请 {{ request_no }} 超时未处理",
                "{{ recipient_name }}，您好：\n\n{{ student_name }} 将《{{ course }}》换至《{{ new_course }}》的换课申请"
                "（差额：{{ difference }}）已超过审核时限，现已升级处理{% if deadline %}，请在 {{ deadline }} 前处理{% endif %}。\n"
                "申请原因：{{ reason }}\n\n{{ next_steps }}\n审核入口：{{ link }}",
                "换课申请{{ request_no }}已超时升级：{{ student_name }}《{{ course }}》→《{{ new_course }}》，请尽快处理。",
            ),
            "en": (
                "Escalated: course exchange {{ request_no }} is overdue",
                "Hello {{ recipient_name }},\n\nThe course exchange request of {{ student_name }} "
                '("{{ course }}" → "{{ new_course }}", difference: {{ difference }}) passed its review deadline and '
                "has been escalated{% if deadline %}; please decide it by {{ deadline }}{% endif %}.\n"
                "Reason: {{ reason }}\n\n{{ next_steps }}\nReview it here: {{ link }}",
                "Escalated: exchange {{ request_no }} of {{ student_name }} ({{ course }} → {{ new_course }}) "
                "is overdue.",
            ),
        },
        STAFF_ROBOTS,
    ),
    "exchange.returned": (
        {
            "zh-hans": (
                "请补充材料：换课申请 {{ request_no }}",
                "{{ student_name }}，您好：\n\n为了尽快处理您将《{{ course }}》换至《{{ new_course }}》的换课申请，"
                "还需要您补充以下信息：\n{{ reason }}\n\n请在 {{ deadline }} 前补充，逾期申请将自动撤销。\n"
                "{{ next_steps }}\n补充入口：{{ link }}\n\n如有疑问：{{ contact }}",
                "【网校】{{ student_name }}，您换至《{{ new_course }}》的换课申请需补充材料：{{ reason }}，请于{{ deadline }}前补充。",
            ),
            "en": (
                "More information needed for course exchange {{ request_no }}",
                'Dear {{ student_name }},\n\nTo handle your request to exchange "{{ course }}" for "{{ new_course }}" '
                "we still need:\n{{ reason }}\n\nPlease add it by {{ deadline }}; after that the request is "
                "cancelled.\n{{ next_steps }}\nAdd it here: {{ link }}\n\nQuestions? {{ contact }}",
                "{{ student_name }}, your exchange to {{ new_course }} needs: {{ reason }}. Please add it by {{ deadline }}.",
            ),
        },
        STUDENT,
    ),
    # Three cases: a difference to pay (``deadline`` and ``amount`` say by when and how much), one
    # refunded, none; ``difference`` and ``next_steps`` follow the case.
    "exchange.approved": (
        {
            "zh-hans": (
                "换课申请已通过：《{{ new_course }}》",
                "{{ student_name }}，您好：\n\n您将《{{ course }}》（订单 {{ order_no }}）换至《{{ new_course }}》的"
                "换课申请已审核通过。\n差额：{{ difference }}。"
                "{% if deadline %}\n应补交：{{ amount }} 元，付款截止时间：{{ deadline }}。{% endif %}\n\n"
                "{{ next_steps }}\n查看详情：{{ link }}\n\n如有疑问：{{ contact }}\n感谢您的信任，祝您学习顺利！",
                "【网校】{{ student_name }}，您换至《{{ new_course }}》的申请已通过。"
                "{% if deadline %}请于{{ deadline }}前补交差额{{ amount }}元，逾期失效。"
                "{% else %}差额：{{ difference }}。{% endif %}",
            ),
            "en": (
                "Course exchange approved: {{ new_course }}",
                'Dear {{ student_name }},\n\nYour request to exchange "{{ course }}" (order {{ order_no }}) for '
                '"{{ new_course }}" has been approved.\nDifference: {{ difference }}.'
                "{% if deadline %}\nTo pay: {{ amount }} yuan, by {{ deadline }}.{% endif %}\n\n"
                "{{ next_steps }}\nDetails: {{ link }}\n\nQuestions? {{ contact }}\nThank you for your trust, "
                "and enjoy your new course!",
                "{{ student_name }}, your exchange to {{ new_course }} is approved."
                "{% if deadline %} Please pay {{ amount }} yuan by {{ deadline }}, or it lapses."
                "{% else %} Difference: {{ difference }}.{% endif %}",
            ),
        },
        STUDENT_CALLED,
    ),
    "exchange.rejected": (
        {
            "zh-hans": (
                "关于您的换课申请 {{ request_no }} 的审核结果",
                "{{ student_name }}，您好：\n\n很抱歉，您将《{{ course }}》（订单 {{ order_no }}）换至《{{ new_course }}》"
                "的换课申请未能通过。\n原因：{{ reason }}\n\n"
                "{% if deadline %}如对结果有异议，您可以在 {{ deadline }} 前在申请页面提出一次申诉。"
                "{% else %}该申请已申诉过一次，本次为最终结果。{% endif %}\n{{ next_steps }}\n查看详情：{{ link }}\n\n"
                "如有疑问：{{ contact }}",
                "【网校】{{ student_name }}，您换至《{{ new_course }}》的换课申请未通过：{{ reason }}。原课程不受影响。"
                "{% if deadline %}可于{{ deadline }}前申诉。{% endif %}",
            ),
            "en": (
                "About your course exchange request {{ request_no }}",
                'Dear {{ student_name }},\n\nWe are sorry: your request to exchange "{{ course }}" '
                '(order {{ order_no }}) for "{{ new_course }}" was not approved.\nReason: {{ reason }}\n\n'
                "{% if deadline %}If you disagree you may appeal once on the request page before {{ deadline }}."
                "{% else %}This decision is final: the request was already appealed once.{% endif %}\n"
                "{{ next_steps }}\nDetails: {{ link }}\n\nQuestions? {{ contact }}",
                "{{ student_name }}, your exchange to {{ new_course }} was not approved: {{ reason }}. Your current course "
                "goes on.{% if deadline %} Appeal by {{ deadline }}.{% endif %}",
            ),
        },
        STUDENT_CALLED,
    ),
    "exchange.cancelled": (
        {
            "zh-hans": (
                "换课申请 {{ request_no }} 已撤销",
                "{{ student_name }}，您好：\n\n您将《{{ course }}》（订单 {{ order_no }}）换至《{{ new_course }}》的"
                "换课申请已撤销。{{ reason }}\n\n{{ next_steps }}\n如有疑问：{{ contact }}",
                "【网校】{{ student_name }}，您换至《{{ new_course }}》的换课申请已撤销，原课程不受影响。{{ reason }}",
            ),
            "en": (
                "Course exchange request {{ request_no }} cancelled",
                'Dear {{ student_name }},\n\nYour request to exchange "{{ course }}" (order {{ order_no }}) for '
                '"{{ new_course }}" is cancelled. {{ reason }}\n\n{{ next_steps }}\nQuestions? {{ contact }}',
                "{{ student_name }}, your exchange to {{ new_course }} is cancelled; your current course goes on. "
                "{{ reason }}",
            ),
        },
        STUDENT,
    ),
    "exchange.appealed": (
        {
            "zh-hans": (
                "已收到您的换课申诉（{{ request_no }}）",
                "{{ student_name }}，您好：\n\n我们已收到您对换课申请（《{{ course }}》换至《{{ new_course }}》）"
                "审核结果的申诉。\n申诉理由：{{ reason }}\n\n{{ next_steps }}\n查看进度：{{ link }}\n\n"
                "如有疑问：{{ contact }}",
                "【网校】{{ student_name }}，已收到您的换课申诉，我们会重新审核，请留意消息。",
            ),
            "en": (
                "We received your appeal ({{ request_no }})",
                'Dear {{ student_name }},\n\nWe received your appeal about the exchange of "{{ course }}" for '
                '"{{ new_course }}".\nYour reason: {{ reason }}\n\n{{ next_steps }}\nFollow it here: {{ link }}\n\n'
                "Questions? {{ contact }}",
                "{{ student_name }}, we received your appeal and will review your exchange again.",
            ),
        },
        STUDENT,
    ),
    "exchange.payout_succeeded": (
        {
            "zh-hans": (
                "换课差额已退回：{{ amount }} 元",
                "{{ student_name }}，您好：\n\n您将《{{ course }}》（订单 {{ order_no }}）换至《{{ new_course }}》的"
                "换课差额 {{ amount }} 元已通过{{ channel }}原路退回，预计到账：{{ arrival }}。\n\n{{ next_steps }}\n"
                "电子凭证：{{ link }}\n\n如有疑问：{{ contact }}\n感谢您的信任，祝您在新课程中学有所成！",
                "【网校】{{ student_name }}，换课差额{{ amount }}元已通过{{ channel }}退回，预计{{ arrival }}到账。",
            ),
            "en": (
                "Exchange difference refunded: {{ amount }} yuan",
                'Dear {{ student_name }},\n\nThe difference of {{ amount }} yuan from exchanging "{{ course }}" '
                '(order {{ order_no }}) for "{{ new_course }}" has been paid back through {{ channel }}; expected '
                "arrival: {{ arrival }}.\n\n{{ next_steps }}\nReceipt: {{ link }}\n\nQuestions? {{ contact }}\n"
                "Thank you, and enjoy your new course!",
                "{{ student_name }}, the exchange difference of {{ amount }} yuan was refunded via {{ channel }}, "
                "arriving {{ arrival }}.",
            ),
        },
        STUDENT_CALLED,
    ),
    "exchange.payout_failed": (
        {
            "zh-hans": (
                "换课差额退款失败：{{ request_no }}（{{ amount }} 元）",
                "{{ recipient_name }}，您好：\n\n{{ student_name }} 的换课差额退款 {{ amount }} 元（{{ channel }}，"
                "订单 {{ order_no }}，《{{ course }}》换至《{{ new_course }}》）支付失败；退款成功后换课才会完成。\n"
                "原因：{{ reason }}\n\n{{ next_steps }}\n处理入口：{{ link }}",
                "换课差额退款失败：{{ request_no }} {{ amount }}元（{{ channel }}）：{{ reason }}，请处理。",
            ),
            "en": (
                "Exchange difference refund failed: {{ request_no }} ({{ amount }} yuan)",
                "Hello {{ recipient_name }},\n\nThe refund of the exchange difference, {{ amount }} yuan, to "
                '{{ student_name }} ({{ channel }}, order {{ order_no }}, "{{ course }}" → "{{ new_course }}") '
                "failed; the exchange completes only once it is paid.\nReason: {{ reason }}\n\n{{ next_steps }}\n"
                "Handle it here: {{ link }}",
                "Exchange refund failed: {{ request_no }} {{ amount }} yuan ({{ channel }}): {{ reason }}.",
            ),
        },
        STAFF_ROBOTS,
    ),
    "exchange.payout_needs_check": (
        {
            "zh-hans": (
                "换课差额退款待人工核实：{{ request_no }}（{{ amount }} 元）",
                "{{ recipient_name }}，您好：\n\n{{ student_name }} 的换课差额退款 {{ amount }} 元（{{ channel }}，"
                "订单 {{ order_no }}，《{{ course }}》换至《{{ new_course }}》）需要到支付平台人工核实；"
                "确认退款成功前，换课不会完成。\n原因：{{ reason }}\n\n{{ next_steps }}\n处理入口：{{ link }}",
                "换课差额退款待核实：{{ request_no }} {{ amount }}元（{{ channel }}）：{{ reason }}。"
                "请到支付平台核实，勿以新单号重退。",
            ),
            "en": (
                "Exchange difference refund to check: {{ request_no }} ({{ amount }} yuan)",
                "Hello {{ recipient_name }},\n\nThe refund of the exchange difference, {{ amount }} yuan, to "
                '{{ student_name }} ({{ channel }}, order {{ order_no }}, "{{ course }}" → "{{ new_course }}") needs '
                "a check at the gateway; the exchange completes only once it is confirmed paid.\nWhy: {{ reason }}"
                "\n\n{{ next_steps }}\nHandle it here: {{ link }}",
                "Exchange refund to check: {{ request_no }} {{ amount }} yuan ({{ channel }}): {{ reason }}. "
                "Do not resend it.",
            ),
        },
        STAFF_ROBOTS,
    ),
    # Sent when the exchange completes ("Course exchange completed."), lapses unpaid or is withdrawn
    # after approval: ``reason`` says which.
    "exchange.closed": (
        {
            "zh-hans": (
                "换课申请已结束（{{ request_no }}）",
                "{{ student_name }}，您好：\n\n您将《{{ course }}》（订单 {{ order_no }}）换至《{{ new_course }}》的"
                "换课申请已结束：{{ reason }}\n\n{{ next_steps }}\n查看详情：{{ link }}\n\n如有疑问：{{ contact }}",
                "【网校】{{ student_name }}，您换至《{{ new_course }}》的换课申请已结束：{{ reason }}",
            ),
            "en": (
                "Your course exchange request {{ request_no }} is closed",
                'Dear {{ student_name }},\n\nYour request to exchange "{{ course }}" (order {{ order_no }}) for '
                '"{{ new_course }}" is closed: {{ reason }}\n\n{{ next_steps }}\nDetails: {{ link }}\n\n'
                "Questions? {{ contact }}",
                "{{ student_name }}, your exchange to {{ new_course }} is closed: {{ reason }}",
            ),
        },
        STUDENT_CALLED,
    ),
    # exchanges.notices: the student, when the exchange is complete.
    "exchange.completed": (
        {
            "zh-hans": (
                "换课已完成：欢迎加入《{{ new_course }}》",
                "{{ student_name }}，您好：\n\n您的换课已完成：由《{{ course }}》（订单 {{ order_no }}）换至"
                "《{{ new_course }}》，新订单号 {{ new_order_no }}，完成时间 {{ date }}。\n差额：{{ difference }}。\n"
                "原课程的订单已因换课关闭，新课程已为您开通。\n\n{{ next_steps }}\n确认并评价：{{ link }}\n\n"
                "如有疑问：{{ contact }}\n感谢您的信任，祝您在新课程中学有所成！",
                "【网校】{{ student_name }}，您已换至《{{ new_course }}》，新订单{{ new_order_no }}，"
                "差额：{{ difference }}。请到个人中心确认并评价本次换课。",
            ),
            "en": (
                "Exchange complete: welcome to {{ new_course }}",
                'Dear {{ student_name }},\n\nYour course exchange is complete: from "{{ course }}" (order '
                '{{ order_no }}) to "{{ new_course }}", new order {{ new_order_no }}, completed at {{ date }}.\n'
                "Difference: {{ difference }}.\nThe old order is closed as exchanged and your new course is open."
                "\n\n{{ next_steps }}\nConfirm and rate it: {{ link }}\n\nQuestions? {{ contact }}\n"
                "Thank you for your trust, and enjoy your new course!",
                "{{ student_name }}, you have moved to {{ new_course }} (new order {{ new_order_no }}); difference: "
                "{{ difference }}. Please confirm and rate the exchange in your personal center.",
            ),
        },
        COMPLETED,
    ),
    # exchanges.notices: the old course's and the new course's homeroom teachers.
    "exchange.student_moved": (
        {
            "zh-hans": (
                "学员换课：{{ student_name }} 已由《{{ course }}》换至《{{ new_course }}》",
                "{{ recipient_name }}，您好：\n\n学员 {{ student_name }} 已于 {{ date }} 完成换课：由《{{ course }}》"
                "（订单 {{ order_no }}）换至《{{ new_course }}》（新订单 {{ new_order_no }}，换课申请 {{ request_no }}）。"
                "\n\n{{ next_steps }}\n查看报名：{{ link }}",
                "",
            ),
            "en": (
                "Course exchange: {{ student_name }} moved from {{ course }} to {{ new_course }}",
                "Hello {{ recipient_name }},\n\n{{ student_name }} completed a course exchange at {{ date }}: from "
                '"{{ course }}" (order {{ order_no }}) to "{{ new_course }}" (new order {{ new_order_no }}, '
                "exchange request {{ request_no }}).\n\n{{ next_steps }}\nThe enrollment: {{ link }}",
                "",
            ),
        },
        TEACHERS,
    ),
}


def templates():
    for event, (languages, channels) in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            for channel in channels:
                if channel in ("inbox", "email"):
                    yield event, channel, language, subject, full
                elif channel == "call_task":
                    yield event, channel, language, subject, CALL_NOTE[language] + short
                elif channel == "sms":  # SMS parameters are short: no links
                    yield event, channel, language, "", short.replace(" {{ link }}", "").replace("{{ link }}", "")
                else:  # WeChat and robots
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
    dependencies = [("notifications", "0007_attachments")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
