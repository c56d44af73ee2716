"""Reconciling a gateway statement with our payouts: one saved run, one line per result.

Each refund row of the statement is matched to a payout of the statement's channel:

- WeChat Pay rows carry the merchant refund number (``out_refund_no`` = ``Payout.payout_no``);
- Alipay account-bill rows do not (see ``payments.gateways.alipay.parse_account_bill``): a row
  is matched to the payouts whose ``payout_no`` equals its 商户订单号 (should Alipay ever put
  ``out_request_no`` there), or whose order's ``order_no`` equals it, or whose order's
  ``gateway_trade_no`` equals its 业务流水号 — among those, a payout not yet matched with the
  same amount first (a succeeded one before others), so the partial refunds of one order each
  find their own payout.

Results: *matched* (ours, and both sides agree: refunded with the same amount, or not refunded
on either side); *amount mismatch* (amounts differ, the statement says refunded while our payout
has not succeeded or the other way round, or a payout listed twice — ``note`` says which);
*not ours* (no payout of ours); *missing* (a payout of ours that went out in the statement's
period — succeeded then, or sent then and still waiting — that the statement lacks).
"""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.services import notify, recipient_for_user, site_url
from payments.gateways.statements import Statement, StatementRow
from payments.models import Payout, PayoutStatus
from schoolops.models import Staff, StaffRole, User
from schoolops.scoping import SEE_ALL_CAMPUSES

from .events import RECONCILIATION_MISMATCH
from .models import LineResult, ReconciliationLine, ReconciliationRun
from .statements import parse_statement, statement_channel

WENT_OUT = (PayoutStatus.SUCCEEDED, PayoutStatus.SENT, PayoutStatus.UNKNOWN)


class ReconciliationError(Exception):
    """The upload cannot be reconciled (too large, no period); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def reconciliation_run_create(
    *,
    kind: str,
    upload: UploadedFile,
    user: User,
    period_start: datetime.date | None = None,
    period_end: datetime.date | None = None,
) -> ReconciliationRun:
    """Parse ``upload`` as a statement of ``kind``, match it with our payouts and save the run.

    Nothing is saved when the file is refused (``StatementError``) or cannot be placed in time
    (``ReconciliationError``). Differences alert head-office finance and the uploader.
    """
    limit = settings.FINANCE_STATEMENT_MAX_BYTES
    size = upload.size or 0
    if size > limit:
        raise ReconciliationError(
            _("The file is %(size)s bytes; statements of up to %(limit)s bytes are accepted.")
            % {"size": size, "limit": limit}
        )
    data = upload.read()
    name = upload.name or "statement.csv"
    statement = parse_statement(kind, data)
    start, end = _period(statement, period_start, period_end)
    channel = statement_channel(kind)
    lines = _match(statement, channel=channel, start=start, end=end)
    counts = Counter(line.result for line in lines)
    with transaction.atomic():
        run = ReconciliationRun(
            kind=kind,
            channel=channel,
            period_start=start,
            period_end=end,
            source_name=name[:200],
            sha256=hashlib.sha256(data).hexdigest(),
            statement_rows=len(statement.rows),
            statement_total=sum((row.amount for row in statement.rows if row.refunded), Decimal("0.00")),
            our_total=_our_total(channel=channel, start=start, end=end),
            matched=counts[LineResult.MATCHED],
            amount_mismatches=counts[LineResult.AMOUNT_MISMATCH],
            not_ours=counts[LineResult.NOT_OURS],
            missing=counts[LineResult.MISSING],
            uploaded_by=user,
        )
        run.source_file.save(name, ContentFile(data), save=False)
        run.save()
        for line in lines:
            line.run = run
        ReconciliationLine.objects.bulk_create(lines, batch_size=500)
        if run.has_problems:
            _alert(run, user=user)
    return run


def _period(
    statement: Statement, start: datetime.date | None, end: datetime.date | None
) -> tuple[datetime.date, datetime.date]:
    """The statement's own dates, else the form's (one of them stands for both), else the days of its rows."""
    if statement.period_start and statement.period_end:
        return statement.period_start, statement.period_end
    given = [day for day in (start, end) if day is not None]
    if given:
        first, last = start or given[-1], end or given[0]
        if last < first:
            raise ReconciliationError(_("The period ends before it starts."))
        return first, last
    if not statement.rows:
        raise ReconciliationError(
            _("The statement has no rows and does not say which day it covers: give its date in the form.")
        )
    days = [timezone.localdate(row.time) for row in statement.rows]
    return min(days), max(days)


def _bounds(start: datetime.date, end: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """From the first day's midnight to the midnight after the last day, Shanghai time."""
    zone = timezone.get_default_timezone()
    first = datetime.datetime.combine(start, datetime.time(0), tzinfo=zone)
    after = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time(0), tzinfo=zone)
    return first, after


