"""The learning watch (学习看板, seed 003 "学习数据看板"): the students a user may follow, per teacher
and per course, with their figures and flags, for the admin page and its CSV/XLSX export.

One queryset carries everything, computed by the database so that it can be filtered, sorted,
counted and summed without a query per row:

- completion = lessons consumed ÷ the course's lessons (at most 100 %);
- homework rate = homework handed in ÷ lessons consumed: homework per lesson she has had (a
  student who has had none has no rate), so it measures diligence while completion measures pace;
- time elapsed = the share of the course's time (start to end) gone by ``now``, 0 to 100 %;
- inactive (不活跃): the course runs and she has not learned for the campus's ``inactive_days``,
  counted as the planner counts it (from her last learning, else from the later of the course's
  start and her payment), so the flag and the inactive task agree;
- falling behind (进度落后): completion more than the campus's ``behind_points`` below the time
  elapsed;
- low scores (低分): she has taken a test and her average is below the campus's ``low_score``.

A campus's thresholds come from its ``ServiceSettings`` (the defaults without a row), put into the
query as one ``CASE`` over the campuses that have settings. Who sees whom (``watch_scope``): a
homeroom teacher her students (and those of a colleague she stands in for today), a supervisor her
campus and her team, a campus head her campus, operations and superusers every campus.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Combinable, OrderBy
from django.db.models.functions import Cast, Coalesce, Greatest, Least
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from orders.models import ACTIVE_ORDER_STATUSES, Course
from schoolops.models import Staff, StaffRole
from schoolops.scoping import visible_campus_ids
from students.models import Enrollment

from .models import ServiceSettings

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from schoolops.models import User

PER_PAGE = 50


class Flag:
    INACTIVE = "inactive"
    BEHIND = "behind"
    LOW_SCORE = "low_score"
    ANY = "any"


FLAG_LABELS: dict[str, StrOrPromise] = {
    Flag.INACTIVE: _("Inactive learner"),
    Flag.BEHIND: _("Falling behind"),
    Flag.LOW_SCORE: _("Low scores"),
}
# The annotation that holds each flag.
FLAG_FIELDS = {Flag.INACTIVE: "is_inactive", Flag.BEHIND: "is_behind", Flag.LOW_SCORE: "is_low_score"}


class Period:
    RUNNING = "running"
    ALL = "all"


class Group:
    TEACHER = "teacher"
    COURSE = "course"


# The sort keys a request may name (``?o=completion`` or ``?o=-completion``), and what each sorts by.
# Anything else falls back to ``DEFAULT_SORT``.
SORTS: dict[str, str] = {
    "student": "order__student__user__name",
    "course": "order__course__name",
    "teacher": "homeroom_teacher__user__name",
    "completion": "completion",
    "watch": "watch_progress",
    "homework": "homework_rate",
    "score": "test_score_avg",
    "tests": "tests_taken",
    "last": "last_learning_at",
}
# Longest without learning first: the students who most need a call.
DEFAULT_SORT = "last"


def sort_key(raw: str | None) -> str:
    """``raw`` if it names a sortable column (with an optional leading ``-``), else the default."""
    if raw and raw.removeprefix("-") in SORTS:
        return raw
    return DEFAULT_SORT


def _ordering(key: str) -> list[OrderBy | str]:
    descending = key.startswith("-")
    column = F(SORTS[key.removeprefix("-")])
    if key.removeprefix("-") == "last":
        # Never learned is the longest without learning: first when ascending, last when descending.
        order = column.desc(nulls_last=True) if descending else column.asc(nulls_first=True)
    else:
        # No homework rate or no test yet says nothing: always after the students with a figure.
        order = column.desc(nulls_last=True) if descending else column.asc(nulls_last=True)
    return [order, "pk"]


@dataclass(frozen=True)
class WatchFilters:
    teacher_id: int | None = None
    course_id: int | None = None
    flag: str = ""
    period: str = Period.RUNNING
    group: str = Group.TEACHER
    sort: str = DEFAULT_SORT


# --- Who sees whom


@dataclass(frozen=True)
class _Scope:
    enrollments: Q
    teachers: Q


def _scope(user: User, *, today: datetime.date) -> _Scope | None:
    """The enrollments and homeroom teachers ``user`` may watch; None for every campus."""
    if visible_campus_ids(user) is None:
        return None
    staff: Staff | None = getattr(user, "staff", None)
    if staff is None:
        return _Scope(Q(pk__in=[]), Q(pk__in=[]))
    if staff.role == StaffRole.HOMEROOM:
        # Hers, and those of a colleague who delegated to her for today.
        standing_in = Q(delegate_id=staff.pk, delegate_from__lte=today, delegate_until__gte=today)
        teachers = Q(pk=staff.pk) | standing_in
        enrollments = Q(homeroom_teacher_id=staff.pk) | Q(
            homeroom_teacher__delegate_id=staff.pk,
            homeroom_teacher__delegate_from__lte=today,
            homeroom_teacher__delegate_until__gte=today,
        )
        return _Scope(enrollments, teachers)
    if staff.role == StaffRole.SUPERVISOR:
        return _Scope(
            Q(order__course__campus_id=staff.campus_id) | Q(homeroom_teacher__manager_id=staff.pk),
            Q(campus_id=staff.campus_id) | Q(manager_id=staff.pk),
        )
    return _Scope(Q(order__course__campus_id=staff.campus_id), Q(campus_id=staff.campus_id))


def watch_scope(user: User, *, today: datetime.date) -> Q | None:
    """The enrollments ``user`` may see on the watch, as a filter (None: every enrollment)."""
    scope = _scope(user, today=today)
    return None if scope is None else scope.enrollments


def watch_teachers(user: User, *, today: datetime.date) -> QuerySet[Staff]:
    """The homeroom teachers the user may narrow the watch to."""
    teachers = Staff.objects.filter(role=StaffRole.HOMEROOM).select_related("user", "campus")
    scope = _scope(user, today=today)
    if scope is not None:
        teachers = teachers.filter(scope.teachers)
    return teachers.order_by("campus__code", "user__name", "pk")


def _period(queryset: QuerySet[Any], period: str, *, now: datetime.datetime, prefix: str = "") -> QuerySet[Any]:
    if period == Period.ALL:
        return queryset
    return queryset.filter(**{f"{prefix}starts_at__lte": now, f"{prefix}ends_at__gt": now})


def watch_courses(user: User, *, period: str, now: datetime.datetime) -> QuerySet[Course]:
    """The courses with a student the user may watch (running ones unless ``period`` is all)."""
    enrollments = Enrollment.objects.filter(order__course=OuterRef("pk"), order__status__in=ACTIVE_ORDER_STATUSES)
    scope = watch_scope(user, today=timezone.localdate(now))
    if scope is not None:
        enrollments = enrollments.filter(scope)
    courses = _period(Course.objects.filter(Exists(enrollments)), period, now=now)
    return courses.order_by("name", "pk")


# --- The figures, in SQL


class EpochSeconds(Func):
    """Seconds since 1970 of a date-time column, as a float (PostgreSQL and SQLite)."""

    output_field = FloatField()
    template = "CAST(EXTRACT(EPOCH FROM %(expressions)s) AS double precision)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # Django keeps date-times in SQLite as UTC text; julianday reads it, 2440587.5 is 1970-01-01.
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _percent(part: Combinable, whole: Combinable) -> Combinable:
    """``part`` ÷ ``whole`` in percent, at most 100 (``whole`` never 0 where it is used)."""
    ratio = Cast(part, FloatField()) * Value(100.0) / Cast(whole, FloatField())
    return Least(Value(100.0), ratio, output_field=FloatField())


def _by_campus(values: dict[int, Any], default: Any, output_field: Any) -> Any:
    """A campus's value in the query: one CASE over the campuses with settings of their own."""
    if not values:
        return Value(default, output_field=output_field)
    return Case(
        *(When(order__course__campus_id=campus_id, then=Value(value)) for campus_id, value in values.items()),
        default=Value(default),
        output_field=output_field,
    )


