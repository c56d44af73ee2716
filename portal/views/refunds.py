"""Apply for a refund, follow it on a timeline, cancel, supply information, appeal; download the
e-receipt of a refunded request and ask for a stamped paper copy.

Every page starts from ``request.student``: another student's order or request is a 404. The
views validate the form, call one service and turn its ``RefundActionError`` into a message;
the services decide what is allowed; the pages ask the same rules (``refunds.rules``) which
buttons to show and why one is missing.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from finance.models import PaperCopyRequest, PaperCopyStatus
from finance.receipts import ReceiptError, paper_copy_request, receipt_issue, receipt_pdf_response
from notifications.selectors import message_groups_for_student_request
from orders.models import Order
from payments.selectors import payout_arrival_note
from refunds import rules
from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from refunds.models import CLOSED_STATES, RefundReason, RefundRequest, RefundStatus, RequestKind
from refunds.payee import mask_account_no, payee_needed
from refunds.quotes import money_display
from refunds.selectors import approval_settings_for, quote_from_snapshot, refund_policy_for_course
from refunds.services import (
    RefundActionError,
    RefundPolicyMissing,
    refund_appeal,
    refund_cancel,
    refund_quote,
    refund_resubmit,
    refund_submit,
)
from servicedesk.models import Rating
from servicedesk.satisfaction import RATEABLE_REFUNDS
from students.models import Student

from .. import selectors
from ..forms import PaperCopyForm, RefundAppealForm, RefundApplyForm, RefundCancelForm, RefundResubmitForm
from ..timeline import (
    amount_note,
    arrival_note,
    current_handler,
    missing_information,
    pending_step,
    refund_request_for_student,
    rejection_reason,
    timeline_build,
    timeline_outcome,
)
from .common import StudentRequest, student_page
from .ratings import rating_context

# Submissions a student may make in one clock hour (double clicks and retries included).
SUBMITS_PER_HOUR = 5
EVIDENCE_LIMITS = {"max_files": MAX_EVIDENCE_FILES, "max_mb": MAX_EVIDENCE_BYTES // (1024 * 1024)}


# --- Apply ------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@student_page
def apply(request: StudentRequest, order_no: str) -> HttpResponse:
    """Choose a reason, see its quote and the policy, then apply with details and evidence."""
    order = _order_or_404(request, order_no)
    if request.method == "GET":
        return _apply_page(request, order, reason=request.GET.get("reason", ""))
    if not _submit_allowed(request.student):
        context = {"order": order, "rate_limited": True, "limit": SUBMITS_PER_HOUR}
        return render(request, "portal/apply.html", context, status=429)
    form = RefundApplyForm(request.POST, request.FILES, needs_payee=payee_needed(order))
    if form.is_valid():
        try:
            refund = refund_submit(
                student=request.student,
                order_no=order.order_no,
                reason=form.cleaned_data["reason"],
                details=form.cleaned_data["details"],
                evidence=form.cleaned_data["evidence"],
                payee=form.cleaned_data.get("payee"),
            )
        except RefundActionError as exc:
            # A second click, the back button, another tab: the open request is shown, not an error.
            if exc.code != "open_request":
                form.add_error("evidence" if exc.code == "evidence" else None, exc.message)
        else:
            return redirect("portal:submitted", request_no=refund.request_no)
    return _apply_page(request, order, reason=request.POST.get("reason", ""), form=form)


def _apply_page(
    request: StudentRequest, order: Order, *, reason: str, form: RefundApplyForm | None = None
) -> HttpResponse:
    """The whole page, or for htmx (choosing a reason) only the part below the reason: the same
    context either way, so the fragment shows the same figures as the page."""
    context = _apply_context(request, order, reason=reason, form=form)
    if _wants_fragment(request):
        if not context.get("reason_stage"):
            # The order changed under her (a request opened elsewhere, a cancellation): the whole page.
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
        response = render(request, "portal/_apply_quote.html", context)
    else:
        response = render(request, "portal/apply.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _wants_fragment(request: StudentRequest) -> bool:
    """An htmx request for the quote; a history restore (the back button) gets the whole page."""
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


def _apply_context(
    request: StudentRequest, order: Order, *, reason: str, form: RefundApplyForm | None
) -> dict[str, Any]:
    context: dict[str, Any] = {"order": order, "reasons": RefundReason.choices, "reason": reason, **EVIDENCE_LIMITS}
    context.update(_evidence_client_checks())
    open_request_no = (
        RefundRequest.objects.filter(order=order)
        .exclude(status__in=CLOSED_STATES)
        .values_list("request_no", flat=True)
        .first()
    )
    if open_request_no:
        context["open_request_no"] = open_request_no
        return context
    refusal = rules.order_refusal(order)
    if refusal is not None:
        context["cancelled"] = refusal.message
        return context
    if order.refundable_remaining <= 0:
        context["nothing_refundable"] = True
        return context
    context["reason_stage"] = True
    if reason not in RefundReason.values:
        context["reason"] = ""
        context["reason_invalid"] = bool(reason)
        return context
    context["reason_label"] = RefundReason(reason).label
    try:
        quote = refund_quote(order=order, reason=reason)
    except RefundPolicyMissing:
        context["no_policy"] = True
        return context
    context["quote"] = quote
    context["total_display"] = money_display(quote.total)
    context["refundable_display"] = money_display(quote.refundable)
    context["channel_label"] = order.get_channel_display()
    context["arrival"] = arrival_note(order.channel)
    context["policy"] = refund_policy_for_course(course=order.course)  # the terms in plain words
    if rules.apply_refusal(quote) is not None:
        context["nothing_for_reason"] = True
        return context
    context["form"] = form or RefundApplyForm(initial={"reason": reason}, needs_payee=payee_needed(order))
    context["needs_payee"] = payee_needed(order)
    context["error_summary"] = _error_summary(context["form"])
    # Browsers never send a chosen file twice: after a refusal the student picks them again.
    context["choose_files_again"] = form is not None and bool(request.FILES)
    return context


def _evidence_client_checks() -> dict[str, Any]:
    """The limits and the words of refunds.evidence, for the picker to say at once what the server
    would refuse ({name} stands for the file's name)."""
    max_mb = MAX_EVIDENCE_BYTES // (1024 * 1024)
    return {
        "max_bytes": MAX_EVIDENCE_BYTES,
        "msg_size": _("%(name)s is larger than %(max)d MB.") % {"name": "{name}", "max": max_mb},
        "msg_type": _("%(name)s is not a PDF, JPEG or PNG file.") % {"name": "{name}"},
        "msg_count": _("At most %(max)d files per request.") % {"max": MAX_EVIDENCE_FILES},
    }


def _error_summary(form: RefundApplyForm) -> list[tuple[str, str]]:
    """(anchor, message) for every error of a bound form, in the order of the fields; the anchor is
    the field's id ("" for errors of the whole form)."""
    if not form.is_bound:
        return []
    summary = [("", str(message)) for message in form.non_field_errors()]
    for field in form:
        # The reason's field is hidden: the choice is made in the list above the quote.
        anchor = "id_reason_select" if field.name == "reason" else field.id_for_label or ""
        summary.extend((anchor, str(message)) for message in field.errors)
    return summary


def _submit_allowed(student: Student) -> bool:
    """Count this submission against the student's hourly limit; False once it is exceeded."""
    key = f"refunds:submit-rate:{student.pk}:{timezone.now():%Y%m%d%H}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count <= SUBMITS_PER_HOUR


# --- After submitting, and the request page ---------------------------------------------------


@require_GET
@student_page
def submitted(request: StudentRequest, request_no: str) -> HttpResponse:
    """The confirmation: the number, the amount, what happens next and when."""
    refund = _refund_or_404(request, request_no)
    settings = approval_settings_for(campus=refund.campus_id)
    context = {
        "refund": refund,
        "timeline": timeline_build(refund, settings=settings),
        "handler": current_handler(refund),
        "step": pending_step(refund),
        "missing": missing_information(refund) if refund.status == RefundStatus.NEEDS_INFO else "",
    }
    return render(request, "portal/submitted.html", context)


@require_GET
@student_page
def request_detail(request: StudentRequest, request_no: str) -> HttpResponseBase:
    """Where the request is: the timeline, who has it, the amount, the evidence, every message sent.
    A course exchange has its own page."""
    refund = _refund_or_404(request, request_no)
    if refund.kind == RequestKind.EXCHANGE:
        return redirect("portal:exchange", refund.request_no)
    return _request_page(request, refund)


def _request_page(
    request: StudentRequest, refund: RefundRequest, *, paper_copy_form: PaperCopyForm | None = None, status: int = 200
) -> HttpResponse:
    settings = approval_settings_for(campus=refund.campus_id)
    now = timezone.now()
    actions = rules.student_actions(refund, settings=settings, now=now)
    paper_copies = _paper_copies(refund)
    can_ask_paper = refund.status == RefundStatus.REFUNDED and not any(
        p.status == PaperCopyStatus.REQUESTED for p in paper_copies
    )
    context = {
        "refund": refund,
        "timeline": timeline_build(refund, settings=settings, now=now),
        "outcome": timeline_outcome(refund),
        "contract_amount": refund.quote.needs_approver_amount and not refund.amount_confirmed,
        "payee_masked": mask_account_no(refund.payee_account_no),
        # The quote she confirmed, in plain sentences with the formula on demand (as she saw it
        # when applying); the kept lines as they are if it cannot be computed again.
        "live_quote": quote_from_snapshot(snapshot=refund.quote, order=refund.order),
        "handler": current_handler(refund),
        "step": pending_step(refund),
        "actions": actions,
        "missing": missing_information(refund) if actions.can_resubmit else "",
        "amount_note": amount_note(refund),
        "arrival": (refund.status == RefundStatus.REFUNDED and payout_arrival_note(refund_request=refund))
        or arrival_note(refund.order.channel),
        "messages_sent": message_groups_for_student_request(user=request.user, refund_request=refund),
        "cancel_form": RefundCancelForm() if actions.can_cancel else None,
        "receipt_url": _receipt_url(refund),
        "paper_copies": paper_copies,
        "paper_copy_form": (paper_copy_form or _paper_copy_form_initial(request)) if can_ask_paper else None,
        "rateable": refund.status in RATEABLE_REFUNDS,
        **rating_context(
            Rating.objects.filter(refund_request=refund).first() if refund.status in RATEABLE_REFUNDS else None,
            can_rate=refund.status in RATEABLE_REFUNDS,
            action=reverse("portal:refund_rate", args=[refund.request_no]),
        ),
    }
    return render(request, "portal/request.html", context, status=status)


def _receipt_url(refund: RefundRequest) -> str:
    """下载电子凭证: the e-receipt of a refunded request (issued on the first download if the
    background job has not yet). Empty before the refund: the page shows no link."""
    if refund.status != RefundStatus.REFUNDED:
        return ""
    return reverse("portal:receipt", args=[refund.request_no])


def _paper_copies(refund: RefundRequest) -> list[PaperCopyRequest]:
    """Her requests for a stamped paper copy of this refund's receipt, newest first."""
    if refund.status != RefundStatus.REFUNDED:
        return []
    return list(PaperCopyRequest.objects.filter(receipt__request=refund).order_by("-requested_at", "-pk"))


def _paper_copy_form_initial(request: StudentRequest) -> PaperCopyForm:
    user = request.student.user
    return PaperCopyForm(initial={"recipient": str(user), "phone": user.phone or ""})


@require_GET
@student_page
def receipt_download(request: StudentRequest, request_no: str) -> HttpResponseBase:
    """Her e-receipt PDF, inline. Another student's request, or one not refunded, is a 404."""
    refund = _refund_row_or_404(request, request_no)
    try:
        receipt = receipt_issue(request_id=refund.pk)
    except ReceiptError as exc:
        raise Http404(exc.message) from exc
    return receipt_pdf_response(receipt)


@require_POST
@student_page
def paper_copy(request: StudentRequest, request_no: str) -> HttpResponse:
    """Ask finance to mail a stamped paper copy of the e-receipt."""
    refund = _refund_or_404(request, request_no)
    form = PaperCopyForm(request.POST)
    if not form.is_valid():
        return _request_page(request, refund, paper_copy_form=form, status=400)
    try:
        receipt = receipt_issue(request_id=refund.pk)
        paper_copy_request(receipt=receipt, student_user=request.user, **form.cleaned_data)
    except ReceiptError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("Your request for a stamped paper copy was sent to finance; the tracking number will show here.")
        )
    return redirect("portal:request", request_no=refund.request_no)


