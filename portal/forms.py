"""Forms of the student's pages: log in, the what-if estimate, apply, supply missing information,
appeal, cancel, the paper copy of an e-receipt, and her notification settings.

The refund forms check what a form can (a reason from the list, lengths, the confirmation); the
evidence files are checked by content inside the refund services, which refuse with a message.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from notifications.models import NotificationPreference
from orders.models import Course
from refunds.models import RefundReason

from .selectors import GENERIC_REASON

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


class LoginForm(AuthenticationForm):
    """Log in with a username or a mobile number."""

    username = forms.CharField(
        label=_("Username or mobile number"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username", "inputmode": "text"}),
    )


class RefundEstimateForm(forms.Form):
    """The what-if estimate (自助查询): "if I had used this many lessons", for a reason."""

    lessons = forms.IntegerField(
        label=_("Lessons used"),
        help_text=_("For one-on-one courses count hours; for live courses, sessions attended."),
    )
    reason = forms.ChoiceField(label=_("Reason"), choices=RefundReason.choices, required=False)

    def __init__(self, *args, course: Course, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_lessons = course.lessons
        self.range_message = _("Enter a number of lessons from 0 to %(max)s.") % {"max": course.lessons}
        field = self.fields["lessons"]
        field.error_messages.update({"required": self.range_message, "invalid": self.range_message})
        field.widget.attrs.update({"min": 0, "max": course.lessons, "inputmode": "numeric"})

    def clean_lessons(self) -> int:
        lessons = self.cleaned_data["lessons"]
        if not 0 <= lessons <= self.max_lessons:
            raise forms.ValidationError(self.range_message, code="range")
        return lessons

    def clean_reason(self) -> str:
        return self.cleaned_data.get("reason") or GENERIC_REASON


class PaperCopyForm(forms.Form):
    """Where to mail the stamped paper copy of an e-receipt."""

    recipient = forms.CharField(label=_("Recipient"), max_length=50)
    phone = forms.RegexField(
        label=_("Phone"),
        max_length=20,
        regex=r"^\+?[0-9][0-9 -]{6,18}$",
        error_messages={"invalid": _("Enter a phone number the courier can call, e.g. 13800138000.")},
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    address = forms.CharField(
        label=_("Mailing address"),
        min_length=8,
        max_length=300,
        help_text=_("Province, city, district, street and house number, and postcode if you know it."),
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 300, "autocomplete": "street-address"}),
    )
    note = forms.CharField(label=_("Note for finance"), max_length=300, required=False)

    def clean_address(self) -> str:
        return " ".join(self.cleaned_data["address"].split())


class NotificationPreferenceForm(forms.ModelForm):
    """Her channels: e-mail, SMS and WeChat can be turned off; the inbox cannot."""

    class Meta:
        model = NotificationPreference
        fields = ("email_enabled", "sms_enabled", "wechat_enabled")
        labels = {
            "email_enabled": _("Send me e-mails"),
            "sms_enabled": _("Send me text messages (SMS)"),
            "wechat_enabled": _("Send me WeChat messages"),
        }
