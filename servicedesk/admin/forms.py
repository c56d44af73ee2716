"""The forms of the ticket page and of a contact registered for a student.

They check what a form can (a choice from the list, a number, a date); the texts and everything
that depends on the ticket are the services' to refuse, with a message (``TicketError``). The
choices offered are already limited to the ticket's campus and student; the services check
again.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders.models import Course, Order, OrderStatus
from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from refunds.forms import MultipleFileField as EvidenceFilesField
from refunds.models import ConsentChannel, RefundReason, RefundRequest
from schoolops.forms import StaffChoiceField
from schoolops.models import Staff, User
from schoolops.scoping import scope_to_campus
from students.models import Student

from ..models import (
    RootCause,
    SolutionKind,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    TicketStatus,
)
from ..selectors import ticket_handlers

MAX_TEXT = 4000
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def _attachments_help() -> str:
    return gettext("Up to %(count)d files: PDF, JPEG or PNG, at most %(size)d MB each.") % {
        "count": MAX_EVIDENCE_FILES,
        "size": MAX_EVIDENCE_BYTES // (1024 * 1024),
    }


ATTACHMENTS_HELP = lazy(_attachments_help, str)()


class MultipleFileField(EvidenceFilesField):
    """Several files under one name, with the limits said below the field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", ATTACHMENTS_HELP)
        super().__init__(*args, **kwargs)


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date and time picker; it sends ISO local times whatever the language."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


def _text(label: Any, *, rows: int = 4, help_text: Any = "", limit: int = MAX_TEXT) -> forms.CharField:
    """A text the service requires and checks (its message names what is missing)."""
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows, "maxlength": limit}),
    )


class RefundChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: RefundRequest) -> str:
        return f"{obj.request_no} · {obj.get_status_display()} · ¥{obj.approved_amount}"


class CourseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Course) -> str:
        return f"{obj.name} ({obj.code})"


# --- The ticket page ---------------------------------------------------------------------------


class TicketActionForm(forms.Form):
    """A form of the ticket page; ``ticket`` fixes its choices."""

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticket = ticket


class ReplyForm(TicketActionForm):
    body = _text(_("Your message"), rows=6)
    wait_for_student = forms.BooleanField(
        label=_("Wait for the student's answer"),
        required=False,
        help_text=_("The resolution clock pauses until she writes again."),
    )
    attachments = MultipleFileField(label=_("Attachments"))

    # The button that saves an internal note; the other one sends the reply.
    NOTE_BUTTON = "as_note"

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, ticket=ticket, **kwargs)
        if ticket.status != TicketStatus.OPEN:
            # Only a ticket waiting for us can start waiting for her.
            del self.fields["wait_for_student"]

    @property
    def internal(self) -> bool:
        return self.NOTE_BUTTON in self.data


class AssignForm(TicketActionForm):
    owner = StaffChoiceField(label=_("Owner"), queryset=Staff.objects.none())

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"owner": ticket.owner_id})
        super().__init__(*args, ticket=ticket, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)  # noqa: S101 - narrows the type
        owner.queryset = ticket_handlers(campus_id=ticket.campus_id)
        owner.help_text = _("Active staff of this campus who handle tickets. They are told at once.")


class PriorityForm(TicketActionForm):
    priority = forms.ChoiceField(label=_("Priority"), choices=TicketPriority.choices, widget=forms.RadioSelect)
    reason = _text(_("Why"), rows=2, limit=300, help_text=_("Kept as an internal note."))

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        other = TicketPriority.NORMAL if ticket.priority == TicketPriority.URGENT else TicketPriority.URGENT
        kwargs.setdefault("initial", {"priority": other})
        super().__init__(*args, ticket=ticket, **kwargs)


class AssessForm(TicketActionForm):
    finding = _text(_("Finding"), help_text=_("What happened, what the records show; staff only."))
    policy_point = forms.CharField(
        label=_("Policy point"),
        required=False,
        max_length=200,
        help_text=_("The rule of the refund policy or the service standard the case turns on."),
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"finding": ticket.assessment, "policy_point": ticket.policy_point})
        super().__init__(*args, ticket=ticket, **kwargs)


class ResolveForm(TicketActionForm):
    solution_kind = forms.ChoiceField(
        label=_("Solution"), choices=[("", "---------"), *SolutionKind.choices], required=False
    )
    solution = _text(_("Solution given"), help_text=_("The student reads it as our reply."))
    refund_request = RefundChoiceField(
        label=_("Refund request"),
        queryset=RefundRequest.objects.none(),
        required=False,
        help_text=_("Required when the solution is a refund request opened or decided: one of the student's."),
    )
    compensation = forms.DecimalField(
        label=_("Compensation (yuan)"),
        required=False,
        max_digits=10,
        decimal_places=2,
        help_text=_("Required when the solution is a compensation."),
    )

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        initial = {"refund_request": ticket.refund_request_id} if ticket.refund_request_id else {}
        kwargs.setdefault("initial", initial)
        super().__init__(*args, ticket=ticket, **kwargs)
        refund = self.fields["refund_request"]
        assert isinstance(refund, forms.ModelChoiceField)  # noqa: S101 - narrows the type
        refund.queryset = RefundRequest.objects.filter(student_id=ticket.student_id).order_by("-submitted_at", "-pk")


