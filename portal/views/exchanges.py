"""Course exchange (换课): choose a new course instead of leaving, see the calculation line by
line, confirm; follow it; pay the difference online; withdraw before paying; confirm and rate.

Every page starts from ``request.student``: another student's order or exchange is a 404. The
views validate the form, call one service and turn its ``ExchangeError`` into a message.
"""

from __future__ import annotations

from decimal import Decimal

import segno
from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from exchanges.calc import ExchangeLine
from exchanges.models import Exchange, ExchangeStatus
from exchanges.selectors import exchanges_of_student
from exchanges.services import (
    PURPOSE,
    ExchangeError,
    exchange_cancel,
    exchange_offer,
    exchange_pay,
    exchange_quote,
    exchange_rate,
    exchange_submit,
)
from orders.models import Order
from payments.collections import collection_query
from payments.selectors import collection_display, collections_for
from refunds.models import ApprovalTier, RefundReason
from schoolops.auth import login_client_ip

from ..forms import ExchangeConfirmForm, ExchangePayForm, ExchangeRatingForm
from .common import StudentRequest, student_page


def _order_or_404(request: StudentRequest, order_no: str) -> Order:
    order = (
        Order.objects.select_related("course__campus", "enrollment")
        .filter(student=request.student, order_no=order_no)
        .first()
    )
    if order is None:
        raise Http404("No such order among yours.")
    return order


def _exchange_or_404(request: StudentRequest, request_no: str) -> Exchange:
    exchange = (
        exchanges_of_student(student_id=request.student.pk)
        .select_related("policy")
        .filter(request__request_no=request_no)
        .first()
    )
    if exchange is None:
        raise Http404("No such exchange among yours.")
    return exchange


@require_http_methods(["GET", "POST"])
@student_page
def exchange_start(request: StudentRequest, order_no: str) -> HttpResponseBase:
    """Choose the new course (only those the policy allows), see the calculation, confirm."""
    order = _order_or_404(request, order_no)
    offer = exchange_offer(order=order)
    data = request.POST if request.method == "POST" else None
    code = (request.POST.get("course") if data else request.GET.get("course")) or ""
    target = next((course for course in offer.targets if course.code == code), None)
    reason = (request.POST.get("reason") if data else request.GET.get("reason")) or RefundReason.TIME_CONFLICT
    if reason not in RefundReason.values:
        reason = RefundReason.TIME_CONFLICT
    quote, error = None, ""
    if target is not None:
        try:
            quote = exchange_quote(order=order, target=target, reason=reason)
        except ExchangeError as exc:
            error = exc.message
    elif code:
        error = _("Choose the new course from the list.")
    form = ExchangeConfirmForm(
        data,
        initial={
            "course": code,
            "reason": reason,
            "seen_refund": quote.refund_amount if quote else Decimal("0.00"),
            "seen_pay": quote.pay_amount if quote else Decimal("0.00"),
        },
    )
    if data is not None and form.is_valid() and target is not None and quote is not None:
        try:
            exchange = exchange_submit(
                student=request.student,
                order_no=order.order_no,
                target_code=target.code,
                reason=form.cleaned_data["reason"],
                details=form.cleaned_data["details"],
                seen_refund=form.cleaned_data["seen_refund"],
                seen_pay=form.cleaned_data["seen_pay"],
            )
        except ExchangeError as exc:
            error = exc.message
            if exc.code == "changed":  # show the new figures to confirm again
                form = ExchangeConfirmForm(
                    initial={**form.cleaned_data, "seen_refund": quote.refund_amount, "seen_pay": quote.pay_amount}
                )
        else:
            messages.success(request, _("Your exchange request was submitted; customer service reviews it first."))
            return redirect("portal:exchange", exchange.request.request_no)
    context = {
        "order": order,
        "offer": offer,
        "targets": offer.targets,
        "target": target,
        "quote": quote,
        "form": form,
        "error": error,
        "reason": reason,
        "reasons": RefundReason.choices,
        "now": timezone.now(),
    }
    return render(request, "portal/exchange_start.html", context, status=400 if error and data else 200)


@require_http_methods(["GET"])
@student_page
def exchange_detail(request: StudentRequest, request_no: str) -> HttpResponse:
    """One exchange: where it stands, the calculation she confirmed, the payment, the rating."""
    exchange = _exchange_or_404(request, request_no)
    collections = [collection_display(c) for c in collections_for(purpose=PURPOSE, purpose_id=exchange.pk)]
    current = next((c for c in collections if c.payable), None)
    qr_svg = ""
    if current is not None and current.mode in ("wechat_native", "alipay_qr"):
        qr_svg = segno.make(current.pay_url, error="m").svg_inline(scale=5, border=2, dark="#111")
    context = {
        "exchange": exchange,
        "req": exchange.request,
        "stages": _stages(exchange),
        "lines": [
            ExchangeLine(line["kind"], line["label"], Decimal(line["amount"]), line["formula"], line["explanation"])
            for line in exchange.lines
        ],
        "collections": collections,
        "current": current,
        "qr_svg": qr_svg,
        "pay_form": ExchangePayForm(),
        "rating_form": ExchangeRatingForm(),
        "can_cancel": exchange.status in (ExchangeStatus.IN_REVIEW, ExchangeStatus.AWAITING_PAYMENT),
        "can_rate": exchange.status == ExchangeStatus.COMPLETED and exchange.rating is None,
    }
    return render(request, "portal/exchange.html", context)


