"""The dashboard's student-service section (学员服务): the homeroom teachers' weekly service metrics
(``service.metrics``) for the campuses of the view, as cards against the week before, a table per
teacher (and per campus when the view has several), and the last eight weeks as a trend (drawn by
static/analytics/student_service.js from the page's ``json_script``).

The metrics are weekly (Monday to Sunday, Asia/Shanghai): the section shows the week of the
period's last day (this week so far, when the period ends today). Only the period's end and the
campus filter apply; the other filters are about refunds. The weekly review's service part
(``service_review_figures``, ``service_review_text``) reads the same figures.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from service.metrics import (
    FOLLOW_UP_DAYS,
    ServiceFigures,
    ServiceMetrics,
    TrendPoint,
    service_figures_plain,
    service_metrics,
    service_trend,
    week_start_of,
)

from .desk import DeskCard, change_trend
from .presentation import Table, TableRow, count, percent, point_change
from .selectors import Filters, campus_ids_in_view

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from schoolops.models import User

# Who sees the section: the dashboard's readers who may also read service tasks.
VIEW_SERVICE = "service.view_servicetask"


@dataclass(frozen=True)
class ServiceSection:
    metrics: ServiceMetrics
    previous: ServiceFigures
    trend: list[TrendPoint]
    cards: list[DeskCard]
    tables: dict[str, Table]  # teachers, campuses (several campuses only), trend
    charts: dict[str, Any]

    @property
    def follow_up_days(self) -> int:
        return FOLLOW_UP_DAYS


# --- Figures as text --------------------------------------------------------------------------------


def _score(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _of(rate: Decimal | None, part: int, whole: int) -> str:
    """66.7% (2/3); "—" with nothing to count."""
    return "—" if not whole else f"{percent(rate)} ({part}/{whole})"


def first_contact_label(hours: tuple[int, ...]) -> str:
    if len(hours) == 1:
        return _("First contact within %(hours)s h") % {"hours": hours[0]}
    return _("First contact in time (each campus's hours)")


def inactive_label() -> str:
    return _("Inactive students followed up within %(days)s days") % {"days": FOLLOW_UP_DAYS}


def _card(
    key: str, label: StrOrPromise, now: Decimal | None, before: Decimal | None, value: str, note: str
) -> DeskCard:
    previous = _score(before) if key == "course_rating" else percent(before)
    if key == "course_rating":
        change = "—" if now is None or before is None else f"{'+' if now > before else ''}{now - before:.2f}"
    else:
        change = point_change(now, before)
    return DeskCard(key, label, value, previous, change, change_trend(now, before, higher_is_better=True), note, "")


def service_cards(now: ServiceFigures, before: ServiceFigures, hours: tuple[int, ...]) -> list[DeskCard]:
    """The section's cards: this week's figures against the week before's (``hours``: the
    first-contact hours of the campuses in view)."""
    return [
        _card(
            "on_time",
            gettext_lazy("Tasks done on time"),
            now.on_time_rate,
            before.on_time_rate,
            percent(now.on_time_rate),
            _("%(met)s of %(all)s tasks due") % {"met": count(now.on_time), "all": count(now.on_time + now.late)},
        ),
        _card(
            "first_contact",
            first_contact_label(hours),
            now.first_contact_rate,
            before.first_contact_rate,
            percent(now.first_contact_rate),
            _("%(met)s of %(all)s new orders")
            % {
                "met": count(now.first_contact_in_time),
                "all": count(now.first_contact_in_time + now.first_contact_late),
            },
        ),
        _card(
            "inactive",
            inactive_label(),
            now.inactive_rate,
            before.inactive_rate,
            percent(now.inactive_rate),
            _("%(met)s of %(all)s inactive-student alerts")
            % {"met": count(now.inactive_in_time), "all": count(now.inactive_in_time + now.inactive_late)},
        ),
        _card(
            "feedback",
            gettext_lazy("First lesson: good"),
            now.good_share,
            before.good_share,
            percent(now.good_share),
            _feedback_note(now),
        ),
        _card(
            "course_rating",
            gettext_lazy("Course rating (1–5)"),
            now.course_rating,
            before.course_rating,
            _score(now.course_rating),
            _("%(count)s ratings") % {"count": count(now.course_ratings)},
        ),
        _card(
            "desk",
            gettext_lazy("Service desk: satisfied (4–5 stars)"),
            now.desk_satisfied_rate,
            before.desk_satisfied_rate,
            percent(now.desk_satisfied_rate),
            _("average %(average)s of 5, %(count)s ratings")
            % {"average": _score(now.desk_average), "count": count(now.desk_ratings)},
        ),
        _card(
            "renewal",
            gettext_lazy("Renewal rate"),
            now.renewal_rate,
            before.renewal_rate,
            percent(now.renewal_rate),
            _("%(renewed)s renewed of %(due)s renewal talks due")
            % {"renewed": count(now.renewed), "due": count(now.renewals_due)},
        ),
        _card(
            "referral",
            gettext_lazy("Referral rate"),
            now.referral_rate,
            before.referral_rate,
            percent(now.referral_rate),
            _("%(referrals)s referrals, %(students)s active students")
            % {"referrals": count(now.referrals), "students": count(now.students)},
        ),
    ]


def _feedback_note(figures: ServiceFigures) -> str:
    return _("good %(good)s · okay %(okay)s · not good %(bad)s") % {
        "good": count(figures.feedback_good),
        "okay": count(figures.feedback_okay),
        "bad": count(figures.feedback_bad),
    }


def _cells(figures: ServiceFigures) -> list[str]:
    f = figures
    return [
        _of(f.on_time_rate, f.on_time, f.on_time + f.late),
        _of(f.first_contact_rate, f.first_contact_in_time, f.first_contact_in_time + f.first_contact_late),
        _of(f.inactive_rate, f.inactive_in_time, f.inactive_in_time + f.inactive_late),
        f"{f.feedback_good} / {f.feedback_okay} / {f.feedback_bad}",
        "—" if not f.course_ratings else f"{_score(f.course_rating)} ({f.course_ratings})",
        _of(f.renewal_rate, f.renewed, f.renewals_due),
        "—" if not f.students else f"{f.referrals} · {percent(f.referral_rate)}",
    ]


def _headings(metrics: ServiceMetrics) -> list[StrOrPromise]:
    return [
        gettext_lazy("Done on time"),
        first_contact_label(metrics.first_contact_hours),
        inactive_label(),
        gettext_lazy("First lesson good / okay / not good"),
        gettext_lazy("Course rating"),
        gettext_lazy("Renewed of due"),
        gettext_lazy("Referrals · rate"),
    ]


def _week_label(start: datetime.date) -> str:
    return f"{start:%m-%d}"


def service_view(metrics: ServiceMetrics, trend: list[TrendPoint]) -> ServiceSection:
    previous = trend[-2].figures if len(trend) > 1 else ServiceFigures()
    tables = {
        "teachers": Table(
            "teachers",
            gettext_lazy("Per homeroom teacher"),
            [gettext_lazy("Homeroom teacher"), gettext_lazy("Campus"), *_headings(metrics)],
            [TableRow([row.label, row.campus, *_cells(row.figures)], "") for row in metrics.by_teacher],
        ),
        "trend": Table(
            "trend",
            gettext_lazy("The last eight weeks"),
            [
                gettext_lazy("Week from"),
                gettext_lazy("Done on time"),
                first_contact_label(metrics.first_contact_hours),
                inactive_label(),
                gettext_lazy("First lesson: good"),
                gettext_lazy("Renewal rate"),
                gettext_lazy("Referral rate"),
            ],
            [
                TableRow(
                    [
                        point.week_start.isoformat(),
                        percent(point.figures.on_time_rate),
                        percent(point.figures.first_contact_rate),
                        percent(point.figures.inactive_rate),
                        percent(point.figures.good_share),
                        percent(point.figures.renewal_rate),
                        percent(point.figures.referral_rate),
                    ],
                    "",
                )
                for point in reversed(trend)
            ],
        ),
    }
    if len(metrics.by_campus) > 1:
        tables["campuses"] = Table(
            "campuses",
            gettext_lazy("Per campus"),
            [gettext_lazy("Campus"), *_headings(metrics)],
            [TableRow([row.label, *_cells(row.figures)], "") for row in metrics.by_campus],
        )

    def series(name: StrOrPromise, attribute: str) -> dict[str, Any]:
        values = [getattr(point.figures, attribute) for point in trend]
        return {"name": str(name), "data": [None if v is None else float(v) for v in values]}

    charts = {
        "labels": {"empty": _("No data in these weeks"), "percent": "%"},
        "trend": {
            "labels": [_week_label(point.week_start) for point in trend],
            "series": [
                series(gettext_lazy("Done on time"), "on_time_rate"),
                series(first_contact_label(metrics.first_contact_hours), "first_contact_rate"),
                series(inactive_label(), "inactive_rate"),
                series(gettext_lazy("First lesson: good"), "good_share"),
                series(gettext_lazy("Renewal rate"), "renewal_rate"),
                series(gettext_lazy("Referral rate"), "referral_rate"),
            ],
            "urls": [],
        },
    }
    cards = service_cards(metrics.total, previous, metrics.first_contact_hours)
    return ServiceSection(metrics, previous, trend, cards, tables, charts)


def service_week(filters: Filters, *, today: datetime.date | None = None) -> datetime.date:
    """The week the section shows: the one of the period's last day, or this week if that is later."""
    today = today or timezone.localdate()
    return week_start_of(min(filters.end, today))