class ArchiveForm(TicketActionForm):
    root_cause = forms.ChoiceField(
        label=_("Root cause"),
        choices=[("", "---------"), *RootCause.choices],
        required=False,
        help_text=_("Required for complaints and refund disputes."),
    )
    course = CourseChoiceField(label=_("Course concerned"), queryset=Course.objects.none(), required=False)
    teacher = StaffChoiceField(label=_("Teacher concerned"), queryset=Staff.objects.none(), required=False)
    note = _text(_("Review"), help_text=_("What we learn from it; optional."))

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"course": ticket.order.course_id if ticket.order else None})
        super().__init__(*args, ticket=ticket, **kwargs)
        course, teacher = self.fields["course"], self.fields["teacher"]
        assert isinstance(course, forms.ModelChoiceField) and isinstance(teacher, forms.ModelChoiceField)  # noqa: S101
        course.queryset = Course.objects.filter(campus_id=ticket.campus_id).order_by("name", "pk")
        teacher.queryset = (
            Staff.objects.active().filter(campus_id=ticket.campus_id).select_related("user").order_by("user__name")
        )


# --- A contact registered for a student -----------------------------------------------------


class RegisterForm(forms.Form):
    """A phone call, WeChat message, visit or e-mail, registered as the student's ticket."""

    student = forms.ModelChoiceField(label=_("Student"), queryset=Student.objects.none())
    channel = forms.ChoiceField(
        label=_("How she contacted us"),
        choices=[(value, label) for value, label in TicketChannel.choices if value != TicketChannel.PORTAL],
        widget=forms.RadioSelect,
    )
    contact_name = forms.CharField(
        label=_("Who contacted us"),
        max_length=64,
        required=False,
        help_text=_("The student herself, her mother, her father…"),
    )
    contacted_at = forms.DateTimeField(
        label=_("When"),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        widget=DateTimeLocalInput,
        help_text=_("The clocks start then, not when the ticket is registered."),
    )
    category = forms.ChoiceField(label=_("Category"), choices=TicketCategory.choices)
    priority = forms.ChoiceField(
        label=_("Priority"), choices=TicketPriority.choices, initial=TicketPriority.NORMAL, widget=forms.RadioSelect
    )
    urgent_reason = forms.CharField(
        label=_("Why urgent"), max_length=300, required=False, help_text=_("Required for an urgent ticket.")
    )
    subject = forms.CharField(
        label=_("Subject"), max_length=120, required=False, help_text=_("Empty: the description's first words.")
    )
    description = _text(_("What happened"), rows=6, help_text=_("What she told us, in her words where possible."))
    order = forms.ModelChoiceField(label=_("Order concerned"), queryset=Order.objects.none(), required=False)
    refund_request = forms.ModelChoiceField(
        label=_("Refund request"), queryset=RefundRequest.objects.none(), required=False
    )
    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(self, *args: Any, user: User, admin_site: AdminSite, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("contacted_at", timezone.localtime().replace(second=0, microsecond=0))
        super().__init__(*args, **kwargs)
        # Each choice among the user's campuses, searched as she types (the admin's autocomplete).
        choices: dict[str, tuple[QuerySet[Any], str]] = {
            "student": (Student.objects.select_related("user"), "campus"),
            "order": (Order.objects.select_related("course"), "course__campus"),
            "refund_request": (RefundRequest.objects.all(), "campus"),
        }
        for name, (queryset, campus_field) in choices.items():
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)  # noqa: S101 - narrows the type
            field.widget = AutocompleteSelect(Ticket._meta.get_field(name), admin_site)
            field.widget.is_required = field.required
            field.queryset = scope_to_campus(
                queryset, user=user, campus_field=campus_field
            )  # sets the widget's choices
        self.fields["order"].help_text = _("Optional: one of the student's orders.")
        self.fields["refund_request"].help_text = _("Optional: one of the student's refund requests.")

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        contacted_at: datetime.datetime = data["contacted_at"]
        return {
            "student_id": data["student"].pk,
            "channel": data["channel"],
            "contact_name": data["contact_name"],
            "contacted_at": contacted_at,
            "category": data["category"],
            "priority": data["priority"],
            "urgent_reason": data["urgent_reason"],
            "subject": data["subject"],
            "description": data["description"],
            "order_id": data["order"].pk if data["order"] else None,
            "refund_request_id": data["refund_request"].pk if data["refund_request"] else None,
            "attachments": data["attachments"],
        }


class OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Order) -> str:
        return f"{obj.order_no} · {obj.course.name} · ¥{obj.amount_paid}"


class FileRefundForm(TicketActionForm):
    """The refund desk: a refund request filed for the ticket's student, with her consent."""

    order = OrderChoiceField(label=_("order"), queryset=Order.objects.none())
    reason = forms.ChoiceField(label=_("reason"), choices=RefundReason.choices)
    details = _text(_("What the student said"), rows=3)
    consent_channel = forms.ChoiceField(label=_("the student consented"), choices=ConsentChannel.choices)
    consent_at = forms.DateTimeField(
        label=_("consent given at"), widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL]
    )
    consent_note = forms.CharField(
        label=_("consent record"),
        required=False,
        max_length=300,
        help_text=_("e.g. the call recording's number, her words."),
    )
    evidence = MultipleFileField(label=_("evidence"))

    def __init__(self, *args: Any, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, ticket=ticket, **kwargs)
        # A cancelled order refunds nothing (refunds.rules.order_refusal): not offered.
        orders = (
            Order.objects.filter(student_id=ticket.student_id)
            .exclude(status=OrderStatus.CANCELLED)
            .select_related("course")
            .order_by("-paid_at")
        )
        self.fields["order"].queryset = orders  # type: ignore[attr-defined]
        if ticket.order_id and not self.is_bound:
            self.initial.setdefault("order", ticket.order_id)
        if not self.is_bound:
            self.initial.setdefault("consent_at", timezone.localtime().strftime(DATETIME_LOCAL))
