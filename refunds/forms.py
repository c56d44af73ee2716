"""Forms of the refund rules (admin) and of the student's what-if estimate."""

from __future__ import annotations

from django import forms
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from .models import NotifyChannel, RefundPolicy, tier_set_errors


class RefundPolicyForm(forms.ModelForm):
    notify_channels = forms.MultipleChoiceField(
        label=_("channels to notify"),
        choices=NotifyChannel.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Channels the refund notifications of this policy go out on."),
    )

    class Meta:
        model = RefundPolicy
        fields = [
            "name",
            "course_type",
            "course",
            "is_active",
            "mode",
            "description",
            "cooling_off_days",
            "cooling_off_anchor",
            "cooling_off_progress_ceiling",
            "tier_anchor",
            "consumption_basis",
            "count_replays",
            "handling_fee_percent",
            "materials_fee",
            "materials_description",
            "notify_channels",
        ]


class RefundTierInlineFormSet(BaseInlineFormSet):
    """Checks the tiers as a set (gaps, overlaps, open end, falling percentages) on the right field."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return  # a tier with its own errors: the set checks would only add noise
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not (self.can_delete and form.cleaned_data.get(DELETION_FIELD_NAME, False))
        ]
        rows = [(f.cleaned_data["from_day"], f.cleaned_data.get("to_day"), f.cleaned_data["percent"]) for f in kept]
        for index, field, message in tier_set_errors(rows):
            kept[index].add_error(field, message)
