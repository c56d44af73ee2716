"""The homeroom teacher's workbench: the service task list with its tabs, and each task's page.

The list is ``ServiceTask``'s change list. Its tabs (``?due=today|overdue|upcoming|done``, today
by default, each with its count) cut the tasks the user may see (``tasks_visible_to``: her own and
those delegated to her; a supervisor's team and campus; a campus head's campus); supervisors and
campus heads filter by teacher (``?teacher=<staff pk>``; the overdue e-mail links to
``?teacher=<pk>&due=overdue``). Each row links to the task's page and to the student's page.

A task's page shows the student, her figures now (and when the task was made), the scripts of
the task's scenario with her data filled in, and, to those ``rules.may_work`` allows while the
task is open, the outcome form and the reschedule form. Each posts to its own URL and calls one
service (``task_complete``, ``task_reschedule``), which checks again after locking the task; a
refusal is shown next to its field and summed up above the page. After a task is done the page
offers the next open task of the queue.

URLs (names under the ``admin`` namespace):

- ``service_servicetask_changelist``  /admin/service/servicetask/  (the workbench)
- ``service_servicetask_change``      /admin/service/servicetask/<id>/change/  (the task page)
- ``service_servicetask_complete``    /admin/service/servicetask/<id>/complete/  (POST)
- ``service_servicetask_reschedule``  /admin/service/servicetask/<id>/reschedule/  (POST)
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from notifications.rendering import used_placeholders
from schoolops.admin_mixins import acting_user_with
from schoolops.models import StaffRole
from schoolops.scoping import CampusScopedAdminMixin

from ..models import ServiceTask, TaskKind, TaskStatus
from ..rules import may_work
from ..scripts import KIND_SCENARIO, score_text, script_render, script_values
from ..selectors import (
    Tab,
    enrollment_facts,
    next_open_task,
    scripts_for,
    tab_condition,
    tab_counts,
    task_history,
    task_page_for_staff,
    tasks_visible_to,
    teachers_visible_to,
    workbench_related,
)
from ..services import ServiceError, referral_code_for, task_complete, task_reschedule
from .forms import OutcomeForm, RescheduleForm, service_errors_to_form

SERVICE_CSS = {"all": ["css/admin_service.css"]}
WORK_PERMISSION = "service.change_servicetask"
DUE = "due"
TEACHER = "teacher"


# --- What the list and the page say ---------------------------------------------------------------


def due_words(due_at: datetime.datetime, *, now: datetime.datetime) -> str:
    """ "3 hours left" or "overdue by 2 days": the largest whole unit (days, hours, minutes)."""
    minutes = int(abs((due_at - now).total_seconds()) // 60)
    late = due_at < now
    if minutes >= 24 * 60:
        n = minutes // (24 * 60)
        text = (
            ngettext("Overdue by %(count)d day", "Overdue by %(count)d days", n)
            if late
            else ngettext("%(count)d day left", "%(count)d days left", n)
        )
    elif minutes >= 60:
        n = minutes // 60
        text = (
            ngettext("Overdue by %(count)d hour", "Overdue by %(count)d hours", n)
            if late
            else ngettext("%(count)d hour left", "%(count)d hours left", n)
        )
    else:
        n = minutes
        text = (
            ngettext("Overdue by %(count)d minute", "Overdue by %(count)d minutes", n)
            if late
            else ngettext("%(count)d minute left", "%(count)d minutes left", n)
        )
    return text % {"count": n}


def figures_line(facts: dict[str, Any]) -> str:
    """Her figures in one line ("completion 45% · homework 40% · tests avg 82 · 8 days without
    learning"); "" for a task made without them."""
    if not facts:
        return ""
    parts = [gettext("completion %(percent)s%%") % {"percent": facts.get("completion", "0")}]
    if facts.get("homework_rate"):  # "" before her first lesson
        parts.append(gettext("homework %(percent)s%%") % {"percent": facts["homework_rate"]})
    if facts.get("tests_taken") and facts.get("test_score_avg"):
        parts.append(gettext("tests avg %(score)s") % {"score": score_text(facts["test_score_avg"])})
    if facts.get("rating"):
        parts.append(gettext("rating %(rating)s/5") % {"rating": facts["rating"]})
    days = facts.get("days_inactive")
    if days is not None and days != "":
        parts.append(gettext("%(days)s days without learning") % {"days": days})
    return " · ".join(parts)


def _today(now: datetime.datetime | None = None) -> datetime.date:
    return timezone.localdate(now or timezone.now())


def tab_of(request: HttpRequest) -> str:
    value = request.GET.get(DUE, "")
    return value if value in Tab.values else Tab.TODAY


# --- The list ------------------------------------------------------------------------------------


class WorkbenchChangeList(ChangeList):
    """The change list cut by the chosen tab (``?due=``), which is not a field lookup."""

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.tab = tab_of(request)
        self.now = timezone.now()
        super().__init__(request, *args, **kwargs)

    def get_filters_params(self, params: Any = None) -> Any:
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(DUE, None)
        return lookup_params

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[ServiceTask]:
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.filter(tab_condition(self.tab, now=self.now))


class TeacherFilter(admin.SimpleListFilter):
    """By homeroom teacher, for whoever sees more than one teacher's tasks."""

    title = _("homeroom teacher")
    parameter_name = TEACHER

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        teachers = list(teachers_visible_to(user=request.user, today=_today()))  # type: ignore[arg-type]  # staff: a User
        if len(teachers) < 2:
            return []
        return [(str(teacher.pk), teacher.name) for teacher in teachers]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ServiceTask]) -> QuerySet[ServiceTask]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(teacher_id=int(value))
        return queryset


