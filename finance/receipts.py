"""E-receipts (电子凭证) of refunded requests, and the stamped paper copies students ask for.

Receipt number: ``DZ`` + the day the money went back (Asia/Shanghai, ``YYYYMMDD``) + the refund
request's id zero-padded to 8 digits, e.g. ``DZ2026120300000042``: readable, sortable by day, and
unique because a request has at most one receipt.

The PDF is rendered once, when the payout succeeds (``finance.tasks.issue_receipt``, queued by
``receipt_on_refund_event``), from ``templates/finance/receipt.html`` by WeasyPrint with the CJK
font embedded, and kept as issued with its SHA-256. A download of a refunded request that has no
receipt yet issues it on the spot.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from notifications.services import notify, recipient_for_user, school_contact, site_url
from payments.models import Payout, PayoutStatus
from refunds.models import RefundEvent, RefundEventKind, RefundRequest, RefundStatus
from schoolops.errors import ActionRefused
from schoolops.models import Staff, StaffRole, User
from schoolops.scoping import visible_campus_ids

from .events import PAPER_COPY_MAILED, PAPER_COPY_REQUESTED
from .models import PaperCopyRequest, PaperCopyStatus, Receipt

logger = logging.getLogger(__name__)

HANDLE_PAPER_COPY = "finance.handle_paper_copy"
# The Celery task that issues a receipt (``finance.tasks.issue_receipt``, registered under this name).
ISSUE_RECEIPT_TASK = "finance.tasks.issue_receipt"


class ReceiptError(ActionRefused):
    """A refused receipt or paper-copy action: nothing changed. ``message`` is for the person who tried."""


# --- Issuing -------------------------------------------------------------------------------------


def receipt_number(*, request: RefundRequest, payout: Payout) -> str:
    paid_on = timezone.localdate(payout.finished_at or timezone.now())
    return f"DZ{paid_on:%Y%m%d}{request.pk:08d}"


def receipt_issue(*, request_id: int) -> Receipt:
    """The e-receipt of a refunded request: the existing one, or a new one rendered and stored now.

    Refused (``ReceiptError``) for an unknown request, one not refunded, or one without a
    succeeded payout. Two workers racing for the same request end with one receipt: the loser's
    file is removed and the winner's row returned.
    """
    existing = Receipt.objects.filter(request_id=request_id).first()
    if existing is not None:
        return existing
    request = (
        RefundRequest.objects.select_related("order__course__campus", "student__user", "campus", "quote")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise ReceiptError(_("Refund request %(id)s does not exist.") % {"id": request_id}, code="not_found")
    if request.status != RefundStatus.REFUNDED:
        raise ReceiptError(
            _("Refund request %(no)s is not refunded (it is: %(status)s); its e-receipt comes after the refund.")
            % {"no": request.request_no, "status": request.get_status_display()},
            code="state",
        )
    payout = (
        Payout.objects.filter(request=request, status=PayoutStatus.SUCCEEDED).order_by("-finished_at", "-pk").first()
    )
    if payout is None:
        raise ReceiptError(
            _("Refund request %(no)s has no succeeded payout to issue an e-receipt for.") % {"no": request.request_no},
            code="state",
        )
    issued_at = timezone.now()
    receipt = Receipt(
        request=request, payout=payout, number=receipt_number(request=request, payout=payout), issued_at=issued_at
    )
    pdf = receipt_render(receipt)
    receipt.sha256 = hashlib.sha256(pdf).hexdigest()
    receipt.file.save(f"{receipt.number}.pdf", ContentFile(pdf), save=False)
    try:
        with transaction.atomic():
            receipt.save()
    except IntegrityError:
        receipt.file.delete(save=False)
        winner = Receipt.objects.filter(request_id=request_id).first()
        if winner is None:
            raise
        return winner
    return receipt


def receipt_render(receipt: Receipt) -> bytes:
    """The receipt's PDF: a fixed bilingual document (Chinese, English beneath), the same for everyone."""
    from weasyprint import HTML  # Pango is loaded on first use, not when Django starts

    with translation.override(settings.LANGUAGE_CODE):
        html = render_to_string("finance/receipt.html", receipt_context(receipt))
    return HTML(string=html).write_pdf()