def _went_out_in(*, channel: str, start: datetime.date, end: datetime.date) -> QuerySet[Payout]:
    first, after = _bounds(start, end)
    return Payout.objects.filter(channel=channel).filter(
        Q(status=PayoutStatus.SUCCEEDED, finished_at__gte=first, finished_at__lt=after)
        | Q(status__in=[PayoutStatus.SENT, PayoutStatus.UNKNOWN], sent_at__gte=first, sent_at__lt=after)
    )


def _our_total(*, channel: str, start: datetime.date, end: datetime.date) -> Decimal:
    amounts = _went_out_in(channel=channel, start=start, end=end).values_list("amount", flat=True)
    return sum(amounts, Decimal("0.00"))


def _match(statement: Statement, *, channel: str, start: datetime.date, end: datetime.date) -> list[ReconciliationLine]:
    """The run's lines (unsaved): one per statement row, then one per payout the statement lacks."""
    rows = statement.rows
    numbers = {row.payout_no for row in rows if row.payout_no} | {row.order_no for row in rows if not row.payout_no}
    order_nos = {row.order_no for row in rows if not row.payout_no and row.order_no}
    trade_nos = {row.trade_no for row in rows if not row.payout_no and row.trade_no}
    candidates = list(
        Payout.objects.filter(channel=channel)
        .filter(Q(payout_no__in=numbers) | Q(order__order_no__in=order_nos) | Q(order__gateway_trade_no__in=trade_nos))
        .select_related("order")
        .order_by("created_at", "pk")
    )
    by_no = {p.payout_no: p for p in candidates}
    claimed: set[int] = set()
    lines: list[ReconciliationLine] = []
    result: str
    for row in rows:
        payout = by_no.get(row.payout_no) if row.payout_no else _pick_for_order(row, candidates, claimed)
        if payout is None:
            result, note = LineResult.NOT_OURS, ""
        elif payout.pk in claimed:
            result, note = LineResult.AMOUNT_MISMATCH, _("This payout is listed more than once on the statement.")
        else:
            result, note = _judge(row, payout)
            claimed.add(payout.pk)
        lines.append(
            ReconciliationLine(
                result=result,
                payout=payout,
                payout_no=(payout.payout_no if payout else row.payout_no)[:64],
                gateway_refund_id=row.gateway_refund_id[:64],
                statement_amount=row.amount,
                our_amount=payout.amount if payout else None,
                statement_time=row.time,
                line_number=row.line,
                note=note[:300],
                raw=row.raw,
            )
        )
    absent = _went_out_in(channel=channel, start=start, end=end).exclude(pk__in=claimed).order_by("finished_at", "pk")
    for payout in absent:
        if payout.status == PayoutStatus.SUCCEEDED:
            note = _("Succeeded on our side at %(when)s.") % {"when": _local(payout.finished_at)}
        else:
            note = _("Sent at %(when)s; our payout is %(status)s.") % {
                "when": _local(payout.sent_at),
                "status": payout.get_status_display(),
            }
        lines.append(
            ReconciliationLine(
                result=LineResult.MISSING,
                payout=payout,
                payout_no=payout.payout_no,
                gateway_refund_id=payout.gateway_refund_id,
                our_amount=payout.amount,
                note=note,
            )
        )
    return lines