def service_section(*, user: User, filters: Filters, now: datetime.datetime | None = None) -> ServiceSection | None:
    """The section for ``user`` (None for a reader of the dashboard who may not read service tasks)."""
    if not user.has_perm(VIEW_SERVICE):
        return None
    now = now or timezone.now()
    campus_ids = campus_ids_in_view(user=user, filters=filters)
    week = service_week(filters, today=timezone.localdate(now))
    return service_view(
        service_metrics(week_start=week, campus_ids=campus_ids, now=now),
        service_trend(last_week_start=week, campus_ids=campus_ids, now=now),
    )


# --- The weekly review's part ------------------------------------------------------------------------


def service_review_figures(
    *, week_start: datetime.date, campus_ids: list[int] | None, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The week's service figures as the weekly review keeps them (JSON): the counts of the week
    and of the week before, the first-contact hours, and each teacher's counts."""
    metrics = service_metrics(week_start=week_start, campus_ids=campus_ids, now=now)
    before = service_metrics(week_start=week_start - datetime.timedelta(days=7), campus_ids=campus_ids, now=now).total
    return {
        "current": service_figures_plain(metrics.total),
        "previous": service_figures_plain(before),
        "first_contact_hours": list(metrics.first_contact_hours),
        "teachers": [
            {"label": row.label, "campus": row.campus, "figures": service_figures_plain(row.figures)}
            for row in metrics.by_teacher
        ],
    }


def service_review_text(figures: dict[str, Any] | None) -> str:
    """The review's service part in a few lines (the e-mail's ``service`` placeholder); "" for a
    review made before it had one."""
    if not figures:
        return ""
    now = ServiceFigures.of(figures["current"])
    before = ServiceFigures.of(figures["previous"])
    hours = tuple(figures.get("first_contact_hours") or ())
    lines = [
        _("Student service (the week before in brackets):"),
        _("tasks done on time %(now)s (%(before)s), %(met)s of %(all)s;")
        % {
            "now": percent(now.on_time_rate),
            "before": percent(before.on_time_rate),
            "met": count(now.on_time),
            "all": count(now.on_time + now.late),
        },
        _("%(label)s %(now)s (%(before)s);")
        % {
            "label": first_contact_label(hours),
            "now": percent(now.first_contact_rate),
            "before": percent(before.first_contact_rate),
        },
        _("%(label)s %(now)s (%(before)s);")
        % {"label": inactive_label(), "now": percent(now.inactive_rate), "before": percent(before.inactive_rate)},
        _("first lesson: %(feedback)s; course rating %(rating)s;")
        % {"feedback": _feedback_note(now), "rating": _score(now.course_rating)},
        _("renewal rate %(now)s (%(before)s), %(renewed)s of %(due)s;")
        % {
            "now": percent(now.renewal_rate),
            "before": percent(before.renewal_rate),
            "renewed": count(now.renewed),
            "due": count(now.renewals_due),
        },
        _("referral rate %(referral)s (%(before)s), %(referrals)s referrals.")
        % {
            "referral": percent(now.referral_rate),
            "before": percent(before.referral_rate),
            "referrals": count(now.referrals),
        },
    ]
    return "\n".join(lines)


def service_cards_of_review(figures: dict[str, Any] | None) -> list[DeskCard]:
    """The review page's service cards (the dashboard's, from the stored counts); none for a review
    made before it had a service part."""
    if not figures:
        return []
    hours = tuple(figures.get("first_contact_hours") or ())
    return service_cards(ServiceFigures.of(figures["current"]), ServiceFigures.of(figures["previous"]), hours)