def _teacher_param(request: HttpRequest) -> int | None:
    value = request.GET.get(TEACHER, "")
    return int(value) if value.isdigit() else None


@admin.register(ServiceTask)
class ServiceTaskAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("task_column", "student_column", "course_column", "due_column", "figures_column")
    list_display_links = None
    list_filter = (TeacherFilter,)
    list_select_related = False  # the page's rows get their student, course and teacher by workbench_related
    list_per_page = 50
    show_full_result_count = False
    search_fields = ("student__user__name", "student__user__phone", "student__student_no")
    search_help_text = _("The student's name, phone or student number.")
    actions = None
    change_list_template = "admin/service/servicetask/change_list.html"

    class Media:
        css = SERVICE_CSS

    # --- Permissions: tasks change only through the page's forms (the services, which the views
    # reach with ``service.change_servicetask``), never through a model form: not the change page,
    # nor simple-history's "revert to this version".

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ServiceTask | None = None) -> bool:
        return False

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        return super().history_form_view(request, object_id, version_id, extra_context=extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: ServiceTask | None = None) -> bool:
        return False

    # --- The list

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServiceTask]:
        tasks = tasks_visible_to(user=request.user, today=_today())  # type: ignore[arg-type]  # staff: a User
        return tasks.prefetch_related(*workbench_related()).order_by(*self.get_ordering(request))

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        if tab_of(request) == Tab.DONE:
            return ("-done_at", "-pk")
        return ("due_at", "pk")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return WorkbenchChangeList

    def get_list_display(self, request: HttpRequest) -> tuple[str, ...]:
        staff = getattr(request.user, "staff", None)
        if staff is not None and staff.role == StaffRole.HOMEROOM:
            return tuple(self.list_display)
        return (*self.list_display, "teacher_column")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        now = timezone.now()
        tasks = tasks_visible_to(user=request.user, today=_today(now))  # type: ignore[arg-type]  # staff: a User
        teacher_id = _teacher_param(request)
        if teacher_id is not None:
            tasks = tasks.filter(teacher_id=teacher_id)
        counts = tab_counts(tasks, now=now)
        current = tab_of(request)
        kept = {key: value for key, value in request.GET.items() if key in (TEACHER, "q")}
        tabs = [
            {
                "key": key,
                "label": label,
                "count": counts[key],
                "url": "?" + urlencode({**kept, DUE: key}),
                "selected": key == current,
            }
            for key, label in Tab.choices
        ]
        staff = getattr(request.user, "staff", None)
        mine = staff is not None and staff.role == StaffRole.HOMEROOM
        context = {
            "title": gettext("My workbench") if mine else gettext("Service workbench"),
            "tabs": tabs,
            "tab": current,
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    @admin.display(description=_("task"), ordering="kind")
    def task_column(self, obj: ServiceTask) -> SafeString:
        url = reverse("admin:service_servicetask_change", args=[obj.pk])
        flag = (
            format_html(' <span class="service-escalated">{}</span>', gettext("supervisor told"))
            if obj.escalated_at and obj.status == TaskStatus.OPEN
            else ""
        )
        return format_html('<a class="service-task-link" href="{}">{}</a>{}', url, obj.get_kind_display(), flag)

    @admin.display(description=_("student"), ordering="student__user__name")
    def student_column(self, obj: ServiceTask) -> SafeString:
        student = obj.student
        url = reverse("admin:service_student", args=[student.pk])
        phone = (
            format_html('<br><a class="quiet" href="tel:{}">{}</a>', student.phone, student.phone)
            if student.phone
            else ""
        )
        return format_html('<a class="service-student-link" href="{}">{}</a>{}', url, student.name, phone)

    @admin.display(description=_("course"), ordering="enrollment__order__course__name")
    def course_column(self, obj: ServiceTask) -> SafeString:
        name = obj.enrollment.order.course.name
        return format_html('<span class="service-course" title="{}">{}</span>', name, name)

    @admin.display(description=_("due"), ordering="due_at")
    def due_column(self, obj: ServiceTask) -> SafeString:
        if obj.status == TaskStatus.DONE and obj.done_at:
            return format_html(
                '<span class="service-done">{}</span><br><span class="quiet">{}</span>',
                gettext("Done"),
                f"{timezone.localtime(obj.done_at):%m-%d %H:%M}",
            )
        if obj.status == TaskStatus.CLOSED:
            return format_html('<span class="quiet">{}</span>', gettext("Closed"))
        now = timezone.now()
        css = "service-overdue" if obj.due_at < now else "service-left"
        return format_html(
            '<span class="{}">{}</span><br><span class="quiet">{}</span>',
            css,
            due_words(obj.due_at, now=now),
            f"{timezone.localtime(obj.due_at):%m-%d %H:%M}",
        )

    @admin.display(description=_("her figures"))
    def figures_column(self, obj: ServiceTask) -> SafeString:
        line = figures_line(obj.facts)
        if not line:
            return format_html('<span class="quiet">{}</span>', "—")
        return format_html('<span class="service-figures" title="{}">{}</span>', line, line)

    @admin.display(description=_("homeroom teacher"), ordering="teacher__user__name")
    def teacher_column(self, obj: ServiceTask) -> str:
        return obj.teacher.name

    # --- The task page and its forms

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        own = [
            path("<int:task_id>/complete/", view(self.complete_view), name="service_servicetask_complete"),
            path("<int:task_id>/reschedule/", view(self.reschedule_view), name="service_servicetask_reschedule"),
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """The task page (read only; its forms post to their own URLs)."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        return self.task_page(request, self._task(request, object_id))

    def complete_view(self, request: HttpRequest, task_id: int) -> HttpResponseBase:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        actor = acting_user_with(request, WORK_PERMISSION)
        task = self._task(request, str(task_id))
        form = OutcomeForm(request.POST, kind=task.kind)
        if form.is_valid():
            try:
                done = task_complete(task_id=task.pk, by=actor, outcome=form.outcome())
            except ServiceError as exc:
                service_errors_to_form(form, exc)
            else:
                messages.success(
                    request,
                    gettext("Done: %(task)s for %(student)s.")
                    % {"task": done.get_kind_display(), "student": task.student.name},
                )
                return redirect("admin:service_servicetask_change", task.pk)
        return self.task_page(request, self._task(request, str(task_id)), outcome_form=form)

    def reschedule_view(self, request: HttpRequest, task_id: int) -> HttpResponseBase:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        actor = acting_user_with(request, WORK_PERMISSION)
        task = self._task(request, str(task_id))
        form = RescheduleForm(request.POST)
        if form.is_valid():
            try:
                moved = task_reschedule(
                    task_id=task.pk, by=actor, to=form.cleaned_data["to"], reason=form.cleaned_data["reason"]
                )
            except ServiceError as exc:
                service_errors_to_form(form, exc)
            else:
                messages.success(
                    request,
                    gettext("The task is now due %(at)s.")
                    % {"at": f"{timezone.localtime(moved.due_at):%Y-%m-%d %H:%M}"},
                )
                return redirect("admin:service_servicetask_change", task.pk)
        return self.task_page(request, self._task(request, str(task_id)), reschedule_form=form)

    def _task(self, request: HttpRequest, object_id: str) -> ServiceTask:
        """The task with what its page shows: 403 without the permission to see tasks, 404 for a
        task the user may not see."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        task = (
            task_page_for_staff(user=request.user, task_id=int(object_id), today=_today())  # type: ignore[arg-type]  # staff: a User
            if object_id.isdigit()
            else None
        )
        if task is None:
            raise Http404
        return task

    def task_page(
        self,
        request: HttpRequest,
        task: ServiceTask,
        *,
        outcome_form: OutcomeForm | None = None,
        reschedule_form: RescheduleForm | None = None,
    ) -> TemplateResponse:
        now = timezone.now()
        user = request.user
        staff = getattr(user, "staff", None)
        can_work = (
            task.status == TaskStatus.OPEN
            and user.has_perm(WORK_PERMISSION)
            and may_work(task, staff, today=_today(now))
        )
        if can_work:
            outcome_form = outcome_form or OutcomeForm(kind=task.kind)
            reschedule_form = reschedule_form or RescheduleForm(
                initial={"to": timezone.localtime(max(task.due_at, now) + datetime.timedelta(days=1))}
            )
        enrollment = task.enrollment
        course = enrollment.order.course
        facts_now = enrollment_facts(enrollment, now=now)
        if facts_now.get("days_inactive") is None and task.facts.get("days_inactive") is not None:
            facts_now["days_inactive"] = task.facts["days_inactive"]  # never learned: days since the course began
        scripts = scripts_for(KIND_SCENARIO.get(task.kind, task.kind))
        used = used_placeholders(*(script.body for script in scripts))
        values = script_values(
            student_name=task.student.name,
            teacher_name=task.teacher.name,
            course=course.name,
            starts=course.starts_at,
            ends=course.ends_at,
            facts=facts_now,
            referral_code=lambda: referral_code_for(student=task.student).code,
            language=scripts[0].language if scripts else "zh-hans",
            used=used,
        )
        bound = [form for form in (outcome_form, reschedule_form) if form is not None and form.is_bound]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{task.get_kind_display()} · {task.student.name}",
            "original": task,
            "task": task,
            "course": course,
            "enrollment": enrollment,
            "facts_now": facts_now,
            "facts_then": task.facts,
            "figures_then": figures_line(task.facts),
            "due_words": due_words(task.due_at, now=now) if task.status == TaskStatus.OPEN else "",
            "overdue": task.status == TaskStatus.OPEN and task.due_at < now,
            "scripts": [(script, script_render(script.body, values)) for script in scripts],
            "can_work": can_work,
            "outcome_form": outcome_form,
            "reschedule_form": reschedule_form,
            "error_summary": error_summary(bound),
            "reschedules": task.reschedule_rows,  # type: ignore[attr-defined]  # task_page_for_staff's prefetch
            "history": task_history(task),
            "next_task": (
                next_open_task(user=user, after=task, today=_today(now))  # type: ignore[arg-type]  # staff: a User
                if task.status != TaskStatus.OPEN
                else None
            ),
            "student_url": reverse("admin:service_student", args=[task.student_id]),
            "is_reminder": task.kind == TaskKind.LESSON_REMINDER,
            "media": self.media + (outcome_form.media if outcome_form is not None else forms.Media()),
        }
        return TemplateResponse(request, "admin/service/servicetask/page.html", context)


def error_summary(forms_: Sequence[forms.Form]) -> list[dict[str, str]]:
    """Every error of the bound forms, labelled and linked to its field, for the box above the page."""
    rows = []
    for form in forms_:
        for name, errors in form.errors.items():
            field = form.fields.get(name)
            label = str(field.label) if field is not None and field.label else ""
            anchor = form[name].auto_id if field is not None else ""
            for message in errors:
                rows.append({"label": label, "message": str(message), "anchor": anchor})
    return rows
