"""Forms of the organisation's admin pages."""

from __future__ import annotations

import datetime
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Staff

ISO_DATE = "%Y-%m-%d"


class DateInput(forms.DateInput):
    """The browser's own date picker; it sends and expects ISO dates whatever the language."""

    input_type = "date"

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs=attrs, format=ISO_DATE)


class StaffChoiceField(forms.ModelChoiceField):
    """Staff by name and role, the way colleagues know each other."""

    def label_from_instance(self, obj: Staff) -> str:
        return f"{obj.name} · {obj.get_role_display()}"


class MyDelegateForm(forms.Form):
    """A staff member's own out-of-office delegate: someone active of the same campus, and dates.

    Field names are those of ``Staff``, so the service's errors land on the right field.
    """

    delegate = StaffChoiceField(
        label=_("Delegate"),
        queryset=Staff.objects.none(),
        required=False,
        empty_label=_("Nobody"),
        help_text=_("Sees and acts on your approval queue between the two dates. Staff of your campus only."),
    )
    delegate_from = forms.DateField(label=_("From"), required=False, input_formats=[ISO_DATE], widget=DateInput)
    delegate_until = forms.DateField(
        label=_("Until"),
        required=False,
        input_formats=[ISO_DATE],
        widget=DateInput,
        help_text=_("Both days included, Beijing time."),
    )

    def __init__(self, *args, staff: Staff, today: datetime.date, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff
        self.today = today
        field = cast(StaffChoiceField, self.fields["delegate"])
        field.queryset = (
            Staff.objects.active()
            .filter(campus_id=staff.campus_id)
            .exclude(pk=staff.pk)
            .select_related("user")
            .order_by("user__name", "user__username", "pk")
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        until = data.get("delegate_until")
        if data.get("delegate") is not None and until is not None and until < self.today:
            self.add_error("delegate_until", _("This day has already passed; give a day from today on."))
        return data
