"""A homeroom teacher works today's first contact in a real browser, on a 1440 px desktop and on a
390 px phone: the workbench with its tabs, the task page with the script filled in with the
student's name, the call recorded and the task marked done, and the student page showing the
contact. No page scrolls sideways on the phone; no page breaks the content security policy.

Screenshots go to artifacts/screenshots/<test>-<name>.png.
"""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from service.models import ContactLog, Script, ScriptScenario, TaskKind, TaskStatus
from service.selectors import day_bounds
from tests import factories
from tests.service.conftest import FIGURES, enrolled, make_task, seed_scripts

from .conftest import PHONE, _context, fits_the_phone, login, shot
from .test_content_security_policy import PolicyWatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"viewport": {"width": 1440, "height": 900}}


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_a_teacher_calls_a_new_student_from_the_workbench(browser, live_server, campus, homeroom, screen):
    seed_scripts()
    now = timezone.now()
    _start, end = day_bounds(now)
    student = factories.make_student(campus=campus, name="王小明", phone="13800138000")
    course = factories.make_course(campus=campus, days=120)
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    task = make_task(order, kind=TaskKind.FIRST_CONTACT, due_at=end - datetime.timedelta(minutes=1))
    # The rest of her day: an overdue inactive student, a first-lesson check, a renewal ahead, one done.
    make_task(
        enrolled(campus, homeroom, name="欧阳娜娜"),
        kind=TaskKind.INACTIVE,
        trigger="20261120",
        due_at=now - datetime.timedelta(days=2, hours=3),
        facts=FIGURES,
    )
    make_task(
        enrolled(campus, homeroom, name="陈小红"),
        kind=TaskKind.LESSON_REMINDER,
        due_at=end - datetime.timedelta(minutes=2),
    )
    make_task(
        enrolled(campus, homeroom, name="李雷"),
        kind=TaskKind.RENEWAL,
        due_at=now + datetime.timedelta(days=3),
        facts=FIGURES,
    )
    make_task(
        enrolled(campus, homeroom, name="韩梅梅"),
        kind=TaskKind.FOLLOW_UP,
        trigger="m1",
        status=TaskStatus.DONE,
        channel="wechat",
        notes="进度正常",
    )

    context = _context(browser, **(PHONE if screen == "phone" else DESKTOP))
    page = context.new_page()
    try:
        watch = PolicyWatch(page, live_server)
        login(page, live_server, homeroom.user.username, factories.PASSWORD)

        # The workbench: today's tasks first, with the counts of the other tabs.
        watch.visit(reverse("admin:service_servicetask_changelist"))
        expect(page.locator("#tab-today")).to_have_attribute("aria-current", "page")
        expect(page.locator("#tab-today .service-tab-count")).to_have_text("2")
        expect(page.locator("#tab-overdue .service-tab-count")).to_have_text("1")
        expect(page.locator("#tab-upcoming .service-tab-count")).to_have_text("1")
        expect(page.locator("#tab-done .service-tab-count")).to_have_text("1")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(2)
        row = rows.filter(has_text="王小明")
        expect(row).to_contain_text("13800138000")
        expect(row).to_contain_text(course.name)
        shot(page, "1-workbench")
        if screen == "phone":
            fits_the_phone(page)

        # The overdue tab, as the supervisor's e-mail would open it.
        page.locator("#tab-overdue").click()
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        expect(page.locator("#result_list .service-overdue")).to_be_visible()
        expect(page.locator("#result_list .service-figures")).to_contain_text("45%")
        shot(page, "2-overdue")
        if screen == "phone":
            fits_the_phone(page)
        page.locator("#tab-today").click()

        # Today's first contact: the script speaks to her by name.
        page.locator("#result_list tbody tr").filter(has_text="王小明").locator("a.service-task-link").click()
        page.wait_for_url(f"**{reverse('admin:service_servicetask_change', args=[task.pk])}")
        script = page.locator("#task-script .service-script-body").first
        expect(script).to_contain_text(f"王小明您好，我是您《{course.name}》的班主任孙老师。")
        expect(page.locator("#task-script")).not_to_contain_text("{{")
        shot(page, "3-task")
        if screen == "phone":
            fits_the_phone(page)

        # Marked done without the goal: the error is next to the field and summed up on top.
        page.locator("#outcome-form input[name=channel][value=phone]").check()
        page.locator("#id_outcome_minutes").fill("5")
        page.locator("#id_outcome_student_level").fill("四级 520 分，阅读弱")
        page.locator("#id_outcome_next_step").fill("周六晚上看第一节直播，课后我再联系")
        page.locator("#mark-done").click()
        expect(page.locator("#error-summary")).to_be_visible()
        expect(page.locator("#outcome-form .errors")).to_have_count(1)
        shot(page, "4-error")
        if screen == "phone":
            fits_the_phone(page)

        # What was typed is kept; the goal added; done.
        expect(page.locator("#id_outcome_minutes")).to_have_value("5")
        expect(page.locator("#outcome-form input[name=channel][value=phone]")).to_be_checked()
        page.locator("#id_outcome_student_goal").fill("明年考研英语 75 分")
        page.locator("#mark-done").click()
        expect(page.locator(".messagelist .success")).to_be_visible()
        expect(page.locator("#outcome-done")).to_contain_text("明年考研英语 75 分")
        expect(page.locator("#next-task-link")).to_contain_text("欧阳娜娜")  # the earliest due: the overdue one
        shot(page, "5-done")
        if screen == "phone":
            fits_the_phone(page)
        task.refresh_from_db()
        assert (task.status, task.channel, task.minutes, task.done_by) == (TaskStatus.DONE, "phone", 5, homeroom.user)

        # The student page shows the call in her contact log.
        page.locator("#student-link").click()
        page.wait_for_url(f"**{reverse('admin:service_student', args=[student.pk])}")
        contacts = page.locator("#contacts .service-contact")
        expect(contacts).to_have_count(1)
        expect(contacts.first).to_contain_text("明年考研英语 75 分")
        expect(contacts.first).to_contain_text("孙老师")
        expect(page.locator("#student-learning")).to_contain_text(course.name)
        shot(page, "6-student")
        if screen == "phone":
            fits_the_phone(page)
        assert ContactLog.objects.filter(student=student, task=task).count() == 1

        assert watch.violations() == []
    finally:
        context.close()


def test_operations_edit_a_script_and_see_it_previewed(page, live_server, operations):
    seed_scripts()
    script = Script.objects.get(scenario=ScriptScenario.INACTIVE)
    watch = PolicyWatch(page, live_server)
    login(page, live_server, operations.user.username, factories.PASSWORD)
    watch.visit(reverse("admin:service_script_changelist"))
    expect(page.locator("#result_list tbody tr")).to_have_count(Script.objects.count())
    shot(page, "1-library")

    watch.visit(reverse("admin:service_script_change", args=[script.pk]))
    expect(page.locator(".script-placeholders")).to_contain_text("{{ days_inactive }}")
    page.locator("#id_body").fill("{{ student_name }}您好，{{ days_inactive }} 天没上课了，送您 {{ coupon }}。")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".field-body .errorlist")).to_contain_text("coupon")
    shot(page, "2-unknown-placeholder")

    page.locator("#id_body").fill("{{ student_name }}您好，{{ days_inactive }} 天没上课了，这周一起补上吧？")
    page.locator("input[name=_continue]").click()
    expect(page.locator("#script-preview")).to_have_text("王小明您好，8 天没上课了，这周一起补上吧？")
    shot(page, "3-preview")
    assert watch.violations() == []
