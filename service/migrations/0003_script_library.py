"""The script library's first scripts (话术库, seed 003's table and its stages). Operations edit
them afterwards; this only adds scenarios that have no script yet."""

from django.db import migrations

# (scenario, title, key points, cautions, script)
SCRIPTS = [
    (
        "first_contact",
        "首次联系学员",
        "确认身份 + 了解背景 + 介绍服务 + 留下联系方式",
        "语气要热情但不过度，时间控制在 5 分钟内；是真人电话或微信，不是群发消息。",
        "{{ student_name }}您好，我是您《{{ course }}》的班主任{{ teacher_name }}。"
        "恭喜您报名成功！想先跟您确认一下：您这次学习主要想达到什么目标？之前有没有相关基础？\n"
        "接下来我会陪您完成整个课程：第一节课在 {{ starts }}，开课前一小时我会提醒您；学习中有任何问题都可以找我。\n"
        "我加一下您的微信，方便随时联系。",
    ),
    (
        "lesson_reminder",
        "首课出勤确认",
        "开课前一小时提醒 + 开课后确认是否进入课堂",
        "没有进入课堂的学员当天联系，问清原因（设备、时间、忘记了），帮他约好回放或下一次。",
        "{{ student_name }}您好，《{{ course }}》第一节课 {{ starts }} 开始，今天上课顺利吗？"
        "如果刚才没赶上，回放已经可以看了，我把入口发给您。",
    ),
    (
        "feedback",
        "首课反馈跟进",
        "感谢反馈 + 确认问题 + 给出方案 + 约定下次跟进",
        "先听完再解释；当天给出方案。",
        "{{ student_name }}您好，看到您对第一节课的反馈，谢谢您告诉我们。能具体说说哪里不满意吗？"
        "我这边马上和老师沟通，今天之内给您答复。",
    ),
    (
        "inactive",
        "学员连续未学习",
        "关心状态 + 了解原因 + 帮他定一个小目标",
        "不要指责；先问是不是遇到了困难，再给具体的学习建议。",
        "{{ student_name }}您好，我是班主任{{ teacher_name }}。看到您最近 {{ days_inactive }} 天没有上课了，"
        "目前完成了 {{ completion }}%。是最近比较忙，还是课程里有听不懂的地方？我们一起排一个这周能完成的小计划吧。",
    ),
    (
        "follow_up",
        "课程进度跟进",
        "肯定当前进度 + 询问困难 + 提供支持",
        "不要一上来就问要不要续费。",
        "{{ student_name }}您好，《{{ course }}》您已经完成了 {{ completion }}%，作业提交率 {{ homework_rate }}%，"
        "{{ score_sentence }}表现很不错！学习中有没有遇到什么困难？需要的话我帮您约一次老师答疑。",
    ),
    (
        "complaint",
        "学员投诉处理",
        "表达歉意 + 确认问题 + 给出方案 + 跟进落实",
        "48 小时内必须闭环。",
        "{{ student_name }}您好，非常抱歉给您带来了不好的体验。我先确认一下问题：……"
        "我们的处理方案是……，我会在 48 小时内跟进落实并告诉您结果。",
    ),
    (
        "renewal",
        "续费沟通",
        "总结学习成果 + 展示后续价值 + 说明福利",
        "提前 1 个月开始，不要临时抱佛脚；用学员自己的数据说话，不要套话。",
        "{{ student_name }}您好，《{{ course }}》将在 {{ ends }} 结束。这段时间您完成了 {{ completion }}%，"
        "作业提交率 {{ homework_rate }}%，{{ score_sentence }}进步很明显。"
        "接下来的课程可以帮您……，现在续报还有老学员福利。您看有没有兴趣了解一下？",
    ),
    (
        "referral",
        "老带新",
        "先了解身边有没有类似需求，再在日常交流中自然提起",
        "不要一上来就让学员推荐朋友。",
        "{{ student_name }}，您身边有没有朋友也在准备类似的考试？我们有个老带新活动，"
        "朋友报名时填写您的推荐码 {{ referral_code }}，双方都有福利。",
    ),
]


def seed(apps, schema_editor):
    Script = apps.get_model("service", "Script")
    present = set(Script.objects.values_list("scenario", flat=True))
    Script.objects.bulk_create(
        Script(scenario=scenario, title=title, key_points=points, cautions=cautions, body=body, language="zh-hans")
        for scenario, title, points, cautions, body in SCRIPTS
        if scenario not in present
    )


class Migration(migrations.Migration):
    dependencies = [("service", "0002_default_templates")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
