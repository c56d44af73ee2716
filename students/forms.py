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