@dataclass(frozen=True)
class Thresholds:
    """The settings the flags use, per campus with settings, and the defaults for the rest."""

    by_campus: dict[int, ServiceSettings]
    default: ServiceSettings

    def for_campus(self, campus_id: int) -> ServiceSettings:
        return self.by_campus.get(campus_id, self.default)


def watch_thresholds() -> Thresholds:
    """Every campus's service settings (a supervisor's team may reach beyond her campus; campuses
    are few)."""
    return Thresholds(by_campus={s.campus_id: s for s in ServiceSettings.objects.all()}, default=ServiceSettings())


def _annotated(queryset: QuerySet[Enrollment], *, now: datetime.datetime, thresholds: Thresholds) -> QuerySet[Any]:
    settings = thresholds.by_campus.values()
    default = thresholds.default
    inactive_cutoff = _by_campus(
        {s.campus_id: now - datetime.timedelta(days=s.inactive_days) for s in settings},
        now - datetime.timedelta(days=default.inactive_days),
        DateTimeField(),
    )
    behind_points = _by_campus(
        {s.campus_id: float(s.behind_points) for s in settings}, float(default.behind_points), FloatField()
    )
    low_score = _by_campus({s.campus_id: s.low_score for s in settings}, default.low_score, IntegerField())
    start = EpochSeconds("order__course__starts_at")
    length = Greatest(EpochSeconds("order__course__ends_at") - start, Value(1.0), output_field=FloatField())
    elapsed = (Value(now.timestamp()) - start) * Value(100.0) / length
    running = Q(order__course__starts_at__lte=now, order__course__ends_at__gt=now)
    return queryset.annotate(
        completion=_percent(F("lessons_consumed"), F("order__course__lessons")),
        homework_rate=Case(
            When(lessons_consumed=0, then=Value(None)),
            default=_percent(F("homework_submitted"), F("lessons_consumed")),
            output_field=FloatField(),
        ),
        elapsed=Greatest(Value(0.0), Least(Value(100.0), elapsed), output_field=FloatField()),
        since=Coalesce("last_learning_at", Greatest("order__course__starts_at", "order__paid_at")),
    ).annotate(
        is_inactive=ExpressionWrapper(running & Q(since__lte=inactive_cutoff), output_field=BooleanField()),
        is_behind=ExpressionWrapper(Q(completion__lt=F("elapsed") - behind_points), output_field=BooleanField()),
        is_low_score=ExpressionWrapper(Q(tests_taken__gt=0, test_score_avg__lt=low_score), output_field=BooleanField()),
    )


