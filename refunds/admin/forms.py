"""The forms of the approval decisions: what the approver writes. The services check the rest."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from schoolops.fields import MONEY_DIGITS, MONEY_PLACES


class ApproveForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Optional; kept in the log with your approval."),
    )

    def service_arguments(self) -> dict:
        return {"comment": self.cleaned_data["comment"]}


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the rejection"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("Required. The student reads it, and may appeal."),
    )

    def service_arguments(self) -> dict:
        return {"reason": self.cleaned_data["reason"]}


class ReturnForm(forms.Form):
    missing = forms.CharField(
        label=_("What is missing"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text=_("Required. The student reads it and sends what you ask for."),
    )

    def service_arguments(self) -> dict:
        return {"missing": self.cleaned_data["missing"]}


class AdjustAmountForm(forms.Form):
    amount = forms.DecimalField(
        label=_("New amount to refund (CNY)"),
        min_value=Decimal("0"),
        max_digits=MONEY_DIGITS,
        decimal_places=MONEY_PLACES,
    )
    reason = forms.CharField(
        label=_("Reason for the new amount"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Required. The student reads it."),
    )

    def service_arguments(self) -> dict:
        return {"amount": self.cleaned_data["amount"], "reason": self.cleaned_data["reason"]}


class BulkApproveForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Optional; kept in the log of every request approved."),
    )
