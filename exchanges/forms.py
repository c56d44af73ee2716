"""The exchange desk's form: the student, her order, the new course and the reason; then, once the
calculation is on the page, the consent and the details.

One form, posted by one of three buttons: ``choose`` (the student is chosen: list her orders and
the courses each may move to), ``calculate`` (show the calculation; nothing is saved) and ``file``
(file the exchange shown). It checks what a form can (a choice from the lists it offers, a date);
who may file, the consent and the exchange itself are the services' to refuse
(``exchanges.desk.exchange_submit_for_student``), their message placed next to the field it is
about.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.widgets import AutocompleteSelect
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from refunds.models import ConsentChannel, RefundReason, RefundRequest
from schoolops.models import User
from schoolops.scoping import scope_to_campus
from students.models import Student

from .admin_selectors import desk_orders
from .calc import ExchangeQuote
from .services import ExchangeOffer, exchange_offer

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
BLANK = ("", "---------")

CHOOSE, CALCULATE, FILE = "choose", "calculate", "file"

# Which field a refusal of the services is about (their ``code``); the others go above the form.
FIELD_OF_CODE = {
    "student": "student",
    "consent_channel": "consent_channel",
    "consent_at": "consent_at",
    "reason": "reason",
    "not_found": "order",
    "no_enrollment": "order",
    "not_offered": "order",
    "no_policy": "order",
    "open_request": "order",
    "cancelled": "order",
    "exchanged": "order",
    "target": "target",
}


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date and time picker; it sends ISO local times whatever the language."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


class OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Order) -> str:
        return f"{obj.order_no} · {obj.course.name} · ¥{obj.amount_paid}"


class ExchangeDeskForm(forms.Form):
    """An exchange filed for a student of the user's campus; see the module docstring."""

    student = forms.ModelChoiceField(label=_("Student"), queryset=Student.objects.none())
    order = OrderChoiceField(label=_("Order to exchange"), queryset=Order.objects.none(), required=False)
    target = forms.ChoiceField(label=_("New course"), choices=[BLANK], required=False)
    reason = forms.ChoiceField(
        label=_("Reason for the exchange"), choices=[BLANK, *RefundReason.choices], required=False
    )
    details = forms.CharField(
        label=_("What the student said"),
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 4000}),
        help_text=_("In her words where possible; the reviewers read it."),
    )
    consent_channel = forms.ChoiceField(
        label=_("the student consented"), choices=[BLANK, *ConsentChannel.choices], required=False
    )
    consent_at = forms.DateTimeField(
        label=_("consent given at"), required=False, widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL]
    )
    consent_note = forms.CharField(
        label=_("consent record"),
        required=False,
        max_length=300,
        help_text=_("e.g. the call recording's number, her words."),
    )
    # The calculation the page showed ("order|course|reason|refund|pay"): filing files that one.
    quoted = forms.CharField(required=False, widget=forms.HiddenInput)

    CHOICE_FIELDS = ("student", "order", "target", "reason")
    CONSENT_FIELDS = ("details", "consent_channel", "consent_at", "consent_note")

    def __init__(self, *args: Any, user: User, admin_site: AdminSite, at: datetime.datetime, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("consent_at", timezone.localtime(at).strftime(DATETIME_LOCAL))
        super().__init__(*args, **kwargs)
        self.at = at
        if self.is_bound and not self.data.get("consent_at") and self.button != FILE:
            # Before the consent is asked for, its time starts as now (as on the first page).
            data = self.data.copy() if isinstance(self.data, QueryDict) else QueryDict(mutable=True)
            if not isinstance(self.data, QueryDict):
                data.update(self.data)
            data["consent_at"] = self.initial["consent_at"]
            self.data = data
        student_field = self.fields["student"]
        assert isinstance(student_field, forms.ModelChoiceField)  # noqa: S101 - narrows the type
        # The students of the user's campus, searched as she types (the admin's autocomplete).
        student_field.widget = AutocompleteSelect(RefundRequest._meta.get_field("student"), admin_site)
        student_field.widget.is_required = True
        students = scope_to_campus(Student.objects.select_related("user"), user=user, campus_field="campus")
        student_field.queryset = students
        self.chosen_student = self._chosen_student(students)
        self.orders: list[Order] = []
        self.offers: dict[int, ExchangeOffer] = {}
        if self.chosen_student is not None:
            self._offer_choices(self.chosen_student)

    @property
    def button(self) -> str:
        """The button that posted the form (``choose`` without one)."""
        for name in (FILE, CALCULATE):
            if name in self.data:
                return name
        return CHOOSE

    def _chosen_student(self, students: Any) -> Student | None:
        raw = self.data.get("student") if self.is_bound else self.initial.get("student")
        raw = str(raw or "")
        return students.filter(pk=int(raw)).first() if raw.isdigit() else None

    def _offer_choices(self, student: Student) -> None:
        """Her orders, and for each the courses it may move to now (grouped under the order)."""
        orders_field = self.fields["order"]
        assert isinstance(orders_field, forms.ModelChoiceField)  # noqa: S101 - narrows the type
        orders_field.queryset = desk_orders(student_id=student.pk)
        self.orders = list(orders_field.queryset)
        self.offers = {order.pk: exchange_offer(order=order, at=self.at) for order in self.orders}
        groups: list[tuple[str, list[tuple[str, str]]]] = []
        for order in self.orders:
            targets = self.offers[order.pk].targets
            if targets:
                options = [(course.code, f"{course.name} ({course.code}) · ¥{course.price}") for course in targets]
                groups.append((f"{order.order_no} · {order.course.name}", options))
        target_field = self.fields["target"]
        assert isinstance(target_field, forms.ChoiceField)  # noqa: S101 - narrows the type
        target_field.choices = [BLANK, *groups]

    def order_rows(self) -> list[tuple[Order, ExchangeOffer]]:
        """Each of her orders with what may be done with it (the courses, or why not)."""
        return [(order, self.offers[order.pk]) for order in self.orders]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        order: Order | None = data.get("order")
        target = data.get("target") or ""
        if order is not None:
            offer = self.offers.get(order.pk)
            if offer is not None and offer.refusal:
                self.add_error("order", offer.refusal)
            elif offer is not None and target and target not in {course.code for course in offer.targets}:
                self.add_error("target", gettext("Choose one of the courses this order may move to."))
        if self.button != CHOOSE:
            missing = {
                "order": gettext("Choose the order to exchange."),
                "target": gettext("Choose the new course."),
                "reason": gettext("Choose a reason from the list."),
            }
            for name, message in missing.items():
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, message)
        return data

    def choice(self) -> tuple[Order, str, str]:
        """The order, the new course's code and the reason (a valid form, past ``choose``)."""
        data = self.cleaned_data
        return data["order"], data["target"], data["reason"]

    def quoted_amounts(self) -> tuple[Decimal, Decimal] | None:
        """The difference (to refund, to pay) of the calculation the page showed, when it was of the
        choice posted now; None when the choice changed since (or none was shown)."""
        order, target, reason = self.choice()
        parts = (self.cleaned_data.get("quoted") or "").split("|")
        if len(parts) != 5 or parts[:3] != [str(order.pk), target, reason]:
            return None
        try:
            return Decimal(parts[3]), Decimal(parts[4])
        except InvalidOperation:
            return None

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        order, target, reason = self.choice()
        return {
            "student_id": data["student"].pk,
            "order_no": order.order_no,
            "target_code": target,
            "reason": reason,
            "details": data["details"],
            "consent_channel": data["consent_channel"],
            "consent_at": data["consent_at"],
            "consent_note": data["consent_note"],
        }

    def add_refusal(self, code: str, message: str) -> None:
        """A service's refusal, next to the field it is about."""
        self.add_error(FIELD_OF_CODE.get(code), message)


def quote_key(*, order: Order, target_code: str, reason: str, quote: ExchangeQuote) -> str:
    """What the page shows was calculated for: ``ExchangeDeskForm.quoted``."""
    return "|".join((str(order.pk), target_code, reason, str(quote.refund_amount), str(quote.pay_amount)))
