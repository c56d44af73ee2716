"""The default texts of the student-service messages, in both languages: the student's (inbox,
e-mail, SMS) and the teachers' and supervisors' (inbox, e-mail; overdue tasks also to staff group
robots). Operations edit them in the admin afterwards; this only adds what is missing."""

from django.db import migrations

STUDENT = ("inbox", "email", "sms")
STAFF = ("inbox", "email")

# event: {language: (subject, full text, SMS or robot text)}
TEXTS = {
    "service.lesson_reminder": {
        "zh-hans": (
            "上课提醒：《{{ course }}》{{ starts }} 开课",
            "{{ recipient_name }}，您好：\n\n您报名的《{{ course }}》将于 {{ starts }} 开始第一节课，请提前准备好设备和网络，"
            "准时进入课堂。\n\n课程与订单：{{ link }}\n\n{{ contact }}",
            "【网校】您的课程《{{ course }}》将于 {{ starts }} 开始第一节课，请准时上课。",
        ),
        "en": (
            "Reminder: {{ course }} starts at {{ starts }}",
            "Hello {{ recipient_name }},\n\nThe first lesson of {{ course }} starts at {{ starts }}. Please have your "
            "device and connection ready and join on time.\n\nYour course and order: {{ link }}\n\n{{ contact }}",
            "[School] The first lesson of {{ course }} starts at {{ starts }}. See you there.",
        ),
    },
    "service.feedback_asked": {
        "zh-hans": (
            "第一节课感觉怎么样？",
            "{{ recipient_name }}，您好：\n\n《{{ course }}》的第一节课已经结束，感觉怎么样？花 10 秒告诉我们，"
            "有任何不满意，班主任会尽快联系您。\n\n点此回答：{{ link }}\n\n{{ contact }}",
            "【网校】《{{ course }}》第一节课感觉怎么样？请到个人中心“我的订单”告诉我们。",
        ),
        "en": (
            "How was your first lesson?",
            "Hello {{ recipient_name }},\n\nThe first lesson of {{ course }} is over: how was it? Tell us in ten "
            "seconds; if anything was not right, your homeroom teacher will call you soon.\n\nAnswer here: {{ link }}"
            "\n\n{{ contact }}",
            "[School] How was the first lesson of {{ course }}? Tell us under My orders in your personal center.",
        ),
    },
    "service.task_new": {
        "zh-hans": (
            "新的服务任务：{{ task }} · {{ student_name }}",
            "{{ recipient_name }}，您好：\n\n学员 {{ student_name }}（《{{ course }}》）有一项新的服务任务：{{ task }}，"
            "请在 {{ due }} 前完成。\n{{ details }}\n\n打开任务：{{ link }}",
            "",
        ),
        "en": (
            "New service task: {{ task }} · {{ student_name }}",
            "Hello {{ recipient_name }},\n\nA new service task for {{ student_name }} ({{ course }}): {{ task }}, due "
            "{{ due }}.\n{{ details }}\n\nOpen the task: {{ link }}",
            "",
        ),
    },
    "service.at_risk": {
        "zh-hans": (
            "学员预警：{{ count }} 位学员已连续多天未学习",
            "{{ recipient_name }}，您好：\n\n以下学员已连续多天没有学习，已为每位学员建立跟进任务（附学习数据）：\n"
            "{{ students }}\n\n打开工作台：{{ link }}",
            "",
        ),
        "en": (
            "Students at risk: {{ count }} stopped learning",
            "Hello {{ recipient_name }},\n\nThese students have not learned for several days; each has a follow-up "
            "task with her figures:\n{{ students }}\n\nOpen the workbench: {{ link }}",
            "",
        ),
    },
    "service.tasks_overdue": {
        "zh-hans": (
            "服务任务超时：{{ teacher_name }} 有 {{ count }} 项",
            "{{ recipient_name }}，您好：\n\n班主任 {{ teacher_name }} 有 {{ count }} 项服务任务已超时：\n{{ tasks }}"
            "\n\n请跟进：{{ link }}",
            "【服务任务超时】班主任 {{ teacher_name }} 有 {{ count }} 项任务超时。{{ link }}",
        ),
        "en": (
            "Service tasks overdue: {{ count }} of {{ teacher_name }}",
            "Hello {{ recipient_name }},\n\n{{ count }} service tasks of {{ teacher_name }} are overdue:\n{{ tasks }}"
            "\n\nFollow them up: {{ link }}",
            "[Service tasks overdue] {{ teacher_name }}: {{ count }} overdue. {{ link }}",
        ),
    },
}
STUDENT_EVENTS = {"service.lesson_reminder", "service.feedback_asked"}


def templates():
    for event, languages in TEXTS.items():
        for language, (subject, full, short) in languages.items():
            for channel in STUDENT if event in STUDENT_EVENTS else STAFF:
                yield event, channel, language, ("" if channel == "sms" else subject), (short if channel == "sms" else full)
            if event == "service.tasks_overdue":
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
        ("service", "0001_initial"),
        ("notifications", "0007_attachments"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