def receipt_context(receipt: Receipt) -> dict[str, Any]:
    request, payout = receipt.request, receipt.payout
    order, user = request.order, request.student.user
    return {
        "school_name": settings.SCHOOL_NAME,
        "receipt": receipt,
        "request": request,
        "payout": payout,
        "order": order,
        "course": order.course,
        "campus": request.campus,
        "student_name": str(user),
        "student_no": request.student.student_no,
        "phone": mask_phone(user.phone or ""),
        "lines": list(request.quote.lines.order_by("position")),
        "gateway_reference": payout.gateway_refund_id or payout.bank_reference,
        "applied_at": _local(request.submitted_at),
        "approved_at": _local(request.decided_at),
        "paid_at": _local(payout.finished_at),
        "issued_at": _local(receipt.issued_at),
    }


def mask_phone(phone: str) -> str:
    """``13800010001`` → ``138****0001``; shorter numbers keep only their last two digits."""
    phone = phone.strip()
    if len(phone) >= 8:
        return f"{phone[:3]}****{phone[-4:]}"
    return f"{'*' * max(len(phone) - 2, 0)}{phone[-2:]}" if phone else ""


def _local(value: datetime.datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


def receipt_pdf_response(receipt: Receipt) -> FileResponse:
    """The stored PDF, inline, named 退款凭证_<number>.pdf (RFC 5987 encoded by Django)."""
    try:
        handle = receipt.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The e-receipt's PDF is missing from storage.") from exc
    response = FileResponse(handle, content_type="application/pdf", filename=f"退款凭证_{receipt.number}.pdf")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def receipt_on_refund_event(event: RefundEvent) -> None:
    """``refund_event_listener`` of succeeded payouts: issue the receipt in the background.

    A failure (a broker that is down; with eager tasks, the rendering itself) is logged, not
    raised: the commit already happened, and the first download issues the receipt anyway.
    """
    if event.kind != RefundEventKind.PAYOUT_SUCCEEDED:
        return
    try:
        receipt_issue_enqueue(event.request_id)
    except Exception:  # the broker's errors vary by transport
        logger.warning(
            "E-receipt of refund request %s not issued now; its first download will.", event.request_id, exc_info=True
        )


def receipt_issue_enqueue(request_id: int) -> None:
    """Hand the receipt of a request to a worker (in-process when tasks run eagerly). The task is
    looked up by its name: ``finance.tasks`` imports this module to call ``receipt_issue``."""
    current_app.tasks[ISSUE_RECEIPT_TASK].delay(request_id)


# --- Paper copies --------------------------------------------------------------------------------


def paper_copy_request(
    *, receipt: Receipt, student_user: User, recipient: str, phone: str, address: str, note: str = ""
) -> PaperCopyRequest:
    """The student asks for a stamped paper copy of her receipt: a task for her campus's finance.

    One open request per receipt; the finance staff of the request's campus are told.
    """
    request = RefundRequest.objects.select_related("order__course", "student__user").get(pk=receipt.request_id)
    if request.student.user_id != student_user.pk:
        raise ReceiptError(_("This e-receipt is not yours."), code="not_found")
    with transaction.atomic():
        if PaperCopyRequest.objects.filter(receipt=receipt, status=PaperCopyStatus.REQUESTED).exists():
            raise ReceiptError(_open_message(), code="open_request")
        try:
            with transaction.atomic():
                paper = PaperCopyRequest.objects.create(
                    receipt=receipt, recipient=recipient, phone=phone, address=address, note=note
                )
        except IntegrityError as exc:  # a second click that raced the first
            raise ReceiptError(_open_message(), code="open_request") from exc
        finance = Staff.objects.active().filter(campus_id=request.campus_id, role=StaffRole.FINANCE)
        notify(
            key=f"paper-copy:{paper.pk}",
            event=PAPER_COPY_REQUESTED,
            recipients=[recipient_for_user(staff.user) for staff in finance.select_related("user").order_by("pk")],
            context={
                **_paper_context(request),
                "reason": " ".join(part for part in (address, recipient, phone, note) if part),
                "link": site_url(reverse("admin:finance_papercopyrequest_change", args=[paper.pk])),
                "contact": f"{recipient} {phone}",
            },
            channels=("inbox", "email"),
            refund_request=request,
        )
    return paper


def _open_message() -> str:
    return _("A stamped paper copy of this receipt was already requested and is waiting for finance.")


def paper_copy_mark_mailed(*, paper_copy_id: int, actor: User, carrier: str, tracking_no: str) -> PaperCopyRequest:
    """Finance mailed the stamped copy: record carrier and tracking number, tell the student."""
    carrier, tracking_no = carrier.strip(), tracking_no.strip()
    if not carrier or not tracking_no:
        raise ReceiptError(_("Give the carrier and the tracking number."), code="invalid")
    with transaction.atomic():
        paper = _waiting_paper_copy(paper_copy_id=paper_copy_id, actor=actor)
        paper.status = PaperCopyStatus.MAILED
        paper.carrier, paper.tracking_no = carrier, tracking_no
        paper.handled_by, paper.handled_at = actor, timezone.now()
        paper.save(update_fields=["status", "carrier", "tracking_no", "handled_by", "handled_at"])
        request = paper.receipt.request
        student = request.student
        # Her refund policy's channels, as for the refund's own messages: inbox and e-mail always,
        # SMS and WeChat where the policy sends them; what she turned off is dropped by notify().
        extra = [c for c in ("sms", "wechat") if c in (request.quote.notify_channels or [])]
        notify(
            key=f"paper-copy-mailed:{paper.pk}",
            event=PAPER_COPY_MAILED,
            recipients=[recipient_for_user(student.user, openid=student.wechat_openid)],
            context={
                **_paper_context(request),
                "recipient_name": str(student.user),
                "reason": f"{carrier} {tracking_no}",
                "link": site_url(reverse("portal:request", args=[request.request_no])),
                "contact": school_contact(),
            },
            channels=("inbox", "email", *extra),
            refund_request=request,
        )
    return paper


def paper_copy_cancel(*, paper_copy_id: int, actor: User, note: str) -> PaperCopyRequest:
    """Finance closes a request without mailing (a duplicate, a wrong address): the note says why."""
    note = note.strip()
    if not note:
        raise ReceiptError(_("Say why the request is cancelled; the student sees the note."), code="invalid")
    with transaction.atomic():
        paper = _waiting_paper_copy(paper_copy_id=paper_copy_id, actor=actor)
        paper.status = PaperCopyStatus.CANCELLED
        paper.finance_note = note
        paper.handled_by, paper.handled_at = actor, timezone.now()
        paper.save(update_fields=["status", "finance_note", "handled_by", "handled_at"])
    return paper


def _waiting_paper_copy(*, paper_copy_id: int, actor: User) -> PaperCopyRequest:
    """The request, locked, if ``actor`` may handle it and it still waits; else ``ReceiptError``."""
    paper = (
        PaperCopyRequest.objects.select_for_update(of=("self",))
        .select_related("receipt__request__student__user", "receipt__request__order__course", "receipt__request__quote")
        .filter(pk=paper_copy_id)
        .first()
    )
    campuses = visible_campus_ids(actor)
    if paper is None or (campuses is not None and paper.receipt.request.campus_id not in campuses):
        raise ReceiptError(_("Paper copy request %(id)s does not exist.") % {"id": paper_copy_id}, code="not_found")
    if not actor.has_perm(HANDLE_PAPER_COPY):
        raise ReceiptError(_("You may not handle paper copy requests."), code="permission")
    if paper.status != PaperCopyStatus.REQUESTED:
        raise ReceiptError(
            _("This request was already handled (%(status)s).") % {"status": paper.get_status_display()},
            code="state",
        )
    return paper


def _paper_context(request: RefundRequest) -> dict[str, str]:
    return {
        "student_name": str(request.student.user),
        "request_no": request.request_no,
        "order_no": request.order.order_no,
        "course": request.order.course.name,
    }
