"""Forms of the student's pages: log in, the what-if estimate, apply, supply missing information,
appeal, cancel, the paper copy of an e-receipt, her notification settings, her tickets to
customer service, and her answer to the first-lesson question.

The refund forms check what a form can (a reason from the list, lengths, the confirmation); the
evidence files are checked by content inside the refund services, which refuse with a message.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from notifications.models import NotificationPreference
from orders.models import Course, Order
from refunds.forms import MultipleFileField, MultipleFileInput
from refunds.models import RefundReason, RefundRequest
from refunds.payee import payee_clean
from service.models import FeedbackAnswer
from servicedesk.models import TicketCategory
from students.models import Student

from .selectors import GENERIC_REASON

MAX_TEXT_LENGTH = 2000
# Tickets: "image/*" makes a phone offer its camera beside the photo library and files (iOS sends
# a new photo as JPEG). No ``capture`` attribute: it would open the camera only, and no PDF.
TICKET_ACCEPT = "image/*,application/pdf"
TICKET_TEXT_LENGTH = 4000  # servicedesk.services.MAX_TEXT


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
    # The account a refund paid by hand goes to: asked only for an order paid by bank card or
    # offline (``needs_payee``), checked by refunds.payee.
    payee_name = forms.CharField(label=_("Account holder"), required=False, max_length=60)
    payee_bank = forms.CharField(
        label=_("Bank"),
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 中国工商银行")}),
    )
    payee_branch = forms.CharField(
        label=_("Branch (if you know it)"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 北京海淀支行")}),
    )
    payee_account_no = forms.CharField(
        label=_("Card or account number"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"}),
    )
    confirm = forms.BooleanField(
        label=_("I have read the refund policy and the quote breakdown"),
        error_messages={"required": _("Please confirm that you have read the refund policy and the quote.")},
    )

    def __init__(self, *args: Any, needs_payee: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.needs_payee = needs_payee
        if not needs_payee:
            for name in PAYEE_FIELDS:
                del self.fields[name]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.needs_payee:
            try:
                cleaned["payee"] = payee_clean(
                    **{name.removeprefix("payee_"): cleaned.get(name, "") for name in PAYEE_FIELDS}
                )
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    for message in messages:
                        self.add_error(f"payee_{field}", message)
        return cleaned


PAYEE_FIELDS = ("payee_name", "payee_bank", "payee_branch", "payee_account_no")


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
    evidence = _evidence_field()


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


# --- Tickets (工单) -----------------------------------------------------------------------------


class _OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Order) -> str:
        return f"{obj.course.name} · {obj.order_no}"


class _RefundRequestChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: RefundRequest) -> str:
        return f"{obj.request_no} · {obj.order.course.name} · {obj.get_status_display()}"


def _ticket_files_field() -> MultipleFileField:
    # The limits (type, size, count) are stated next to the field; the service checks the content.
    return MultipleFileField(label=_("Photos or files"), widget=MultipleFileInput(attrs={"accept": TICKET_ACCEPT}))


class TicketOpenForm(forms.Form):
    """联系客服: what it is about, her words, her files, what it concerns, how urgent.

    Orders and refund requests are chosen among hers only; whether an urgent ticket says why is
    the service's rule (``ticket_open`` refuses with the field's name as its code).
    """

    category = forms.ChoiceField(
        label=_("What is it about?"),
        choices=[("", _("Choose a topic")), *TicketCategory.choices],
        error_messages={
            "required": _("Choose what your question is about."),
            "invalid_choice": _("Choose what your question is about."),
        },
    )
    subject = forms.CharField(
        label=_("Subject"),
        required=False,
        max_length=120,
        widget=forms.TextInput(attrs={"placeholder": _("In a few words"), "maxlength": 120}),
    )
    description = forms.CharField(
        label=_("Your question or problem"),
        max_length=TICKET_TEXT_LENGTH,
        error_messages={"required": _("Describe your question or problem.")},
        widget=forms.Textarea(
            attrs={
                "rows": 6,
                "maxlength": TICKET_TEXT_LENGTH,
                "placeholder": _("What happened, when, and what you would like us to do."),
            }
        ),
    )
    attachments = _ticket_files_field()
    order = _OrderChoiceField(
        queryset=Order.objects.none(),
        required=False,
        label=_("Order concerned"),
        empty_label=_("No particular order"),
        error_messages={"invalid_choice": _("Choose one of your orders, or none.")},
    )
    refund_request = _RefundRequestChoiceField(
        queryset=RefundRequest.objects.none(),
        required=False,
        label=_("Refund request concerned"),
        empty_label=_("No refund request"),
        error_messages={"invalid_choice": _("Choose one of your refund requests, or none.")},
    )
    urgent = forms.BooleanField(label=_("It is urgent"), required=False)
    urgent_reason = forms.CharField(
        label=_("Why is it urgent?"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"maxlength": 300, "placeholder": _("For example: the live class starts soon")}),
    )
    # A number the page gives each form it shows: the same form sent twice opens one ticket.
    submission = forms.CharField(required=False, max_length=32, widget=forms.HiddenInput)

    def __init__(self, *args, student: Student, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        orders = Order.objects.filter(student=student).select_related("course").order_by("-paid_at", "-pk")
        requests = (
            RefundRequest.objects.filter(student=student)
            .select_related("order__course")
            .order_by("-submitted_at", "-pk")
        )
        self._orders = orders
        self._requests = requests
        cast(forms.ModelChoiceField, self.fields["order"]).queryset = orders
        cast(forms.ModelChoiceField, self.fields["refund_request"]).queryset = requests

    def preselect(self, *, order_no: str = "", request_no: str = "") -> None:
        """Start from the order or refund request the page came from (``?order=``, ``?request=``),
        if it is hers; a refund request brings its order."""
        refund = self._requests.filter(request_no=request_no).first() if request_no else None
        if refund is not None:
            self.initial.update(refund_request=refund.pk, order=refund.order_id)
            return
        order = self._orders.filter(order_no=order_no).first() if order_no else None
        if order is not None:
            self.initial["order"] = order.pk

    def chosen_campus_id(self) -> int | None:
        """The campus of the order chosen (or preselected): its desk will answer the ticket."""
        value = self["order"].value()
        if not str(value or "").isdigit():
            return None
        return self._orders.filter(pk=value).values_list("course__campus_id", flat=True).first()


class TicketReplyForm(forms.Form):
    """Her next message on a ticket: words and, if they help, files."""

    body = forms.CharField(
        label=_("Your message"),
        max_length=TICKET_TEXT_LENGTH,
        error_messages={"required": _("Write your message.")},
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": TICKET_TEXT_LENGTH}),
    )
    attachments = _ticket_files_field()


class RatingForm(forms.Form):
    """满意度: 1 to 5 stars and an optional comment (the service checks both again)."""

    score = forms.TypedChoiceField(
        label=_("Your rating"),
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose from 1 to 5 stars.")},
    )
    comment = forms.CharField(
        label=_("Anything to tell us? (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class LessonFeedbackForm(forms.Form):
    """ "第一节课感觉怎么样？": one of three answers and, if she likes, a few words (the service
    checks both again)."""

    answer = forms.ChoiceField(
        label=_("How was your first lesson?"),
        choices=[
            (FeedbackAnswer.GOOD, _("It was great")),
            (FeedbackAnswer.OKAY, _("It was okay")),
            (FeedbackAnswer.BAD, _("Not so good")),
        ],
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose one of the three answers."),
            "invalid_choice": _("Choose one of the three answers."),
        },
    )
    comment = forms.CharField(
        label=_("Anything to tell your homeroom teacher? (optional)"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_TEXT_LENGTH}),
    )


class ExchangeConfirmForm(forms.Form):
    """The exchange she confirms: the new course, her reason and words, the difference she saw."""

    course = forms.CharField(widget=forms.HiddenInput, error_messages={"required": _("Choose the new course.")})
    reason = forms.ChoiceField(
        label=_("Why do you want to change course?"),
        choices=RefundReason.choices,
        error_messages={
            "required": _("Choose a reason from the list."),
            "invalid_choice": _("Choose a reason from the list."),
        },
    )
    details = _text_field(
        label=_("Anything the reviewers should know"),
        required=False,
        placeholder=_("e.g. the weekday class clashes with my work; the weekend class suits me."),
    )
    seen_refund = forms.DecimalField(widget=forms.HiddenInput, max_digits=12, decimal_places=2)
    seen_pay = forms.DecimalField(widget=forms.HiddenInput, max_digits=12, decimal_places=2)
    confirm = forms.BooleanField(
        label=_("I have read the calculation and want to change to this course"),
        error_messages={"required": _("Please confirm that you have read the calculation.")},
    )


class ExchangePayForm(forms.Form):
    """How she pays the difference."""

    WAYS = (
        ("wechat_h5", _("WeChat Pay on this phone")),
        ("alipay_wap", _("Alipay on this phone")),
        ("wechat_native", _("WeChat Pay: scan a QR code")),
        ("alipay_qr", _("Alipay: scan a QR code")),
    )
    way = forms.ChoiceField(
        label=_("Pay with"),
        choices=WAYS,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how to pay."), "invalid_choice": _("Choose how to pay.")},
    )

    @property
    def channel(self) -> str:
        return self.cleaned_data["way"].split("_", 1)[0]


class ExchangeRatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("How satisfied are you with the exchange?"),
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose a rating from 1 to 5 stars.")},
    )
    comment = _text_field(label=_("Your comment (optional)"), required=False)