def _flagged(flag: str) -> Q | None:
    if flag == Flag.ANY:
        return Q(is_inactive=True) | Q(is_behind=True) | Q(is_low_score=True)
    if flag in FLAG_FIELDS:
        return Q(**{FLAG_FIELDS[flag]: True})
    return None


def _base(*, user: User, filters: WatchFilters, now: datetime.datetime, thresholds: Thresholds) -> QuerySet[Any]:
    """The enrollments in view with their figures, narrowed by teacher, course and period (not by flag)."""
    queryset = Enrollment.objects.filter(order__status__in=ACTIVE_ORDER_STATUSES)
    scope = watch_scope(user, today=timezone.localdate(now))
    if scope is not None:
        queryset = queryset.filter(scope)
    queryset = _period(queryset, filters.period, now=now, prefix="order__course__")
    if filters.teacher_id is not None:
        queryset = queryset.filter(homeroom_teacher_id=filters.teacher_id)
    if filters.course_id is not None:
        queryset = queryset.filter(order__course_id=filters.course_id)
    return _annotated(queryset, now=now, thresholds=thresholds)


ROW_FIELDS = (
    "pk",
    "order__student_id",
    "order__student__student_no",
    "order__student__user__name",
    "order__student__user__username",
    "order__course_id",
    "order__course__name",
    "order__course__lessons",
    "order__course__campus_id",
    "homeroom_teacher_id",
    "homeroom_teacher__user__name",
    "homeroom_teacher__user__username",
    "lessons_consumed",
    "watch_progress",
    "homework_submitted",
    "tests_taken",
    "test_score_avg",
    "last_learning_at",
    "completion",
    "homework_rate",
    "elapsed",
    "is_inactive",
    "is_behind",
    "is_low_score",
)


def _rows(*, user: User, filters: WatchFilters, now: datetime.datetime, thresholds: Thresholds) -> QuerySet[Any]:
    queryset = _base(user=user, filters=filters, now=now, thresholds=thresholds)
    flagged = _flagged(filters.flag)
    if flagged is not None:
        queryset = queryset.filter(flagged)
    return queryset.order_by(*_ordering(sort_key(filters.sort))).values(*ROW_FIELDS)


# --- What the page and the export show


