"""The learning watch (学习看板) in the admin, and its CSV and XLSX export.

The page is the list page of the proxy ``LearningWatch`` (whose Meta carries the permission
``service.view_learning_watch``), so the admin index lists it for exactly those who hold it:
/admin/service/learningwatch/ (URL name ``admin:service_learning_watch``) and
/admin/service/learningwatch/export/<csv|xlsx>/ (``admin:service_learning_watch_export``). Both
read the same GET filters and sort and ask ``service.watch`` for the user's students (a teacher
hers, a supervisor her team and campus, a campus head her campus, operations every campus).
Anonymous visitors are sent to log in; anyone logged in without the permission gets 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from finance.exports import streamed_file
from finance.models import ExportFormat
from finance.writers import Column, Kind, Row, csv_chunks, xlsx_chunks
from orders.models import Course
from schoolops.admin_mixins import ReadOnlyAdminMixin, acting_user_with
from schoolops.models import Staff, User
from schoolops.scoping import visible_campus_ids

from ..models import LearningWatch
from ..watch import (
    DEFAULT_SORT,
    FLAG_LABELS,
    Flag,
    Group,
    Period,
    WatchFilters,
    WatchRow,
    sort_key,
    watch_courses,
    watch_page,
    watch_rows,
    watch_teachers,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

VIEW_LEARNING_WATCH = "service.view_learning_watch"
SORT_PARAM = "o"
PAGE_PARAM = "p"


class _TeacherField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Staff) -> str:
        return f"{obj.user.name or obj.user.username} · {obj.campus}"


class WatchFilterForm(forms.Form):
    """The watch's filters as a GET form; the teacher and course choices are the user's own."""

    teacher = _TeacherField(
        label=_("Homeroom teacher"), queryset=Staff.objects.none(), required=False, empty_label=_("All teachers")
    )
    course = forms.ModelChoiceField(
        label=_("Course"), queryset=Course.objects.none(), required=False, empty_label=_("All courses")
    )
    flag = forms.ChoiceField(
        label=_("Learning flags"),
        required=False,
        choices=[("", _("All students")), (Flag.ANY, _("Any flag")), *FLAG_LABELS.items()],
    )
    period = forms.ChoiceField(
        label=_("Which courses"),
        required=False,
        choices=[(Period.RUNNING, _("Running now")), (Period.ALL, _("All, ended and upcoming too"))],
    )
    group = forms.ChoiceField(
        label=_("Summary by"),
        required=False,
        choices=[(Group.TEACHER, _("Teacher")), (Group.COURSE, _("Course"))],
    )

    def __init__(self, data: QueryDict, *, user: User, now: Any) -> None:
        super().__init__(data)
        self.now = now
        teachers = cast(forms.ModelChoiceField, self.fields["teacher"])
        teachers.queryset = watch_teachers(user, today=timezone.localdate(now))
        period = Period.ALL if data.get("period") == Period.ALL else Period.RUNNING
        courses = cast(forms.ModelChoiceField, self.fields["course"])
        courses.queryset = watch_courses(user, period=period, now=now)
        self.sort = sort_key(data.get(SORT_PARAM))

    def filters(self) -> WatchFilters:
        data = self.cleaned_data
        teacher, course = data.get("teacher"), data.get("course")
        return WatchFilters(
            teacher_id=teacher.pk if teacher else None,
            course_id=course.pk if course else None,
            flag=data.get("flag") or "",
            period=data.get("period") or Period.RUNNING,
            group=data.get("group") or Group.TEACHER,
            sort=self.sort,
        )


# The table's columns: (sort key or "", heading).
COLUMNS: list[tuple[str, StrOrPromise]] = [
    ("student", _("Student")),
    ("course", _("Course")),
    ("teacher", _("Homeroom teacher")),
    ("completion", _("Completion")),
    ("watch", _("Watch progress")),
    ("homework", _("Homework rate")),
    ("score", _("Average score")),
    ("tests", _("Tests taken")),
    ("last", _("Last learning")),
    ("", _("Learning flags")),
]

# A number with two decimals in the files: finance's MONEY kind is exactly that (#,##0.00).
_NUMBER = Kind.MONEY
EXPORT_COLUMNS = [
    Column(_("Student number"), width=12),
    Column(_("Student"), width=12),
    Column(_("Course"), width=28),
    Column(_("Homeroom teacher"), width=12),
    Column(_("Lessons consumed"), Kind.INT, width=10),
    Column(_("Course lessons"), Kind.INT, width=10),
    Column(_("Completion (%)"), _NUMBER, width=10),
    Column(_("Course time elapsed (%)"), _NUMBER, width=10),
    Column(_("Watch progress (%)"), _NUMBER, width=10),
    Column(_("Homework submitted"), Kind.INT, width=10),
    Column(_("Homework rate (%)"), _NUMBER, width=10),
    Column(_("Tests taken"), Kind.INT, width=10),
    Column(_("Average score"), _NUMBER, width=10),
    Column(_("Last learning time"), Kind.DATETIME, width=18),
    Column(_("Last learning"), width=12),
    Column(_("Learning flags"), width=20),
]


def export_row(row: WatchRow) -> Row:
    return (
        row.student_no,
        row.student_name,
        row.course_name,
        row.teacher_name,
        row.lessons_consumed,
        row.lessons,
        row.completion,
        row.elapsed,
        row.watch_progress,
        row.homework_submitted,
        row.homework_rate,
        row.tests_taken,
        row.test_score_avg,
        row.last_learning_at,
        row.since,
        "、".join(str(label) for _flag, label in row.flags),
    )


def export_file_name(fmt: str, now: Any) -> str:
    return f"learning-watch-{timezone.localdate(now):%Y-%m-%d}.{fmt}"


def _query(params: QueryDict, **changes: Any) -> str:
    """The page's query string with ``changes`` (None drops a key), always back to page 1."""
    query = params.copy()
    query.pop(PAGE_PARAM, None)
    for key, value in changes.items():
        if value is None or value == "":
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"