# --- The student's actions --------------------------------------------------------------------


@require_POST
@student_page
def cancel(request: StudentRequest, request_no: str) -> HttpResponse:
    """Withdraw the request (the form's tick box is the confirmation)."""
    refund = _refund_row_or_404(request, request_no)
    form = RefundCancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, str(form.errors["confirm"][0]))
    else:
        try:
            refund_cancel(request_id=refund.pk, student=request.student)
        except RefundActionError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Your refund request was withdrawn."))
    return redirect("portal:request", request_no=refund.request_no)


@require_http_methods(["GET", "POST"])
@student_page
def resubmit(request: StudentRequest, request_no: str) -> HttpResponse:
    """Supply what the reviewer asked for: more words, more files; the request goes back to them."""
    refund = _refund_or_404(request, request_no)
    form = RefundResubmitForm(request.POST, request.FILES) if request.method == "POST" else RefundResubmitForm()
    refusal = rules.resubmit_refusal(refund)
    if request.method == "GET" and refusal is not None:
        messages.info(request, refusal.message)
        return redirect("portal:request", request_no=refund.request_no)
    if request.method == "POST" and form.is_valid():
        try:
            refund_resubmit(
                request_id=refund.pk,
                student=request.student,
                details=form.cleaned_data["details"],
                evidence=form.cleaned_data["evidence"],
            )
        except RefundActionError as exc:
            if exc.code in ("state", "not_found"):
                messages.error(request, exc.message)
                return redirect("portal:request", request_no=refund.request_no)
            form.add_error("evidence" if exc.code == "evidence" else None, exc.message)
        else:
            messages.success(request, _("Thank you: the information was added and your request is back in review."))
            return redirect("portal:request", request_no=refund.request_no)
    context = {
        "refund": refund,
        "form": form,
        "missing": missing_information(refund),
        "files_uploaded": len(refund.evidence.all()),
        "choose_files_again": form.is_bound and bool(request.FILES),
        **EVIDENCE_LIMITS,
    }
    return render(request, "portal/resubmit.html", context)


