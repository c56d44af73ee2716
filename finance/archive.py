"""The dispute archive: everything about a closed refund request in one ZIP.

The application, its quote, the evidence files, every decision and change, the messages sent,
the gateway's answers, the vouchers and the e-receipt, each in a folder of its own with a
README.txt (Chinese and English) that says what each file is. Written as it is downloaded
(``finance.writers.zip_chunks``): evidence and receipt files are copied from storage in
chunks, so an archive with large scans costs no more memory than one without.

Only closed requests (refunded, rejected, cancelled) are archived: an open one still changes.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from notifications.models import Notification
from payments.models import Payout, PayoutExchange
from refunds.models import CLOSED_STATES, RefundEvidence, RefundRequest
from schoolops.scoping import SEE_ALL_CAMPUSES

from .exports import content_disposition
from .models import Receipt, VoucherLine
from .writers import Column, Entry, Kind, Row, csv_chunks, file_chunks, safe_name, zip_chunks

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from schoolops.models import User

_PHONE = re.compile(r"^(\+?\d{3})\d{4}(\d{4})$")


class ArchiveRefused(Exception):
    """The request cannot be archived (it is still open)."""


@dataclass(frozen=True)
class _Part:
    name: str
    description: tuple[str, str]  # (Chinese, English), for README.txt
    content: Callable[[], bytes | Iterable[bytes]]  # called only when the ZIP reaches the file
    modified: datetime.datetime | None = None


# Public names for the apps above finance that add their own files to a request's archive.
ArchivePart = _Part
_providers: list[Callable[[RefundRequest], list[_Part]]] = []


def archive_parts_provider(provider: Callable[[RefundRequest], list[_Part]]) -> Callable[[RefundRequest], list[_Part]]:
    """Register ``provider(request)``: more files for the archive of ``request`` (e.g. a course
    exchange's calculation and payments); it returns [] for requests that are not its own."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


def archive_json(data: object) -> bytes:
    return _json(data)


def can_download_archive(user: User | AnonymousUser) -> bool:
    """Finance and campus heads (who export finance reports) and head office; the campus scoping
    of the request itself is the caller's."""
    return user.has_perm("finance.export_reports") or user.has_perm(SEE_ALL_CAMPUSES)


def archive_file_name(request: RefundRequest) -> str:
    return f"退费档案_{request.request_no}.zip"


def archive_entries(request: RefundRequest) -> Iterator[Entry]:
    """The archive's files, README.txt first; raises ``ArchiveRefused`` for an open request."""
    if request.status not in CLOSED_STATES:
        raise ArchiveRefused(
            _(
                "Request %(no)s is %(status)s: only finished requests "
                "(refunded, rejected, cancelled or closed) can be archived."
            )
            % {"no": request.request_no, "status": request.get_status_display()}
        )
    parts = _parts(request)
    readme = _readme(request, parts)
    return _entries(readme, parts)


def _entries(readme: bytes, parts: list[_Part]) -> Iterator[Entry]:
    yield Entry("README.txt", readme)
    for part in parts:
        yield Entry(part.name, _lazy(part.content), part.modified)


def _lazy(content: Callable[[], bytes | Iterable[bytes]]) -> Iterator[bytes]:
    produced = content()
    if isinstance(produced, bytes):
        yield produced
    else:
        yield from produced


def archive_response(request: RefundRequest) -> StreamingHttpResponse:
    """The archive as a download; raises ``ArchiveRefused`` before anything is sent."""
    entries = archive_entries(request)
    response = StreamingHttpResponse(zip_chunks(entries), content_type="application/zip")
    response["Content-Disposition"] = content_disposition(
        archive_file_name(request), fallback=f"refund_archive_{request.request_no}.zip"
    )
    response["Cache-Control"] = "private, no-store"
    return response


# --- The parts -----------------------------------------------------------------------------------


def _parts(request: RefundRequest) -> list[_Part]:
    """Every file of the archive, with the queries that list them already run (contents are lazy)."""
    parts = [
        _Part(
            "application.json",
            ("退费申请的全部字段（机器可读）。", "The application with all its fields (machine-readable)."),
            lambda: _json(_application(request)),
        ),
        _Part(
            "application.txt",
            ("退费申请（便于阅读）。", "The application, for reading."),
            lambda: _application_text(request),
        ),
        _Part(
            "quote.csv",
            ("申请时的退费报价明细。", "The lines of the refund quote the request was made on."),
            lambda: csv_chunks(QUOTE_COLUMNS, _quote_rows(request)),
        ),
    ]
    evidence = list(request.evidence.order_by("uploaded_at", "pk"))
    missing = {item.pk for item in evidence if not item.file.storage.exists(item.file.name)}
    parts.append(
        _Part(
            "evidence/index.csv",
            ("学生提交的证明材料清单。", "The evidence files the student gave."),
            lambda: csv_chunks(EVIDENCE_COLUMNS, _evidence_rows(evidence, missing)),
        )
    )
    for number, item in enumerate(evidence, start=1):
        if item.pk in missing:
            continue
        parts.append(
            _Part(
                f"evidence/{_evidence_name(number, item.original_name)}",
                (f"证明材料原件：{item.original_name}", f"Evidence file as uploaded: {item.original_name}"),
                partial(file_chunks, item.file),
                item.uploaded_at,
            )
        )
    parts += [
        _Part(
            "decisions/steps.csv",
            ("各级审批步骤及决定。", "The approval steps and their decisions."),
            lambda: csv_chunks(STEP_COLUMNS, _step_rows(request)),
        ),
        _Part(
            "decisions/transitions.csv",
            ("状态变更日志（谁、何时、为何）。", "The log of status changes: who, when, why."),
            lambda: csv_chunks(TRANSITION_COLUMNS, _transition_rows(request)),
        ),
        _Part(
            "decisions/history.csv",
            ("申请记录的历史版本。", "The saved versions of the request record."),
            lambda: csv_chunks(HISTORY_COLUMNS, _history_rows(request)),
        ),
    ]
    notifications = list(
        Notification.objects.filter(refund_request=request).select_related("recipient").order_by("created_at", "pk")
    )
    parts.append(
        _Part(
            "messages/notifications.csv",
            ("发出的全部通知。", "Every notification sent about the request."),
            lambda: csv_chunks(NOTIFICATION_COLUMNS, _notification_rows(notifications)),
        )
    )
    for number, message in enumerate(notifications, start=1):
        parts.append(
            _Part(
                f"messages/{_message_name(number, message)}",
                (f"通知全文（{message.channel}）。", f"The notification as sent ({message.channel})."),
                partial(_message_text, message),
                message.created_at,
            )
        )
    payouts = list(request.payouts.select_related("recorded_by").order_by("created_at", "pk"))
    parts += [
        _Part(
            "payouts/payouts.csv",
            ("退款打款记录。", "The payouts of the refund."),
            lambda: csv_chunks(PAYOUT_COLUMNS, _payout_rows(payouts)),
        ),
        _Part(
            "payouts/exchanges.json",
            ("与支付渠道的原始往来（请求与应答）。", "The raw exchanges with the gateway, as stored."),
            lambda: _json(_exchanges(payouts)),
        ),
    ]
    for payout in payouts:
        if payout.transfer_scan:
            parts.append(
                _Part(
                    f"payouts/{safe_name(payout.payout_no)}_transfer{PurePath(payout.transfer_scan.name).suffix}",
                    ("财务上传的转账凭证。", "The transfer slip finance uploaded."),
                    partial(file_chunks, payout.transfer_scan),
                )
            )
    parts.append(
        _Part(
            "vouchers/vouchers.csv",
            ("记账凭证及分录（借方/贷方）。", "The finance vouchers and their lines (debit/credit)."),
            lambda: csv_chunks(VOUCHER_COLUMNS, _voucher_rows(request)),
        )
    )
    receipt = Receipt.objects.filter(request=request).first()
    if receipt is not None:
        parts.append(
            _Part(
                f"receipt/{safe_name(receipt.number)}.pdf",
                ("电子凭证（PDF，开具时原样）。", "The e-receipt (PDF, as issued)."),
                partial(file_chunks, receipt.file),
                receipt.issued_at,
            )
        )
    for provider in _providers:
        parts += provider(request)
    return parts


def _readme(request: RefundRequest, parts: list[_Part]) -> bytes:
    now = f"{timezone.localtime():%Y-%m-%d %H:%M:%S}"
    lines = [
        f"退费档案 {request.request_no}（{now} 生成，北京时间）",
        f"Refund archive {request.request_no} (made {now}, Asia/Shanghai time)",
        "",
        "CSV 文件为 UTF-8（带 BOM），可直接用 Excel 打开；金额单位为人民币元。",
        "CSV files are UTF-8 with a BOM (Excel opens them as they are); amounts are in CNY.",
        "",
    ]
    for part in parts:
        chinese, english = part.description
        lines += [part.name, f"    {chinese}", f"    {english}"]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --- Application ---------------------------------------------------------------------------------


def mask_phone(phone: str) -> str:
    """138****5678: enough to recognise, not enough to call."""
    return _PHONE.sub(r"\1****\2", phone) if phone else ""


def _application(request: RefundRequest) -> dict[str, Any]:
    order, student, quote_ = request.order, request.student, request.quote
    return {
        "request_no": request.request_no,
        "status": request.status,
        "status_label": request.get_status_display(),
        "campus": request.campus.name,
        "student": {"name": student.name, "student_no": student.student_no, "phone": mask_phone(student.phone)},
        "order": {
            "order_no": order.order_no,
            "amount_paid": order.amount_paid,
            "paid_at": order.paid_at,
            "channel": order.channel,
            "gateway_trade_no": order.gateway_trade_no,
            "refunded_total": order.refunded_total,
            "status": order.status,
        },
        "course": {"code": order.course.code, "name": order.course.name, "type": order.course.course_type},
        "reason": request.reason,
        "reason_label": request.get_reason_display(),
        "details": request.details,
        "quote": {
            "method": quote_.method,
            "policy_name": quote_.policy_name,
            "policy_version": quote_.policy_version,
            "total": quote_.total,
            "refundable": quote_.refundable,
            "quoted_at": quote_.quoted_at,
        },
        "requested_amount": request.requested_amount,
        "approved_amount": request.approved_amount,
        "amount_confirmed": request.amount_confirmed,
        "route": request.route,
        "rejected_tier": request.rejected_tier,
        "returned_tier": request.returned_tier,
        "appeal": {"appealed_at": request.appealed_at, "reason": request.appeal_reason},
        "risk_flags": [str(flag) for flag in request.risk_flags],
        "submitted_at": request.submitted_at,
        "decided_at": request.decided_at,
        "updated_at": request.updated_at,
    }


def _application_text(request: RefundRequest) -> bytes:
    order, student = request.order, request.student
    rows = [
        (_("Request number"), request.request_no),
        (_("Status"), request.get_status_display()),
        (_("Campus"), request.campus.name),
        (_("Student"), f"{student.name} ({student.student_no})"),
        (_("Phone"), mask_phone(student.phone)),
        (_("Order number"), order.order_no),
        (_("Course"), f"{order.course.name} ({order.course.code})"),
        (_("Amount paid"), f"¥{order.amount_paid}"),
        (_("Paid at"), _time(order.paid_at)),
        (_("Channel"), order.get_channel_display()),
        (_("Reason"), request.get_reason_display()),
        (_("Details"), request.details),
        (_("Quote total"), f"¥{request.quote.total}"),
        (_("Requested amount"), f"¥{request.requested_amount}"),
        (_("Approved amount"), f"¥{request.approved_amount}"),
        (_("Submitted at"), _time(request.submitted_at)),
        (_("Decided at"), _time(request.decided_at)),
        (_("Appealed at"), _time(request.appealed_at)),
        (_("Appeal reason"), request.appeal_reason),
        (_("Risk flags"), "; ".join(str(flag) for flag in request.risk_flags)),
    ]
    return "\r\n".join(f"{label}: {value or '-'}" for label, value in rows).encode("utf-8") + b"\r\n"


# --- CSV files -----------------------------------------------------------------------------------

QUOTE_COLUMNS = [
    Column(gettext_lazy("Line"), Kind.INT),
    Column(gettext_lazy("Kind")),
    Column(gettext_lazy("Item")),
    Column(gettext_lazy("Formula")),
    Column(gettext_lazy("Amount"), Kind.MONEY),
    Column(gettext_lazy("Explanation")),
]
EVIDENCE_COLUMNS = [
    Column(gettext_lazy("File in the archive")),
    Column(gettext_lazy("Original name")),
    Column(gettext_lazy("Type")),
    Column(gettext_lazy("Size (bytes)"), Kind.INT),
    Column(gettext_lazy("SHA-256")),
    Column(gettext_lazy("Uploaded at"), Kind.DATETIME),
]
STEP_COLUMNS = [
    Column(gettext_lazy("Tier")),
    Column(gettext_lazy("Assigned to")),
    Column(gettext_lazy("Decision")),
    Column(gettext_lazy("Decided by")),
    Column(gettext_lazy("As delegate")),
    Column(gettext_lazy("Comment")),
    Column(gettext_lazy("Opened at"), Kind.DATETIME),
    Column(gettext_lazy("Due at"), Kind.DATETIME),
    Column(gettext_lazy("Decided at"), Kind.DATETIME),
    Column(gettext_lazy("Escalated at"), Kind.DATETIME),
    Column(gettext_lazy("Escalated to")),
]
TRANSITION_COLUMNS = [
    Column(gettext_lazy("At"), Kind.DATETIME),
    Column(gettext_lazy("Action")),
    Column(gettext_lazy("By")),
    Column(gettext_lazy("Status before")),
    Column(gettext_lazy("Status after")),
    Column(gettext_lazy("Comment")),
]
HISTORY_COLUMNS = [
    Column(gettext_lazy("At"), Kind.DATETIME),
    Column(gettext_lazy("Change")),
    Column(gettext_lazy("By")),
    Column(gettext_lazy("Status")),
    Column(gettext_lazy("Approved amount"), Kind.MONEY),
    Column(gettext_lazy("Tier position"), Kind.INT),
    Column(gettext_lazy("Route")),
    Column(gettext_lazy("Note")),
]
NOTIFICATION_COLUMNS = [
    Column(gettext_lazy("File in the archive")),
    Column(gettext_lazy("Written at"), Kind.DATETIME),
    Column(gettext_lazy("Event")),
    Column(gettext_lazy("Channel")),
    Column(gettext_lazy("Recipient")),
    Column(gettext_lazy("Address")),
    Column(gettext_lazy("Status")),
    Column(gettext_lazy("Attempts"), Kind.INT),
    Column(gettext_lazy("Sent at"), Kind.DATETIME),
    Column(gettext_lazy("Subject")),
    Column(gettext_lazy("Last error")),
]
PAYOUT_COLUMNS = [
    Column(gettext_lazy("Merchant refund number")),
    Column(gettext_lazy("Channel")),
    Column(gettext_lazy("Amount"), Kind.MONEY),
    Column(gettext_lazy("Status")),
    Column(gettext_lazy("Gateway refund id")),
    Column(gettext_lazy("Calls to the gateway"), Kind.INT),
    Column(gettext_lazy("Error code")),
    Column(gettext_lazy("Error")),
    Column(gettext_lazy("Arrives in")),
    Column(gettext_lazy("Account credited")),
    Column(gettext_lazy("Expected arrival from"), Kind.DATE),
    Column(gettext_lazy("Expected arrival by"), Kind.DATE),
    Column(gettext_lazy("Bank reference")),
    Column(gettext_lazy("Recorded by")),
    Column(gettext_lazy("Opened at"), Kind.DATETIME),
    Column(gettext_lazy("Sent at"), Kind.DATETIME),
    Column(gettext_lazy("Finished at"), Kind.DATETIME),
]
VOUCHER_COLUMNS = [
    Column(gettext_lazy("Voucher")),
    Column(gettext_lazy("Date"), Kind.DATE),
    Column(gettext_lazy("Kind")),
    Column(gettext_lazy("Summary")),
    Column(gettext_lazy("Reverses")),
    Column(gettext_lazy("Merchant refund number")),
    Column(gettext_lazy("Line"), Kind.INT),
    Column(gettext_lazy("Account code")),
    Column(gettext_lazy("Account")),
    Column(gettext_lazy("Debit"), Kind.MONEY),
    Column(gettext_lazy("Credit"), Kind.MONEY),
    Column(gettext_lazy("Memo")),
]


def _quote_rows(request: RefundRequest) -> Iterator[Row]:
    for line in request.quote.lines.order_by("position"):
        yield (line.position, line.get_kind_display(), line.label, line.formula, line.amount, line.explanation)


def _evidence_rows(evidence: list[RefundEvidence], missing: set[int]) -> Iterator[Row]:
    for number, item in enumerate(evidence, start=1):
        name: str
        if item.pk in missing:
            name = _("(missing from storage)")
        else:
            name = f"evidence/{_evidence_name(number, item.original_name)}"
        yield (name, item.original_name, item.content_type, item.size, item.sha256, item.uploaded_at)


def _step_rows(request: RefundRequest) -> Iterator[Row]:
    steps = request.steps.select_related("assignee__user", "decided_by__user", "escalated_to__user")
    for step in steps.order_by("created_at", "pk"):
        yield (
            step.get_tier_display(),
            step.assignee.name if step.assignee else "",
            step.get_decision_display(),
            step.decided_by.name if step.decided_by else "",
            _("yes") if step.delegate_used else "",
            step.comment,
            step.created_at,
            step.due_at,
            step.decided_at,
            step.escalated_at,
            step.escalated_to.name if step.escalated_to else "",
        )


def _transition_rows(request: RefundRequest) -> Iterator[Row]:
    for row in request.transitions.select_related("actor").order_by("created_at", "pk"):
        yield (
            row.created_at,
            row.name,
            str(row.actor) if row.actor else _("the system"),
            row.get_from_status_display() if row.from_status else "",
            row.get_to_status_display(),
            row.comment,
        )


def _history_rows(request: RefundRequest) -> Iterator[Row]:
    records = request.history.select_related("history_user").order_by("history_date", "history_id")
    changes = {"+": _("created"), "~": _("changed"), "-": _("deleted")}
    for record in records:
        yield (
            record.history_date,
            changes.get(record.history_type, record.history_type),
            str(record.history_user) if record.history_user else _("the system"),
            record.get_status_display(),
            record.approved_amount,
            record.route_position,
            " → ".join(record.route or []),
            record.history_change_reason or "",
        )


def _notification_rows(notifications: list[Notification]) -> Iterator[Row]:
    for number, message in enumerate(notifications, start=1):
        yield (
            f"messages/{_message_name(number, message)}",
            message.created_at,
            message.event,
            message.channel,
            message.recipient_name or (str(message.recipient) if message.recipient else ""),
            mask_phone(message.address),
            message.get_status_display(),
            message.attempts,
            message.sent_at,
            message.subject,
            message.last_error,
        )


def _payout_rows(payouts: list[Payout]) -> Iterator[Row]:
    for payout in payouts:
        yield (
            payout.payout_no,
            payout.get_channel_display(),
            payout.amount,
            payout.get_status_display(),
            payout.gateway_refund_id,
            payout.attempts,
            payout.error_code,
            payout.error_message,
            payout.get_arrival_kind_display() if payout.arrival_kind else "",
            payout.arrival_account,
            payout.arrival_earliest,
            payout.arrival_latest,
            payout.bank_reference,
            str(payout.recorded_by) if payout.recorded_by else "",
            payout.created_at,
            payout.sent_at,
            payout.finished_at,
        )


def _voucher_rows(request: RefundRequest) -> Iterator[Row]:
    lines = (
        VoucherLine.objects.filter(Q(voucher__request=request))
        .select_related("voucher__payout", "voucher__reverses")
        .order_by("voucher__period", "voucher__number", "position")
    )
    for line in lines:
        voucher = line.voucher
        yield (
            voucher.code,
            voucher.date,
            voucher.get_kind_display(),
            voucher.summary,
            voucher.reverses.code if voucher.reverses else "",
            voucher.payout.payout_no if voucher.payout else "",
            line.position,
            line.account_code,
            line.account_name,
            line.debit or None,
            line.credit or None,
            line.memo,
        )


# --- Other files ---------------------------------------------------------------------------------


def _exchanges(payouts: list[Payout]) -> list[dict[str, Any]]:
    by_payout: dict[int, list[dict[str, Any]]] = {payout.pk: [] for payout in payouts}
    for exchange in PayoutExchange.objects.filter(payout__in=payouts).order_by("created_at", "pk"):
        by_payout[exchange.payout_id].append(
            {
                "at": exchange.created_at,
                "kind": exchange.kind,
                "outcome": exchange.outcome,
                "error_code": exchange.error_code,
                "note": exchange.note,
                "request": exchange.request_data,
                "response": exchange.response_data,
            }
        )
    return [
        {"payout_no": payout.payout_no, "channel": payout.channel, "exchanges": by_payout[payout.pk]}
        for payout in payouts
    ]


def _message_text(message: Notification) -> bytes:
    rows = [
        (_("Event"), message.event),
        (_("Channel"), message.channel),
        (_("Recipient"), message.recipient_name),
        (_("Address"), mask_phone(message.address)),
        (_("Status"), message.get_status_display()),
        (_("Written at"), _time(message.created_at)),
        (_("Sent at"), _time(message.sent_at)),
        (_("Link"), message.link),
        (_("Subject"), message.subject),
    ]
    head = "\r\n".join(f"{label}: {value or '-'}" for label, value in rows)
    return f"{head}\r\n\r\n{message.body}\r\n".encode()


def _json(data: object) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode("utf-8")


def _time(value: datetime.datetime | None) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}" if value else ""


def _evidence_name(number: int, original_name: str) -> str:
    return f"{number:02d}_{safe_name(original_name)}"


def _message_name(number: int, message: Notification) -> str:
    return f"{number:02d}_{safe_name(message.channel)}_{safe_name(message.event)}.txt"