def _local(when: datetime.datetime | None) -> str:
    return f"{timezone.localtime(when):%Y-%m-%d %H:%M:%S}" if when is not None else "-"


def _pick_for_order(row: StatementRow, candidates: list[Payout], claimed: set[int]) -> Payout | None:
    """The payout an Alipay row stands for: same number or order, unclaimed, same amount first."""
    mine = [
        p
        for p in candidates
        if row.order_no in (p.payout_no, p.order.order_no)
        or (row.trade_no and row.trade_no == p.order.gateway_trade_no)
    ]
    if not mine:
        return None
    free = [p for p in mine if p.pk not in claimed]

    def rank(p: Payout) -> tuple[bool, bool]:
        return (p.amount != row.amount, p.status != PayoutStatus.SUCCEEDED)

    return min(free, key=rank) if free else mine[0]


def _judge(row: StatementRow, payout: Payout) -> tuple[str, str]:
    succeeded = payout.status == PayoutStatus.SUCCEEDED
    if row.refunded and not succeeded:
        return LineResult.AMOUNT_MISMATCH, _("The statement says refunded; our payout is %(status)s.") % {
            "status": payout.get_status_display()
        }
    if not row.refunded and succeeded:
        return LineResult.AMOUNT_MISMATCH, _("Our payout succeeded; the statement says %(status)s.") % {
            "status": row.status
        }
    if row.amount != payout.amount:
        return LineResult.AMOUNT_MISMATCH, _("The statement says %(theirs)s yuan, we paid %(ours)s (%(diff)s).") % {
            "theirs": row.amount,
            "ours": payout.amount,
            "diff": f"{row.amount - payout.amount:+}",
        }
    if not row.refunded:
        return LineResult.MATCHED, _("Not refunded on either side (statement: %(status)s; ours: %(ours)s).") % {
            "status": row.status,
            "ours": payout.get_status_display(),
        }
    return LineResult.MATCHED, ""


# --- The alert -----------------------------------------------------------------------------------


def reconciliation_summary(run: ReconciliationRun) -> str:
    """The differences of a run in a sentence: "1 amount mismatch; 2 not on the statement"."""
    parts = [
        ngettext("%(count)d amount mismatch", "%(count)d amount mismatches", run.amount_mismatches),
        ngettext("%(count)d on the statement but not ours", "%(count)d on the statement but not ours", run.not_ours),
        ngettext("%(count)d of ours not on the statement", "%(count)d of ours not on the statement", run.missing),
    ]
    counts = (run.amount_mismatches, run.not_ours, run.missing)
    return "; ".join(text % {"count": count} for text, count in zip(parts, counts, strict=True) if count)


def _head_office_finance(user: User) -> list[User]:
    """Active finance staff who see every campus, and the uploader."""
    staff = Staff.objects.active().of_role(StaffRole.FINANCE).select_related("user").order_by("pk")
    users = [member.user for member in staff if member.user.has_perm(SEE_ALL_CAMPUSES)]
    if all(u.pk != user.pk for u in users):
        users.append(user)
    return users


def _alert(run: ReconciliationRun, *, user: User) -> None:
    if run.period_start == run.period_end:
        date = f"{run.period_start:%Y-%m-%d}"
    else:
        date = f"{run.period_start:%Y-%m-%d} – {run.period_end:%Y-%m-%d}"
    link = site_url(reverse("admin:finance_reconciliationrun_change", args=[run.pk]))
    notify(
        key=f"reconciliation:{run.pk}",
        event=RECONCILIATION_MISMATCH,
        recipients=[recipient_for_user(u) for u in _head_office_finance(user)],
        context={
            "channel": str(run.get_channel_display()),
            "date": date,
            "amount": f"{run.statement_total:,.2f}",
            "reason": reconciliation_summary(run),
            "link": link,
            "contact": getattr(settings, "NOTIFICATIONS_CONTACT", ""),
        },
        channels=("inbox", "email"),
    )
