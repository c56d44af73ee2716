"""The student-service events messages are written for, through the generic notifier."""

from django.utils.translation import gettext_lazy as _

from notifications.rendering import event_register

TASK_NEW = "service.task_new"
LESSON_REMINDER = "service.lesson_reminder"
FEEDBACK_ASKED = "service.feedback_asked"
AT_RISK = "service.at_risk"
TASKS_OVERDUE = "service.tasks_overdue"

_SAMPLE = {
    "student_name": "张三",
    "course": "2027 考研英语全程班",
    "task": "首次联系",
    "due": "2026-12-05 10:00",
    "details": "手机 13800138000；12 月 4 日 10:00 付款。",
    "starts": "2026-12-05 19:30",
    "count": "3",
    "students": "张三（已 8 天未学习，完成 25%）\n李四（已 7 天未学习，完成 40%）",
    "teacher_name": "王老师",
    "tasks": "王老师：超时 3 项（首次联系 1、学员未学习跟进 2）",
    "link": "https://school.example.com/admin/service/servicetask/",
}

event_register(
    TASK_NEW,
    label=_("New service task"),
    placeholders=("recipient_name", "student_name", "course", "task", "due", "details", "link"),
    sample=_SAMPLE,
)
event_register(
    LESSON_REMINDER,
    label=_("First-lesson reminder"),
    placeholders=("recipient_name", "course", "starts", "link", "contact"),
    sample={**_SAMPLE, "link": "https://school.example.com/orders/SO202612040001/", "contact": "客服热线 400-000-0000"},
)
event_register(
    FEEDBACK_ASKED,
    label=_("How was the first lesson?"),
    placeholders=("recipient_name", "course", "link", "contact"),
    sample={
        **_SAMPLE,
        "link": "https://school.example.com/orders/SO202612040001/feedback/",
        "contact": "客服热线 400-000-0000",
    },
)
event_register(
    AT_RISK,
    label=_("Students not learning"),
    placeholders=("recipient_name", "count", "students", "link"),
    sample=_SAMPLE,
)
event_register(
    TASKS_OVERDUE,
    label=_("Service tasks overdue"),
    placeholders=("recipient_name", "teacher_name", "count", "tasks", "link"),
    sample=_SAMPLE,
    robot=True,
)