@require_http_methods(["GET", "POST"])
@student_page
def appeal(request: StudentRequest, request_no: str) -> HttpResponse:
    """Appeal a rejection, once, before the deadline, with files if she has them; it goes to the tier above."""
    refund = _refund_or_404(request, request_no)
    settings = approval_settings_for(campus=refund.campus_id)
    actions = rules.student_actions(refund, settings=settings, now=timezone.now())
    form = RefundAppealForm(request.POST, request.FILES) if request.method == "POST" else RefundAppealForm()
    if request.method == "GET" and actions.appeal is not None:
        messages.info(request, actions.appeal.message)
        return redirect("portal:request", request_no=refund.request_no)
    if request.method == "POST" and form.is_valid():
        try:
            refund_appeal(
                request_id=refund.pk,
                student=request.student,
                reason=form.cleaned_data["reason"],
                evidence=form.cleaned_data["evidence"],
            )
        except RefundActionError as exc:
            if exc.code not in ("comment", "evidence"):
                messages.error(request, exc.message)
                return redirect("portal:request", request_no=refund.request_no)
            form.add_error("reason" if exc.code == "comment" else "evidence", exc.message)
        else:
            messages.success(request, _("Your appeal was received; a reviewer above the last one will decide it."))
            return redirect("portal:request", request_no=refund.request_no)
    context = {
        "refund": refund,
        "form": form,
        "deadline": actions.appeal_deadline,
        "rejection": rejection_reason(refund),
        # Browsers never send a chosen file twice: after a refusal the student picks them again.
        "choose_files_again": form.is_bound and bool(request.FILES),
        **EVIDENCE_LIMITS,
    }
    return render(request, "portal/appeal.html", context)


