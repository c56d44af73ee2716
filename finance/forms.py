"""Forms of finance's pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from orders.models import Course, PaymentChannel
from payments.models import PayoutStatus
from schoolops.models import Campus
from schoolops.scoping import scope_to_campus

from .models import ExportFormat, ExportReport
from .selectors import DateField, ReportFilters

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from schoolops.models import User

# A browser's date field takes and gives ISO days whatever the page's language.
ISO_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
EXPORTABLE = [(value, label) for value, label in ExportReport.choices if value != ExportReport.RECONCILIATION]


class ExportForm(forms.Form):
    """What to export: a report, a format and its filters; campuses and courses are only those
    the user may see (the selectors scope the rows again whatever is posted)."""

    report = forms.ChoiceField(label=_("report"), choices=EXPORTABLE)
    format = forms.ChoiceField(label=_("format"), choices=ExportFormat.choices, initial=ExportFormat.XLSX)
    date_field = forms.ChoiceField(
        label=_("period applies to"),
        choices=DateField.CHOICES,
        initial=DateField.PAID,
        help_text=_("The voucher journal always goes by the voucher's date; the summary by the payment date."),
    )
    date_from = forms.DateField(label=_("first day"), required=False, widget=ISO_DATE)
    date_to = forms.DateField(label=_("last day"), required=False, widget=ISO_DATE)
    campus = forms.ModelChoiceField(label=_("campus"), queryset=Campus.objects.none(), required=False)
    channel = forms.ChoiceField(label=_("channel"), choices=[("", _("All"))] + PaymentChannel.choices, required=False)
    status = forms.ChoiceField(
        label=_("payout status"),
        choices=[("", _("All"))] + PayoutStatus.choices,
        required=False,
        help_text=_("The refund ledger only."),
    )
    course = forms.ModelChoiceField(label=_("course"), queryset=Course.objects.none(), required=False)

    def __init__(self, *args: Any, user: User | AnonymousUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The form's own copies of the fields declared above (``fields`` is typed as plain fields).
        campus = cast("forms.ModelChoiceField[Campus]", self.fields["campus"])
        course = cast("forms.ModelChoiceField[Course]", self.fields["course"])
        campus.queryset = scope_to_campus(Campus.objects.order_by("name"), user=user, campus_field="")
        course.queryset = scope_to_campus(
            Course.objects.select_related("campus").order_by("campus__name", "name"), user=user, campus_field="campus"
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error(
                "date_to",
                _("The end date (%(end)s) is before the start date (%(start)s).") % {"start": start, "end": end},
            )
        return data

    def filters(self) -> ReportFilters:
        data = self.cleaned_data
        return ReportFilters(
            date_field=data["date_field"],
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            campus_ids=(data["campus"].pk,) if data.get("campus") else (),
            channel=data.get("channel") or "",
            status=data.get("status") or "",
            course_id=data["course"].pk if data.get("course") else None,
        )