def _rounded(value: float | Decimal | None, places: str = "1") -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def since_text(last: datetime.datetime | None, now: datetime.datetime) -> str:
    """How long ago she last learned, as a teacher says it: "3 天前", "5 小时前", "刚刚"."""
    if last is None:
        return str(_("never learned"))
    gap = now - last
    if gap < datetime.timedelta(hours=1):
        return str(_("just now"))
    if gap < datetime.timedelta(days=1):
        hours = int(gap.total_seconds() // 3600)
        return ngettext("%(count)d hour ago", "%(count)d hours ago", hours) % {"count": hours}
    return ngettext("%(count)d day ago", "%(count)d days ago", gap.days) % {"count": gap.days}


def _name(values: dict[str, Any], prefix: str) -> str:
    return values[f"{prefix}__user__name"] or values[f"{prefix}__user__username"]


@dataclass(frozen=True)
class WatchRow:
    """One student in one course, as the page and the export show her."""

    enrollment_id: int
    student_id: int
    student_no: str
    student_name: str
    course_id: int
    course_name: str
    teacher_id: int
    teacher_name: str
    lessons_consumed: int
    lessons: int
    completion: Decimal
    elapsed: Decimal
    watch_progress: Decimal
    homework_submitted: int
    homework_rate: Decimal | None
    tests_taken: int
    test_score_avg: Decimal | None
    last_learning_at: datetime.datetime | None
    since: str
    inactive: bool
    behind: bool
    low_score: bool

    @classmethod
    def of(cls, values: dict[str, Any], *, now: datetime.datetime) -> WatchRow:
        return cls(
            enrollment_id=values["pk"],
            student_id=values["order__student_id"],
            student_no=values["order__student__student_no"],
            student_name=_name(values, "order__student"),
            course_id=values["order__course_id"],
            course_name=values["order__course__name"],
            teacher_id=values["homeroom_teacher_id"],
            teacher_name=_name(values, "homeroom_teacher"),
            lessons_consumed=values["lessons_consumed"],
            lessons=values["order__course__lessons"],
            completion=_rounded(values["completion"]) or Decimal(0),
            elapsed=_rounded(values["elapsed"]) or Decimal(0),
            watch_progress=values["watch_progress"],
            homework_submitted=values["homework_submitted"],
            homework_rate=_rounded(values["homework_rate"]),
            tests_taken=values["tests_taken"],
            test_score_avg=values["test_score_avg"],
            last_learning_at=values["last_learning_at"],
            since=since_text(values["last_learning_at"], now),
            inactive=bool(values["is_inactive"]),
            behind=bool(values["is_behind"]),
            low_score=bool(values["is_low_score"]),
        )

    @property
    def flags(self) -> list[tuple[str, StrOrPromise]]:
        raised = {Flag.INACTIVE: self.inactive, Flag.BEHIND: self.behind, Flag.LOW_SCORE: self.low_score}
        return [(flag, label) for flag, label in FLAG_LABELS.items() if raised[flag]]


def _average(total: Decimal, count: int, places: str = "0.1") -> Decimal | None:
    return _rounded(total / count, places) if count else None


@dataclass(frozen=True)
class WatchGroup:
    """The summary of one teacher's or one course's students (``key`` None: everyone in view).
    Sums are kept beside the counts so that the overall averages are exact, not of rounded ones."""

    key: int | None
    label: str
    students: int
    inactive: int
    behind: int
    low_score: int
    flagged: int
    completion_sum: Decimal = Decimal(0)
    homework_sum: Decimal = Decimal(0)
    # How many students have a homework rate (a lesson had) and a score (a test taken).
    with_homework_rate: int = 0
    score_sum: Decimal = Decimal(0)
    with_score: int = 0

    @property
    def completion(self) -> Decimal | None:
        return _average(self.completion_sum, self.students)

    @property
    def homework_rate(self) -> Decimal | None:
        return _average(self.homework_sum, self.with_homework_rate)

    @property
    def score(self) -> Decimal | None:
        """The average of the students' average scores (each student counts once)."""
        return _average(self.score_sum, self.with_score, "0.01")

    def count_for(self, flag: str) -> int:
        return {
            Flag.INACTIVE: self.inactive,
            Flag.BEHIND: self.behind,
            Flag.LOW_SCORE: self.low_score,
            Flag.ANY: self.flagged,
        }.get(flag, self.students)


def _decimal(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(str(value))


def _total(groups: Sequence[WatchGroup]) -> WatchGroup:
    return WatchGroup(
        key=None,
        label=str(_("Everyone in view")),
        students=sum(g.students for g in groups),
        inactive=sum(g.inactive for g in groups),
        behind=sum(g.behind for g in groups),
        low_score=sum(g.low_score for g in groups),
        flagged=sum(g.flagged for g in groups),
        completion_sum=sum((g.completion_sum for g in groups), Decimal(0)),
        homework_sum=sum((g.homework_sum for g in groups), Decimal(0)),
        with_homework_rate=sum(g.with_homework_rate for g in groups),
        score_sum=sum((g.score_sum for g in groups), Decimal(0)),
        with_score=sum(g.with_score for g in groups),
    )


def _groups(queryset: QuerySet[Any], group: str) -> list[WatchGroup]:
    """One query: per teacher (or course), the students, the flagged counts and the sums."""
    if group == Group.COURSE:
        keys: tuple[str, ...] = ("order__course_id", "order__course__name")
    else:
        keys = ("homeroom_teacher_id", "homeroom_teacher__user__name", "homeroom_teacher__user__username")
    scored = Q(tests_taken__gt=0, test_score_avg__isnull=False)
    rows = (
        queryset.order_by()
        .values(*keys)
        .annotate(
            students=Count("pk"),
            n_inactive=Count("pk", filter=Q(is_inactive=True)),
            n_behind=Count("pk", filter=Q(is_behind=True)),
            n_low_score=Count("pk", filter=Q(is_low_score=True)),
            n_flagged=Count("pk", filter=Q(is_inactive=True) | Q(is_behind=True) | Q(is_low_score=True)),
            sum_completion=Sum("completion"),
            sum_homework=Sum("homework_rate"),
            n_homework=Count("homework_rate"),
            sum_score=Sum("test_score_avg", filter=scored),
            n_score=Count("pk", filter=scored),
        )
    )
    groups = [
        WatchGroup(
            key=row[keys[0]],
            label=row[keys[1]] or (row[keys[2]] if len(keys) > 2 else ""),
            students=row["students"],
            inactive=row["n_inactive"],
            behind=row["n_behind"],
            low_score=row["n_low_score"],
            flagged=row["n_flagged"],
            completion_sum=_decimal(row["sum_completion"]),
            homework_sum=_decimal(row["sum_homework"]),
            with_homework_rate=row["n_homework"],
            score_sum=_decimal(row["sum_score"]),
            with_score=row["n_score"],
        )
        for row in rows
    ]
    return sorted(groups, key=lambda g: (g.label, g.key or 0))


class _CountedPaginator(Paginator):
    """A paginator told its count (the summary already knows it) instead of asking the database."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@dataclass
class WatchPage:
    filters: WatchFilters
    thresholds: Thresholds
    groups: list[WatchGroup]
    total: WatchGroup
    page: Page
    rows: list[WatchRow] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.total.count_for(self.filters.flag)


def watch_page(
    *, user: User, filters: WatchFilters, now: datetime.datetime, page_number: Any = 1, per_page: int = PER_PAGE
) -> WatchPage:
    """The summary and one page of students: three queries (settings, summary, page) whatever the
    page holds. The summary is over the students in view before the flag filter, so its flag counts
    say how many each filter would show, and the page's count comes from it."""
    thresholds = watch_thresholds()
    base = _base(user=user, filters=filters, now=now, thresholds=thresholds)
    groups = _groups(base, filters.group)
    total = _total(groups)
    rows = _rows(user=user, filters=filters, now=now, thresholds=thresholds)
    paginator = _CountedPaginator(rows, per_page, count=total.count_for(filters.flag))
    page = paginator.get_page(page_number)
    result = WatchPage(filters=filters, thresholds=thresholds, groups=groups, total=total, page=page)
    result.rows = [WatchRow.of(values, now=now) for values in page.object_list]
    return result


def watch_rows(*, user: User, filters: WatchFilters, now: datetime.datetime) -> Iterator[WatchRow]:
    """Every student in view with the filters and sort of the page (for the export), streamed."""
    thresholds = watch_thresholds()
    for values in _rows(user=user, filters=filters, now=now, thresholds=thresholds).iterator(chunk_size=2000):
        yield WatchRow.of(values, now=now)