@dataclass(frozen=True)
class Heading:
    label: StrOrPromise
    key: str
    url: str = ""
    direction: str = ""  # "asc" or "desc" when the table is sorted by this column


def _headings(params: QueryDict, sort: str) -> list[Heading]:
    headings = []
    for key, label in COLUMNS:
        if not key:
            headings.append(Heading(label, key))
            continue
        direction = ""
        if sort.removeprefix("-") == key:
            direction = "desc" if sort.startswith("-") else "asc"
        # A click on the sorted column turns it round; on another, sorts by it ascending.
        target = key if direction != "asc" else f"-{key}"
        headings.append(Heading(label, key, _query(params, **{SORT_PARAM: target}), direction))
    return headings


@admin.register(LearningWatch)
class LearningWatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """No list of rows to change: the list page is the watch."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_LEARNING_WATCH)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_LEARNING_WATCH)

    def _guarded(self, view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        """The admin's login check, but 403 (not the admin login page) for a logged-in user
        without the permission, a student as much as a finance clerk."""
        admin_view = self.admin_site.admin_view(view)

        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            acting_user_with(request, VIEW_LEARNING_WATCH)
            return admin_view(request, *args, **kwargs)

        return guarded

    def get_urls(self) -> list[URLPattern]:
        page = self._guarded(self.watch_view)
        return [
            path("", page, name="service_learning_watch"),
            # The name the admin index links a model's entry with.
            path("", page, name="service_learningwatch_changelist"),
            path("export/<str:fmt>/", self._guarded(self.export_view), name="service_learning_watch_export"),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return self.watch_view(request)

    def watch_view(self, request: HttpRequest) -> HttpResponse:
        user = acting_user_with(request, VIEW_LEARNING_WATCH)
        now = timezone.now()
        form = WatchFilterForm(request.GET, user=user, now=now)
        watch = None
        if form.is_valid():
            filters = form.filters()
            watch = watch_page(user=user, filters=filters, now=now, page_number=request.GET.get(PAGE_PARAM) or 1)
        params = request.GET
        query = _query(params).lstrip("?")
        # The thresholds the legend names: the user's campus's, unless she sees several campuses.
        staff: Staff | None = getattr(user, "staff", None)
        legend = None
        if watch is not None and staff is not None and visible_campus_ids(user) is not None:
            legend = watch.thresholds.for_campus(staff.campus_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Learning watch"),
            "form": form,
            "watch": watch,
            "headings": _headings(params, form.sort),
            "sort_is_default": form.sort == DEFAULT_SORT,
            "group_links": self._group_links(watch, params) if watch else [],
            "total_links": self._flag_links(params, None, watch) if watch else {},
            "pages": self._pages(watch, params) if watch else [],
            "settings": legend,
            "flag_label": FLAG_LABELS.get(watch.filters.flag, _("Any flag")) if watch and watch.filters.flag else "",
            "csv_url": self._export_url(ExportFormat.CSV, query),
            "xlsx_url": self._export_url(ExportFormat.XLSX, query),
        }
        return TemplateResponse(request, "admin/service/learning_watch.html", context)

    @staticmethod
    def _export_url(fmt: str, query: str) -> str:
        url = reverse("admin:service_learning_watch_export", args=[fmt])
        return f"{url}?{query}" if query else url

    @staticmethod
    def _flag_links(params: QueryDict, group: Any, watch: Any) -> dict[str, str]:
        """Links that show a group's (or everyone's) students with each flag."""
        narrowed: dict[str, Any] = {}
        if group is not None:
            narrowed = {"course" if watch.filters.group == Group.COURSE else "teacher": group.key}
        links = {"all": _query(params, flag=None, **narrowed)}
        for flag in (Flag.ANY, Flag.INACTIVE, Flag.BEHIND, Flag.LOW_SCORE):
            links[flag] = _query(params, flag=flag, **narrowed)
        return links

    def _group_links(self, watch: Any, params: QueryDict) -> list[tuple[Any, dict[str, str]]]:
        return [(group, self._flag_links(params, group, watch)) for group in watch.groups]

    @staticmethod
    def _pages(watch: Any, params: QueryDict) -> list[tuple[int, str]]:
        """Every page as (number, link); the admin's elided range stays short on a phone."""
        page = watch.page
        pages = []
        for number in page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1):
            if isinstance(number, int):
                query = params.copy()
                query[PAGE_PARAM] = str(number)
                pages.append((number, f"?{query.urlencode()}"))
            else:
                pages.append((0, ""))
        return pages

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponseBase:
        """The rows of the page's filters and sort, every page, as CSV (UTF-8 with BOM) or XLSX."""
        user = acting_user_with(request, VIEW_LEARNING_WATCH)
        if fmt not in (ExportFormat.CSV, ExportFormat.XLSX):
            raise Http404
        now = timezone.now()
        form = WatchFilterForm(request.GET, user=user, now=now)
        if not form.is_valid():
            errors = "; ".join(str(e) for errors in form.errors.values() for e in errors)
            return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
        rows: Iterator[Row] = (export_row(row) for row in watch_rows(user=user, filters=form.filters(), now=now))
        if fmt == ExportFormat.CSV:
            chunks = csv_chunks(EXPORT_COLUMNS, rows)
        else:
            chunks = xlsx_chunks(EXPORT_COLUMNS, rows, sheet_name=gettext("Learning watch"))
        return streamed_file(chunks, fmt=fmt, file_name=export_file_name(fmt, now))
