"""Forms of the refund rules (admin) and of the student's what-if estimate."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from .models import NotifyChannel, RefundPolicy, tier_set_errors

# What a file picker offers for evidence and attachments; the services check the content (evidence.py).
EVIDENCE_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (evidence, a ticket's attachments); cleans to a list, empty
    when none was chosen. Their type, size and count are checked by content in the services."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": EVIDENCE_ACCEPT}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


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
