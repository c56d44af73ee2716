"""The forms of the workbench: a task's outcome, a task moved, a contact recorded on the student
page, and a script of the library.

Which outcome fields a task shows, and which it needs, follow ``service.rules.outcome_errors``
(the fields it asks for when nothing is filled in are the required ones); ``clean`` runs the same
rule, so a mistake is shown next to its field before the service, which runs it again after
locking the task, is called.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from servicedesk.admin.forms import DateTimeLocalInput

from ..models import ContactChannel, RenewalOutcome, Script, TaskKind
from ..rules import CONVERSATION_CHANNELS, outcome_errors
from ..scripts import PLACEHOLDERS, script_problems
from ..services import Outcome, ServiceError

# The outcome fields each kind of task shows (the rule says which of them are required).
OUTCOME_FIELDS: dict[str, tuple[str, ...]] = {
    TaskKind.FIRST_CONTACT: ("channel", "minutes", "student_goal", "student_level", "next_step", "notes"),
    TaskKind.LESSON_REMINDER: ("attended", "channel", "minutes", "notes"),
    TaskKind.RENEWAL: ("channel", "minutes", "renewal_outcome", "renewal_reason", "notes"),
}
DEFAULT_OUTCOME_FIELDS = ("channel", "minutes", "notes")

ATTENDED = (("yes", _("Attended")), ("no", _("Did not attend")))


def required_outcome_fields(kind: str) -> set[str]:
    """The fields a task of ``kind`` cannot be done without (the rule's complaints about an empty outcome)."""
    return set(outcome_errors(kind=kind, channel="", minutes=None))


def service_errors_to_form(form: forms.Form, exc: ServiceError) -> None:
    """A service's refusal on the form: next to the field it names, else above the form."""
    if hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


class OutcomeForm(forms.Form):
    """What came of the task; only the fields its kind needs."""

    required_css_class = "required"

    channel = forms.ChoiceField(
        label=_("How you were in contact"), choices=ContactChannel.choices, widget=forms.RadioSelect, required=False
    )
    minutes = forms.IntegerField(label=_("Duration (minutes)"), min_value=0, max_value=600, required=False)
    attended = forms.ChoiceField(
        label=_("Did she attend the first lesson?"), choices=ATTENDED, widget=forms.RadioSelect, required=False
    )
    student_goal = forms.CharField(
        label=_("Her goal"),
        max_length=300,
        required=False,
        help_text=_("What she wants to reach with the course (an exam, a score, a skill)."),
    )
    student_level = forms.CharField(
        label=_("Her level now"),
        max_length=200,
        required=False,
        help_text=_("What she knows already, in her words."),
    )
    next_step = forms.CharField(
        label=_("Next step agreed"), max_length=300, required=False, help_text=_("What she does next, and when.")
    )
    renewal_outcome = forms.ChoiceField(
        label=_("Renewal outcome"), choices=RenewalOutcome.choices, widget=forms.RadioSelect, required=False
    )
    renewal_reason = forms.CharField(
        label=_("Why she declined"), max_length=300, required=False, help_text=_("Needed when she declines.")
    )
    notes = forms.CharField(
        label=_("What was said"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, required=False
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_outcome_%s")
        super().__init__(*args, **kwargs)
        self.kind = kind
        shown = OUTCOME_FIELDS.get(kind, DEFAULT_OUTCOME_FIELDS)
        for name in list(self.fields):
            if name not in shown:
                del self.fields[name]
        needed = required_outcome_fields(kind)
        for name, field in self.fields.items():
            field.required = name in needed
        channel = self.fields["channel"]
        if kind == TaskKind.FIRST_CONTACT and isinstance(channel, forms.ChoiceField):
            # A real conversation (seed 003): the in-app message is not offered; the rule refuses it too.
            channel.choices = [
                (value, label) for value, label in ContactChannel.choices if value in CONVERSATION_CHANNELS
            ]
        if "minutes" in self.fields:
            self.fields["minutes"].widget.attrs.update({"inputmode": "numeric"})

    def outcome(self) -> Outcome:
        data = getattr(self, "cleaned_data", {})
        attended = {"yes": True, "no": False}.get(data.get("attended") or "")
        return Outcome(
            channel=data.get("channel") or "",
            minutes=data.get("minutes"),
            student_goal=data.get("student_goal") or "",
            student_level=data.get("student_level") or "",
            next_step=data.get("next_step") or "",
            notes=data.get("notes") or "",
            attended=attended,
            renewal_outcome=data.get("renewal_outcome") or "",
            renewal_reason=data.get("renewal_reason") or "",
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, messages in outcome_errors(kind=self.kind, **asdict(self.outcome())).items():
            if name in self.errors:
                continue  # the field's own complaint ("required", "a number") says it already
            self.add_error(name if name in self.fields else None, messages)
        return data


class RescheduleForm(forms.Form):
    to = forms.DateTimeField(label=_("New due time"), widget=DateTimeLocalInput())
    reason = forms.CharField(
        label=_("Why it moves"),
        max_length=300,
        help_text=_("e.g. she asked to be called after her exam on Friday."),
    )

    required_css_class = "required"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_reschedule_%s")
        super().__init__(*args, **kwargs)


class ContactForm(forms.Form):
    """A call, chat or visit outside a task, for the student's contact log."""

    required_css_class = "required"

    channel = forms.ChoiceField(
        label=_("How you were in contact"), choices=ContactChannel.choices, widget=forms.RadioSelect
    )
    minutes = forms.IntegerField(label=_("Duration (minutes)"), min_value=0, max_value=600, required=False)
    summary = forms.CharField(
        label=_("What was talked about"), widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_contact_%s")
        super().__init__(*args, **kwargs)
        self.fields["minutes"].widget.attrs.update({"inputmode": "numeric"})


def placeholders_help() -> str:
    """The placeholders a script may use, listed under its text."""
    rows = format_html_join("", "<li><code>{{{{ {} }}}}</code> {}</li>", ((n, d) for n, d in PLACEHOLDERS.items()))
    return format_html(
        '{}<ul class="script-placeholders">{}</ul>',
        _("Placeholders filled from the student's data when a task shows the script:"),
        rows,
    )


class ScriptForm(forms.ModelForm):
    """A script of the library; its text may use only the placeholders listed below it."""

    class Meta:
        model = Script
        fields = ("scenario", "title", "key_points", "cautions", "body", "active", "position")
        widgets = {"body": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["body"].help_text = placeholders_help()

    def clean_body(self) -> str:
        body: str = self.cleaned_data["body"]
        problems = script_problems(body)
        if problems:
            raise forms.ValidationError(problems)
        return body
