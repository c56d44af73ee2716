from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from orders.models import Course
from refunds.models import RefundReason

from .selectors import GENERIC_REASON


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
