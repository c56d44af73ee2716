"""A task's page: the student, her figures and the script filled in with her data; the outcome form
per kind of task with its errors next to the fields and summed up on top; the reschedule form; who
sees the forms and who the services refuse; CSRF; and the next task offered once one is done."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from schoolops.models import StaffRole
from service.models import (
    ContactChannel,
    ContactLog,
    RenewalOutcome,
    Script,
    ScriptScenario,
    ServiceTask,
    TaskKind,
    TaskReschedule,
    TaskStatus,
)
from service.services import Outcome, ServiceError, task_complete, task_reschedule
from tests import factories
from tests.refunds.helpers import zh

from .conftest import FIGURES, enrolled, logged_in, make_task

pytestmark = pytest.mark.django_db


def page(task) -> str:
    return reverse("admin:service_servicetask_change", args=[task.pk])


def complete(task) -> str:
    return reverse("admin:service_servicetask_complete", args=[task.pk])


def reschedule(task) -> str:
    return reverse("admin:service_servicetask_reschedule", args=[task.pk])


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


FIRST_CALL = {
    "channel": ContactChannel.PHONE,
    "minutes": "5",
    "student_goal": "明年考研英语 75 分",
    "student_level": "四级 520 分，阅读弱",
    "next_step": "周六晚上看第一节直播",
    "notes": "",
}


# --- What the page shows --------------------------------------------------------------------------


def test_the_page_shows_the_student_the_course_and_the_first_contact_script_filled_in(
    client, homeroom, order, first_contact
):
    order.student.user.phone = "13800138000"
    order.student.user.save()
    response = logged_in(client, homeroom).get(page(first_contact))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("admin:service_student", args=[order.student.pk]) in html
    assert "13800138000" in html and order.course.name in html
    script = Script.objects.get(scenario=ScriptScenario.FIRST_CONTACT)
    assert script.title in html and script.key_points.split(" ")[0] in html
    assert "时间控制在 5 分钟内" in html  # the cautions
    starts = timezone.localtime(order.course.starts_at).strftime("%Y-%m-%d %H:%M")
    assert f"王小明您好，我是您《{order.course.name}》的班主任孙老师。" in html
    assert f"第一节课在 {starts}" in html
    assert "{{" not in html.split('id="task-script"')[1].split("</section>")[0]


def test_a_renewal_script_speaks_with_her_figures_and_score(client, homeroom, order):
    enrollment = order.enrollment
    enrollment.lessons_consumed, enrollment.homework_submitted = 18, 12
    enrollment.tests_taken, enrollment.test_score_avg = 3, Decimal("82.00")
    enrollment.save()
    task = make_task(order, kind=TaskKind.RENEWAL, facts=FIGURES)
    html = logged_in(client, homeroom).get(page(task)).content.decode()
    ends = timezone.localtime(order.course.ends_at).strftime("%Y-%m-%d")
    # 18 of 30 lessons, 12 homeworks for those 18 lessons, and the average score as a clause.
    score = zh("Average test score %(score)s,") % {"score": "82"}  # "测试平均 82 分，"
    assert f"将在 {ends} 结束。这段时间您完成了 60%，作业提交率 67%，{score}进步很明显" in html
    assert "45%" in html  # the figures when the task was made, beside today's


def test_a_follow_up_of_a_student_without_tests_leaves_the_score_out(client, homeroom, order):
    task = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="m1")
    html = logged_in(client, homeroom).get(page(task)).content.decode()
    assert "完成了 0%，作业提交率 0%，表现很不错" in html  # before her first lesson: 0, not an empty "%"


def test_a_script_edited_to_use_the_referral_code_gets_her_a_code(client, homeroom, order):
    script = Script.objects.get(scenario=ScriptScenario.FOLLOW_UP)
    script.body += "\n您的推荐码是 {{ referral_code }}。"
    script.save()
    task = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="m1")
    html = logged_in(client, homeroom).get(page(task)).content.decode()
    code = order.student.referral_code.code
    assert f"您的推荐码是 {code}。" in html


def test_only_active_scripts_show_in_their_order(client, homeroom, first_contact):
    Script.objects.create(
        scenario=ScriptScenario.FIRST_CONTACT,
        title="简短版",
        key_points="一句话",
        body="{{ student_name }}好",
        position=0,
    )
    Script.objects.filter(scenario=ScriptScenario.FIRST_CONTACT, title="首次联系学员").update(position=1)
    Script.objects.create(
        scenario=ScriptScenario.FIRST_CONTACT, title="旧版", key_points="停用", body="旧", position=2, active=False
    )
    html = logged_in(client, homeroom).get(page(first_contact)).content.decode()
    assert "旧版" not in html
    assert html.index("简短版") < html.index("首次联系学员")
    assert "王小明好" in html


def test_a_teacher_sees_the_forms_the_kind_needs(client, homeroom, order):
    client = logged_in(client, homeroom)
    first = make_task(order, kind=TaskKind.FIRST_CONTACT)
    html = client.get(page(first)).content.decode()
    for name in ("channel", "minutes", "student_goal", "student_level", "next_step"):
        assert f'name="{name}"' in html
    assert 'value="app"' not in html  # no in-app message for a first contact
    assert 'name="renewal_outcome"' not in html and 'name="attended"' not in html
    assert 'name="reason"' in html and 'name="to"' in html  # the reschedule form
    renewal = make_task(order, kind=TaskKind.RENEWAL)
    html = client.get(page(renewal)).content.decode()
    assert 'name="renewal_outcome"' in html and 'name="renewal_reason"' in html and 'name="student_goal"' not in html
    reminder = make_task(order, kind=TaskKind.LESSON_REMINDER)
    html = client.get(page(reminder)).content.decode()
    assert 'name="attended"' in html


# --- The outcome, per kind ----------------------------------------------------------------------------


def test_a_first_contact_done_with_its_outcome_goes_to_her_contact_log(client, homeroom, first_contact):
    response = logged_in(client, homeroom).post(complete(first_contact), FIRST_CALL)
    assert response.status_code == 302 and response.url == page(first_contact)
    first_contact.refresh_from_db()
    assert first_contact.status == TaskStatus.DONE
    assert (first_contact.channel, first_contact.minutes, first_contact.student_goal) == (
        "phone",
        5,
        "明年考研英语 75 分",
    )
    assert first_contact.done_by == homeroom.user
    log = ContactLog.objects.get(task=first_contact)
    assert (log.staff, log.channel, log.minutes) == (homeroom, "phone", 5)
    assert "周六晚上看第一节直播" in log.summary


@pytest.mark.parametrize("missing", ["channel", "minutes", "student_goal", "student_level", "next_step"])
def test_a_first_contact_needs_channel_minutes_goal_level_and_next_step(client, homeroom, first_contact, missing):
    response = logged_in(client, homeroom).post(complete(first_contact), {**FIRST_CALL, missing: ""})
    assert response.status_code == 200
    form = response.context["outcome_form"]
    assert list(form.errors) == [missing]
    html = response.content.decode()
    assert 'id="error-summary"' in html  # summed up on top
    summary = html.split('id="error-summary"')[1].split("</div>")[0]
    assert str(form.fields[missing].label) in summary
    assert f'href="#id_outcome_{missing}"' in summary
    first_contact.refresh_from_db()
    assert first_contact.status == TaskStatus.OPEN
    assert not ContactLog.objects.exists()


def test_a_first_contact_refuses_the_in_app_channel_on_the_page(client, homeroom, first_contact):
    response = logged_in(client, homeroom).post(complete(first_contact), {**FIRST_CALL, "channel": "app"})
    assert response.status_code == 200
    assert "channel" in response.context["outcome_form"].errors
    first_contact.refresh_from_db()
    assert first_contact.status == TaskStatus.OPEN


def test_the_service_refuses_the_in_app_channel_for_a_first_contact(homeroom, first_contact):
    outcome = Outcome(channel="app", minutes=3, student_goal="过四级", student_level="零基础", next_step="看第一课")
    with pytest.raises(ServiceError) as refused:
        task_complete(task_id=first_contact.pk, by=homeroom.user, outcome=outcome)
    assert list(refused.value.message_dict) == ["channel"]


@pytest.mark.parametrize(
    ("kind", "data", "errors"),
    [
        (TaskKind.LESSON_REMINDER, {}, ["attended"]),
        (TaskKind.LESSON_REMINDER, {"attended": "no"}, []),
        (TaskKind.FEEDBACK, {"channel": "wechat"}, ["notes"]),
        (TaskKind.FEEDBACK, {"channel": "wechat", "notes": "回放卡顿，已帮她换线路"}, []),
        (TaskKind.INACTIVE, {"notes": "最近加班"}, ["channel"]),
        (TaskKind.INACTIVE, {"channel": "app", "notes": "最近加班，约了周末补课"}, []),
        (TaskKind.FOLLOW_UP, {"channel": "phone", "minutes": "700", "notes": "进度正常"}, ["minutes"]),
        (TaskKind.FOLLOW_UP, {"channel": "phone", "minutes": "8", "notes": "进度正常"}, []),
        (TaskKind.RENEWAL, {"channel": "phone"}, ["renewal_outcome"]),
        (TaskKind.RENEWAL, {"channel": "phone", "renewal_outcome": "declined"}, ["renewal_reason"]),
        (TaskKind.RENEWAL, {"channel": "phone", "renewal_outcome": "declined", "renewal_reason": "要出国"}, []),
        (TaskKind.RENEWAL, {"channel": "phone", "renewal_outcome": "thinking"}, []),
    ],
)
def test_each_kind_is_done_only_with_what_it_needs(client, homeroom, order, kind, data, errors):
    task = make_task(order, kind=kind, trigger="t")
    response = logged_in(client, homeroom).post(complete(task), data)
    task.refresh_from_db()
    if errors:
        assert response.status_code == 200
        assert sorted(response.context["outcome_form"].errors) == sorted(errors)
        assert task.status == TaskStatus.OPEN
    else:
        assert response.status_code == 302
        assert task.status == TaskStatus.DONE


def test_a_declined_renewal_keeps_its_reason(homeroom, order):
    task = make_task(order, kind=TaskKind.RENEWAL)
    with pytest.raises(ServiceError) as refused:
        task_complete(
            task_id=task.pk, by=homeroom.user, outcome=Outcome(channel="phone", renewal_outcome=RenewalOutcome.DECLINED)
        )
    assert list(refused.value.message_dict) == ["renewal_reason"]
    done = task_complete(
        task_id=task.pk,
        by=homeroom.user,
        outcome=Outcome(channel="phone", renewal_outcome=RenewalOutcome.DECLINED, renewal_reason="明年出国"),
    )
    assert (done.renewal_outcome, done.renewal_reason) == ("declined", "明年出国")


def test_a_reminder_checked_without_a_conversation_adds_no_contact(client, homeroom, order):
    task = make_task(order, kind=TaskKind.LESSON_REMINDER)
    logged_in(client, homeroom).post(complete(task), {"attended": "yes"})
    task.refresh_from_db()
    assert (task.status, task.attended) == (TaskStatus.DONE, True)
    assert not ContactLog.objects.exists()


def test_a_task_done_twice_is_refused_the_second_time(client, homeroom, first_contact):
    client = logged_in(client, homeroom)
    client.post(complete(first_contact), FIRST_CALL)
    response = client.post(complete(first_contact), {**FIRST_CALL, "minutes": "9"})
    assert response.status_code == 200
    assert response.context["outcome_form"].non_field_errors()
    first_contact.refresh_from_db()
    assert first_contact.minutes == 5
    assert ContactLog.objects.count() == 1


# --- Moving a task ----------------------------------------------------------------------------------


def test_a_task_moves_with_a_reason(client, homeroom, first_contact):
    to = timezone.localtime(timezone.now() + datetime.timedelta(days=2)).replace(second=0, microsecond=0)
    response = logged_in(client, homeroom).post(
        reschedule(first_contact), {"to": to.strftime("%Y-%m-%dT%H:%M"), "reason": "她周五考试，周六再打"}
    )
    assert response.status_code == 302
    first_contact.refresh_from_db()
    assert first_contact.due_at == to
    row = TaskReschedule.objects.get(task=first_contact)
    assert (row.reason, row.by) == ("她周五考试，周六再打", homeroom.user)
    html = client.get(page(first_contact)).content.decode()
    assert "她周五考试，周六再打" in html


def test_a_task_does_not_move_without_a_reason(client, homeroom, first_contact):
    due = first_contact.due_at
    to = timezone.localtime(timezone.now() + datetime.timedelta(days=2))
    response = logged_in(client, homeroom).post(
        reschedule(first_contact), {"to": to.strftime("%Y-%m-%dT%H:%M"), "reason": "  "}
    )
    assert response.status_code == 200
    assert list(response.context["reschedule_form"].errors) == ["reason"]
    assert 'id="error-summary"' in response.content.decode()
    first_contact.refresh_from_db()
    assert first_contact.due_at == due
    assert not TaskReschedule.objects.exists()


def test_a_task_does_not_move_into_the_past(client, homeroom, first_contact):
    past = timezone.localtime(timezone.now() - datetime.timedelta(hours=1))
    response = logged_in(client, homeroom).post(
        reschedule(first_contact), {"to": past.strftime("%Y-%m-%dT%H:%M"), "reason": "改期"}
    )
    assert list(response.context["reschedule_form"].errors) == ["to"]


def test_the_service_refuses_a_move_without_a_reason(homeroom, first_contact):
    with pytest.raises(ServiceError) as refused:
        task_reschedule(
            task_id=first_contact.pk, by=homeroom.user, to=timezone.now() + datetime.timedelta(days=1), reason=""
        )
    assert list(refused.value.message_dict) == ["reason"]


# --- Who may work a task ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["homeroom", "supervisor", "campus_head"])
def test_her_teacher_and_her_supervisors_see_the_forms(client, request, first_contact, who):
    html = logged_in(client, request.getfixturevalue(who)).get(page(first_contact)).content.decode()
    assert 'id="outcome-form"' in html and 'id="reschedule-form"' in html


def test_a_supervisor_completes_her_team_members_task(client, supervisor, first_contact):
    response = logged_in(client, supervisor).post(complete(first_contact), FIRST_CALL)
    assert response.status_code == 302
    first_contact.refresh_from_db()
    assert first_contact.done_by == supervisor.user


def test_a_superuser_reads_the_task_without_forms_and_the_service_refuses_him(client, superuser, first_contact):
    client = logged_in(client, superuser)
    html = client.get(page(first_contact)).content.decode()
    assert 'id="outcome-form"' not in html and 'id="read-only"' in html
    response = client.post(complete(first_contact), FIRST_CALL)
    assert response.status_code == 200
    assert response.context["outcome_form"].non_field_errors()
    first_contact.refresh_from_db()
    assert first_contact.status == TaskStatus.OPEN


def test_a_supervisor_of_another_campus_managing_the_teacher_reads_but_may_not_work(
    client, other_campus, homeroom, first_contact
):
    away = factories.make_staff(role=StaffRole.SUPERVISOR, campus=other_campus, name="远方主管")
    homeroom.manager = away
    homeroom.save()
    client = logged_in(client, away)
    html = client.get(page(first_contact)).content.decode()
    assert 'id="outcome-form"' not in html
    client.post(complete(first_contact), FIRST_CALL)
    first_contact.refresh_from_db()
    assert first_contact.status == TaskStatus.OPEN
    with pytest.raises(ServiceError):
        task_complete(task_id=first_contact.pk, by=away.user, outcome=Outcome(**{**FIRST_CALL, "minutes": 5}))


def test_a_colleague_cannot_post_to_a_task_she_does_not_see(client, colleague, first_contact):
    response = logged_in(client, colleague).post(complete(first_contact), FIRST_CALL)
    assert response.status_code == 404
    first_contact.refresh_from_db()
    assert first_contact.status == TaskStatus.OPEN


def test_the_service_refuses_a_colleague_who_is_not_the_delegate(colleague, first_contact):
    with pytest.raises(ServiceError):
        task_complete(task_id=first_contact.pk, by=colleague.user, outcome=Outcome(**{**FIRST_CALL, "minutes": 5}))


def test_the_delegate_works_the_task_while_the_teacher_is_away(client, homeroom, colleague, first_contact):
    today = timezone.localdate()
    homeroom.delegate, homeroom.delegate_from, homeroom.delegate_until = colleague, today, today
    homeroom.save()
    response = logged_in(client, colleague).post(complete(first_contact), FIRST_CALL)
    assert response.status_code == 302
    first_contact.refresh_from_db()
    assert first_contact.done_by == colleague.user


def test_customer_service_has_no_task_pages(client, agent, first_contact):
    assert logged_in(client, agent).get(page(first_contact)).status_code == 403
    assert client.post(complete(first_contact), FIRST_CALL).status_code == 403


def test_the_forms_need_the_csrf_token(homeroom, first_contact):
    client = Client(enforce_csrf_checks=True)
    client.force_login(homeroom.user)
    html = client.get(page(first_contact)).content.decode()
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    assert client.post(complete(first_contact), FIRST_CALL).status_code == 403
    assert client.post(reschedule(first_contact), {"to": "2030-01-01T10:00", "reason": "x"}).status_code == 403
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post(complete(first_contact), {**FIRST_CALL, "csrfmiddlewaretoken": token}).status_code == 302


def test_the_task_page_only_takes_gets(client, homeroom, first_contact):
    assert logged_in(client, homeroom).post(page(first_contact), FIRST_CALL).status_code == 405
    assert client.get(complete(first_contact)).status_code == 405


# --- After it is done ---------------------------------------------------------------------------------


def test_after_done_the_page_offers_her_next_open_task(client, homeroom, order, first_contact):
    later = make_task(order, kind=TaskKind.FOLLOW_UP, trigger="m1", due_at=timezone.now() + datetime.timedelta(days=1))
    sooner = make_task(
        enrolled(order.course.campus, homeroom, name="李小兰"), due_at=timezone.now() + datetime.timedelta(hours=5)
    )
    response = logged_in(client, homeroom).post(complete(first_contact), FIRST_CALL, follow=True)
    html = response.content.decode()
    assert said(response)
    assert 'id="next-task-link"' in html
    assert f'href="{page(sooner)}" id="next-task-link"' in html
    assert later.pk != sooner.pk
    assert 'id="outcome-done"' in html and "明年考研英语 75 分" in html


def test_when_nothing_is_left_the_page_says_so(client, homeroom, first_contact):
    response = logged_in(client, homeroom).post(complete(first_contact), FIRST_CALL, follow=True)
    html = response.content.decode()
    assert 'id="next-task-link"' not in html
    assert reverse("admin:service_servicetask_changelist") in html.split('id="next-task"')[1]


def test_the_page_shows_the_history_of_the_task(client, homeroom, first_contact):
    to = timezone.localtime(timezone.now() + datetime.timedelta(days=1))
    client = logged_in(client, homeroom)
    client.post(reschedule(first_contact), {"to": to.strftime("%Y-%m-%dT%H:%M"), "reason": "改到明天"})
    client.post(complete(first_contact), FIRST_CALL)
    response = client.get(page(first_contact))
    history = response.context["history"]
    assert [(record.history_type, record.status) for record in history] == [
        ("+", TaskStatus.OPEN),  # made
        ("~", TaskStatus.OPEN),  # moved
        ("~", TaskStatus.DONE),
    ]
    assert history[1].due_at > first_contact.created_at
    assert [record.history_user for record in history[1:]] == [homeroom.user, homeroom.user]
    assert client.get(reverse("admin:service_servicetask_history", args=[first_contact.pk])).status_code == 200


def test_the_task_page_reads_a_fixed_number_of_queries(
    client, homeroom, order, first_contact, django_assert_max_num_queries
):
    client = logged_in(client, homeroom)
    to = timezone.localtime(timezone.now() + datetime.timedelta(days=1))
    for n in range(3):
        client.post(
            reschedule(first_contact),
            {"to": (to + datetime.timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M"), "reason": f"第{n}次"},
        )
    with django_assert_max_num_queries(14):
        assert client.get(page(first_contact)).status_code == 200


def test_a_closed_task_says_why(client, homeroom, order):
    task = make_task(order, status=TaskStatus.CLOSED, closed_reason="学员已退费")
    html = logged_in(client, homeroom).get(page(task)).content.decode()
    assert "学员已退费" in html and 'id="outcome-form"' not in html


def test_outcome_saved_is_what_the_service_got(homeroom, order):
    task = make_task(order, kind=TaskKind.FEEDBACK)
    done = task_complete(task_id=task.pk, by=homeroom.user, outcome=Outcome(channel="visit", notes="面谈，已解决"))
    assert ServiceTask.objects.get(pk=done.pk).notes == "面谈，已解决"


def test_a_task_cannot_be_changed_by_reverting_to_an_earlier_version(client, homeroom, first_contact):
    """simple-history's version page saves the old version on POST (with no fields when the user
    may not change the model): the workbench's tasks take GET there only."""
    client = logged_in(client, homeroom)
    client.post(complete(first_contact), FIRST_CALL)
    made = first_contact.history.earliest("history_date")
    url = reverse("admin:service_servicetask_history", args=[first_contact.pk]) + f"{made.history_id}/"
    assert client.get(url).status_code == 200  # the old version may be read
    assert client.post(url, {}).status_code == 405
    first_contact.refresh_from_db()
    assert (first_contact.status, first_contact.minutes) == (TaskStatus.DONE, 5)
