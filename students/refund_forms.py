"""Forms of the student's refund pages: apply, supply missing information, appeal, cancel.

They check what a form can (a reason from the list, lengths, the confirmation); the evidence
files are checked by content inside the refund services, which refuse with a message.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from refunds.models import RefundReason

MAX_TEXT_LENGTH = 2000
EVIDENCE_ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name; cleans to a list (empty when none was chosen)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": EVIDENCE_ACCEPT}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


def _text_field(*, label, required: bool, placeholder=None) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_TEXT_LENGTH, "placeholder": placeholder or ""}),
    )


def _evidence_field() -> MultipleFileField:
    # The limits (type, size, count) are stated next to the field by the templates.
    return MultipleFileField(label=_("Evidence files"))


class RefundApplyForm(forms.Form):
    """The application: the reason whose quote the student saw, her words, her files, her confirmation."""

    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=RefundReason.choices,
        widget=forms.HiddenInput,
        error_messages={
            "required": _("Choose a reason from the list."),
            "invalid_choice": _("Choose a reason from the list."),
        },
    )
    details = _text_field(
        label=_("What happened"),
        required=False,
        placeholder=_("Tell us in your own words why you ask for a refund."),
    )
    evidence = _evidence_field()
    confirm = forms.BooleanField(
        label=_("I have read the refund policy and the quote breakdown"),
        error_messages={"required": _("Please confirm that you have read the refund policy and the quote.")},
    )


class RefundResubmitForm(forms.Form):
    """What was missing: more words, more files, or both (the service wants at least one)."""

    details = _text_field(label=_("The missing information"), required=False)
    evidence = _evidence_field()


class RefundAppealForm(forms.Form):
    reason = _text_field(
        label=_("Why you disagree with the decision"),
        required=True,
        placeholder=_("Tell us what the reviewer may have missed."),
    )
    reason.error_messages["required"] = _("Tell us why you disagree with the decision.")


class RefundCancelForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, withdraw this refund request"),
        error_messages={"required": _("Tick the box to confirm that you want to withdraw the request.")},
    )