def _stages(exchange: Exchange) -> list[tuple[str, str]]:
    """The exchange's way in plain steps, each done, current, upcoming or stopped."""
    request = exchange.request
    names = [str(ApprovalTier(tier).label) for tier in request.route]
    if exchange.refund_amount > 0:
        settle = _("Refund of the difference")
    elif exchange.pay_amount > 0:
        settle = _("Payment of the difference")
    else:
        settle = ""
    steps = [_("Submitted"), *names, *([settle] if settle else []), _("New course open")]
    status = exchange.status
    if status == ExchangeStatus.COMPLETED:
        current = len(steps)
    elif status in (ExchangeStatus.AWAITING_PAYMENT, ExchangeStatus.REFUNDING):
        current = len(steps) - 2
    elif status == ExchangeStatus.IN_REVIEW:
        current = 1 + min(request.route_position, len(names))
    else:  # rejected, withdrawn, lapsed: stopped where it was
        stopped = 1 + min(request.route_position, len(names))
        if status == ExchangeStatus.LAPSED:
            stopped = len(steps) - 2
        return [
            (name, "done" if i < stopped else "stopped" if i == stopped else "upcoming") for i, name in enumerate(steps)
        ]
    return [
        (name, "done" if i < current else "current" if i == current else "upcoming") for i, name in enumerate(steps)
    ]


@require_POST
@student_page
def exchange_pay_view(request: StudentRequest, request_no: str) -> HttpResponseBase:
    exchange = _exchange_or_404(request, request_no)
    form = ExchangePayForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("way") or [_("Choose how to pay.")]))
        return redirect("portal:exchange", request_no)
    try:
        collection = exchange_pay(
            exchange_id=exchange.pk,
            student=request.student,
            channel=form.channel,
            mode=form.cleaned_data["way"],
            client_ip=login_client_ip(request) or "127.0.0.1",
            return_url=request.build_absolute_uri(reverse("portal:exchange", args=[request_no])),
        )
    except ExchangeError as exc:
        messages.error(request, exc.message)
        return redirect("portal:exchange", request_no)
    # Back to her page, which shows the code or the link to the gateway's own page: a link she taps,
    # not a redirect of this form (the page's Content-Security-Policy keeps forms on this site).
    if not collection.pay_url:
        messages.error(request, collection.error_message or _("The payment could not be opened; please try again."))
    return redirect("portal:exchange", request_no)


@require_POST
@student_page
def exchange_check_payment(request: StudentRequest, request_no: str) -> HttpResponseBase:
    """ "I have paid": ask the gateway (only its answer, or its signed notification, counts)."""
    exchange = _exchange_or_404(request, request_no)
    for collection in collections_for(purpose=PURPOSE, purpose_id=exchange.pk):
        if collection.is_payable:
            try:
                collection_query(collection_id=collection.pk)
            except Exception:  # the gateway is away: the page says to look again shortly
                messages.warning(request, _("We could not reach the payment service; please check again in a minute."))
                break
    exchange.refresh_from_db()
    if exchange.status == ExchangeStatus.COMPLETED:
        messages.success(request, _("Payment received: your new course is open."))
    else:
        messages.info(request, _("No payment has arrived yet. If you have just paid, check again in a minute."))
    return redirect("portal:exchange", request_no)


@require_POST
@student_page
def exchange_cancel_view(request: StudentRequest, request_no: str) -> HttpResponseBase:
    exchange = _exchange_or_404(request, request_no)
    try:
        exchange_cancel(exchange_id=exchange.pk, student=request.student)
    except ExchangeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your exchange request was withdrawn; your course stays as it was."))
    return redirect("portal:exchange", request_no)


@require_POST
@student_page
def exchange_rate_view(request: StudentRequest, request_no: str) -> HttpResponseBase:
    exchange = _exchange_or_404(request, request_no)
    form = ExchangeRatingForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, " ".join(str(e) for e in form.errors.get("rating") or [_("Choose a rating from 1 to 5 stars.")])
        )
        return redirect("portal:exchange", request_no)
    try:
        exchange_rate(
            exchange_id=exchange.pk,
            student=request.student,
            rating=form.cleaned_data["rating"],
            comment=form.cleaned_data["comment"],
        )
    except ExchangeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Thank you for your rating!"))
    return redirect("portal:exchange", request_no)


urlpatterns = [
    path("orders/<str:order_no>/exchange/", exchange_start, name="exchange_start"),
    path("exchanges/<str:request_no>/", exchange_detail, name="exchange"),
    path("exchanges/<str:request_no>/pay/", exchange_pay_view, name="exchange_pay"),
    path("exchanges/<str:request_no>/check/", exchange_check_payment, name="exchange_check"),
    path("exchanges/<str:request_no>/cancel/", exchange_cancel_view, name="exchange_cancel"),
    path("exchanges/<str:request_no>/rate/", exchange_rate_view, name="exchange_rate"),
]