# --- Lookups: only ever her own ---------------------------------------------------------------


def _order_or_404(request: StudentRequest, order_no: str) -> Order:
    order = selectors.order_get_for_student(student=request.student, order_no=order_no)
    if order is None:
        raise Http404("No such order among yours.")
    return order


def _refund_or_404(request: StudentRequest, request_no: str) -> RefundRequest:
    refund = refund_request_for_student(student=request.student, request_no=request_no)
    if refund is None:
        raise Http404("No such refund request among yours.")
    return refund


def _refund_row_or_404(request: StudentRequest, request_no: str) -> RefundRequest:
    refund = (
        RefundRequest.objects.filter(student=request.student, request_no=request_no).only("pk", "request_no").first()
    )
    if refund is None:
        raise Http404("No such refund request among yours.")
    return refund


urlpatterns = [
    path("orders/<str:order_no>/refund/", apply, name="apply"),
    path("refunds/<str:request_no>/", request_detail, name="request"),
    path("refunds/<str:request_no>/submitted/", submitted, name="submitted"),
    path("refunds/<str:request_no>/cancel/", cancel, name="cancel"),
    path("refunds/<str:request_no>/resubmit/", resubmit, name="resubmit"),
    path("refunds/<str:request_no>/appeal/", appeal, name="appeal"),
    path("refunds/<str:request_no>/receipt.pdf", receipt_download, name="receipt"),
    path("refunds/<str:request_no>/paper-copy/", paper_copy, name="paper_copy"),
]
