"""The dashboard's filters as a GET form: a period (a preset or custom dates), the grain, the
dimension and the optional narrowing, each choice limited to the campuses the user may see.

``DashboardFilterForm(request.GET, user=user).filters()`` gives the selectors' ``Filters``.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Course, PaymentChannel
from refunds.models import RefundReason
from schoolops.models import Campus, Staff, StaffRole
from schoolops.scoping import scope_to_campus

from .selectors import DIMENSION_LABELS, DIMENSIONS, Filters

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

    from schoolops.models import User

# The longest period one view may cover: two years, by the day at most 731 points.
MAX_DAYS = 731


class Period:
    THIS_WEEK = "this_week"
    LAST_WEEK = "last_week"
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"
    LAST_90_DAYS = "last_90_days"
    CUSTOM = "custom"


PERIOD_CHOICES: list[tuple[str, StrOrPromise]] = [
    (Period.THIS_WEEK, _("This week")),
    (Period.LAST_WEEK, _("Last week")),
    (Period.THIS_MONTH, _("This month")),
    (Period.LAST_MONTH, _("Last month")),
    (Period.LAST_90_DAYS, _("Last 90 days")),
    (Period.CUSTOM, _("Custom dates")),
]
GRAIN_CHOICES: list[tuple[str, StrOrPromise]] = [("day", _("By day")), ("week", _("By week")), ("month", _("By month"))]
DEFAULTS = {"period": Period.LAST_90_DAYS, "grain": "week", "dimension": "campus"}


def period_dates(period: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day (inclusive) of a preset period seen on ``today``."""
    monday = today - datetime.timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    if period == Period.THIS_WEEK:
        return monday, today
    if period == Period.LAST_WEEK:
        return monday - datetime.timedelta(days=7), monday - datetime.timedelta(days=1)
    if period == Period.THIS_MONTH:
        return first_of_month, today
    if period == Period.LAST_MONTH:
        last = first_of_month - datetime.timedelta(days=1)
        return last.replace(day=1), last
    return today - datetime.timedelta(days=89), today  # the last 90 days, today included


class TeacherChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Staff) -> str:
        return obj.user.name or obj.user.username


class DashboardFilterForm(forms.Form):
    period = forms.ChoiceField(label=_("Period"), choices=PERIOD_CHOICES, required=False)
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    grain = forms.ChoiceField(label=_("Grain"), choices=GRAIN_CHOICES, required=False)
    dimension = forms.ChoiceField(
        label=_("Compare by"),
        choices=[(key, DIMENSION_LABELS[key]) for key in DIMENSIONS],
        required=False,
        error_messages={"invalid_choice": _("Unknown dimension “%(value)s”: compare by one of the choices offered.")},
    )
    campus = forms.ModelChoiceField(label=_("Campus"), queryset=Campus.objects.none(), required=False)
    course = forms.ModelChoiceField(label=_("Course"), queryset=Course.objects.none(), required=False)
    teacher = TeacherChoiceField(label=_("Homeroom teacher"), queryset=Staff.objects.none(), required=False)
    channel = forms.ChoiceField(
        label=_("payment channel"), choices=[("", "---------"), *PaymentChannel.choices], required=False
    )
    reason = forms.ChoiceField(label=_("Reason"), choices=[("", "---------"), *RefundReason.choices], required=False)

    def __init__(self, data: Any = None, *, user: User, today: datetime.date | None = None) -> None:
        # An empty query string is the default view, not a form with errors.
        super().__init__(data if data else dict(DEFAULTS))
        self.user = user
        self.today = today or timezone.localdate()
        # The form's own copies of the fields declared above (``fields`` is typed as plain fields).
        campus = cast("forms.ModelChoiceField[Campus]", self.fields["campus"])
        course = cast("forms.ModelChoiceField[Course]", self.fields["course"])
        teacher = cast("forms.ModelChoiceField[Staff]", self.fields["teacher"])
        campus.queryset = scope_to_campus(Campus.objects.order_by("code"), user=user, campus_field="")
        course.queryset = scope_to_campus(
            Course.objects.select_related("campus").order_by("campus__code", "code"), user=user, campus_field="campus"
        )
        teacher.queryset = scope_to_campus(
            Staff.objects.filter(role=StaffRole.HOMEROOM).select_related("user").order_by("campus_id", "user__name"),
            user=user,
            campus_field="campus",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        period = data.get("period") or DEFAULTS["period"]
        start, end = data.get("start"), data.get("end")
        if period == Period.CUSTOM or ((start or end) and not data.get("period")):
            if not start or not end:
                raise forms.ValidationError(_("Custom dates need both a first and a last day."), code="dates")
            period = Period.CUSTOM
        else:
            start, end = period_dates(period, self.today)
        if end < start:
            raise forms.ValidationError(_("The last day is before the first day."), code="order")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(
                _("A view covers at most %(days)d days; choose a shorter period.") % {"days": MAX_DAYS}, code="long"
            )
        data.update(period=period, start=start, end=end)
        if period != Period.CUSTOM:
            # The form shows the preset's dates, ready to be changed into custom ones.
            self.data = {
                **{key: self.data[key] for key in self.data},
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
        data["grain"] = data.get("grain") or DEFAULTS["grain"]
        data["dimension"] = data.get("dimension") or DEFAULTS["dimension"]
        return data

    def filters(self) -> Filters:
        """The selectors' filters; only after ``is_valid()``."""
        data = self.cleaned_data
        campus, course, teacher = data.get("campus"), data.get("course"), data.get("teacher")
        return Filters(
            start=data["start"],
            end=data["end"],
            grain=data["grain"],
            dimension=data["dimension"],
            campus_id=campus.pk if campus else None,
            course_id=course.pk if course else None,
            teacher_id=teacher.pk if teacher else None,
            channel=data.get("channel") or "",
            reason=data.get("reason") or "",
        )
