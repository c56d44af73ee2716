"""Orders and refunds (订单与退费): the list, one order's breakdown and policy, the estimate."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from exchanges.models import Exchange
from exchanges.services import exchange_offer
from refunds.models import RefundReason, RefundRequest
from refunds.services.quoting import RefundPolicyMissing, refund_quote_estimate
from service.selectors import feedback_questions_open

from .. import selectors
from ..forms import RefundEstimateForm
from .common import StudentRequest, student_page


@dataclass(frozen=True)
class OrderCard:
    """An order summary with the links the student can follow from it."""

    summary: selectors.OrderRefundSummary
    apply_url: str
    request_url: str

    @classmethod
    def of(cls, summary: selectors.OrderRefundSummary) -> OrderCard:
        latest = summary.latest_request
        return cls(
            summary=summary,
            apply_url=reverse("portal:apply", args=[summary.order.order_no]) if summary.can_apply else "",
            request_url=reverse("portal:request", args=[latest.request_no]) if latest is not None else "",
        )


@dataclass(frozen=True)
class RequestRow:
    request: RefundRequest
    url: str


def _summary_or_404(
    request: StudentRequest, order_no: str, *, reason: str = selectors.GENERIC_REASON
) -> selectors.OrderRefundSummary:
    summary = selectors.order_summary_for_student(student=request.student, order_no=order_no, reason=reason)
    if summary is None:
        raise Http404("No such order among yours.")
    return summary


@require_GET
@student_page
def home(request: StudentRequest) -> HttpResponse:
    """Orders and refunds: every order with its progress, what it refunds now and its request; the
    first-lesson questions she has not answered yet on top."""
    summaries = selectors.order_summaries_for_student(student=request.student)
    orders = [OrderCard.of(summary) for summary in summaries]
    context = {
        "student": request.student,
        "orders": orders,
        "feedback_questions": list(feedback_questions_open(student=request.student)),
    }
    return render(request, "portal/home.html", context)


@require_GET
@student_page
def request_list(request: StudentRequest) -> HttpResponse:
    """我的申请: every refund request of hers, newest first, 20 a page."""
    requests = RefundRequest.objects.filter(student=request.student).select_related("order__course", "quote")
    page = Paginator(requests.order_by("-submitted_at", "-pk"), 20).get_page(request.GET.get("page"))
    rows = [RequestRow(r, reverse("portal:request", args=[r.request_no])) for r in page.object_list]
    return render(request, "portal/requests.html", {"rows": rows, "page": page})


@require_GET
@student_page
def order_detail(request: StudentRequest, order_no: str) -> HttpResponse:
    """One order: the refund breakdown explained, the policy in plain words, the request history;
    the first-lesson question on top while it waits for her answer."""
    summary = _summary_or_404(request, order_no)
    history = [RequestRow(r, reverse("portal:request", args=[r.request_no])) for r in summary.requests]
    questions = feedback_questions_open(student=request.student).filter(enrollment__order=summary.order)
    context = {
        "card": OrderCard.of(summary),
        "order": summary.order,
        "history": history,
        "reason_label": RefundReason(selectors.GENERIC_REASON).label,
        "feedback_question": questions.first(),
        "exchange_offer": exchange_offer(order=summary.order),
        "exchanges": Exchange.objects.filter(old_order=summary.order).select_related("request", "target_course"),
        # The exchange that made this order (only an order made by one has it: no query otherwise).
        "exchanged_from": getattr(summary.order, "exchange_in", None) if summary.order.exchanged_from_id else None,
    }
    return render(request, "portal/order.html", context)


@require_GET
@student_page
def estimate(request: StudentRequest, order_no: str) -> HttpResponse:
    """自助查询: the quote if she had used a given number of lessons, next to the real one."""
    reason = request.GET.get("reason") or selectors.GENERIC_REASON
    if reason not in RefundReason.values:
        reason = selectors.GENERIC_REASON  # the form says why; the real quote stays on the generic reason
    summary = _summary_or_404(request, order_no, reason=reason)
    order = summary.order
    if "lessons" in request.GET:
        form = RefundEstimateForm(request.GET, course=order.course)
    else:
        recorded = summary.quote.units_consumed if summary.quote is not None else 0
        form = RefundEstimateForm(course=order.course, initial={"reason": reason, "lessons": recorded})
    what_if = None
    if form.is_bound and form.is_valid() and summary.policy is not None and not summary.refusal:
        try:
            what_if = refund_quote_estimate(order=order, reason=reason, lessons=form.cleaned_data["lessons"])
        except ValidationError as exc:
            form.add_error("lessons", exc.message_dict.get("lessons", exc.messages))
        except RefundPolicyMissing:
            pass  # the policy went away since the summary; the page says there is none
    context = {
        "order": order,
        "card": OrderCard.of(summary),
        "form": form,
        "what_if": what_if,
        "reason_label": RefundReason(reason).label,
    }
    return render(request, "portal/estimate.html", context)


urlpatterns = [
    path("", home, name="home"),
    path("refunds/", request_list, name="requests"),
    path("orders/<str:order_no>/", order_detail, name="order"),
    path("orders/<str:order_no>/estimate/", estimate, name="estimate"),
]
