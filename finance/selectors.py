"""Reads for finance's reports: the refund ledger, the voucher journal and the monthly summary.

Every report is an iterator of rows (tuples in the order of the report's columns) read through
a database cursor in chunks, so memory stays flat whatever the number of rows; scoping to the
campuses the user may see happens here, once, for every way a report leaves the system. The
ledger can also be written as a file by PostgreSQL itself (``LedgerRows``, ``finance.copy_out``).
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.aggregates import StringAgg
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce, Concat, NullIf
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from orders.models import Order, OrderStatus, PaymentChannel
from payments.models import Payout, PayoutStatus
from refunds.models import (
    ApprovalStep,
    ApprovalTier,
    QuoteLineKind,
    QuoteSnapshotLine,
    RefundEvidence,
    StepDecision,
)
from schoolops.scoping import scope_to_campus

from .copy_out import copy_rows
from .models import Voucher, VoucherKind, VoucherLine
from .writers import Column, Kind, Row

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django_stubs_ext import StrOrPromise

    from schoolops.models import User

CHUNK = 5000
CENT = Decimal("0.01")


class DateField:
    """Which date of a refund a period filter applies to."""

    APPLIED = "applied"
    APPROVED = "approved"
    PAID = "paid"
    CHOICES = [
        (APPLIED, gettext_lazy("Applied on")),
        (APPROVED, gettext_lazy("Approved on")),
        (PAID, gettext_lazy("Paid on")),
    ]
    LOOKUP = {APPLIED: "request__submitted_at", APPROVED: "request__decided_at", PAID: "finished_at"}


@dataclass(frozen=True)
class ReportFilters:
    """What a report covers. Dates are Shanghai calendar days, both ends included."""

    date_field: str = DateField.PAID
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    campus_ids: tuple[int, ...] = ()
    channel: str = ""
    status: str = ""  # a payout status
    course_id: int | None = None
    payout_ids: tuple[int, ...] = field(default=())  # an admin selection of payouts
    voucher_ids: tuple[int, ...] = field(default=())  # an admin selection of vouchers (the journal only)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("date_from", "date_to"):
            data[key] = data[key].isoformat() if data[key] else None
        data["campus_ids"] = list(self.campus_ids)
        data["payout_ids"] = list(self.payout_ids)
        data["voucher_ids"] = list(self.voucher_ids)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportFilters:
        data = dict(data)
        for key in ("date_from", "date_to"):
            data[key] = datetime.date.fromisoformat(data[key]) if data.get(key) else None
        data["campus_ids"] = tuple(data.get("campus_ids") or ())
        data["payout_ids"] = tuple(data.get("payout_ids") or ())
        data["voucher_ids"] = tuple(data.get("voucher_ids") or ())
        return cls(**data)


def labels(choices: Iterable[tuple[str, StrOrPromise]]) -> dict[str, str]:
    """A choice's labels translated once per report: casting a lazy label costs a gettext per row."""
    return {value: str(label) for value, label in choices}


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def _period(lookup: str, filters: ReportFilters) -> Q:
    """``lookup`` within the filter's days, as aware times (index-friendly, no date casts)."""
    query = Q()
    if filters.date_from:
        query &= Q(**{f"{lookup}__gte": _day_start(filters.date_from)})
    if filters.date_to:
        query &= Q(**{f"{lookup}__lt": _day_start(filters.date_to + datetime.timedelta(days=1))})
    return query


# --- The refund ledger: one row per payout --------------------------------------------------------

LEDGER_COLUMNS = [
    Column(gettext_lazy("Request number"), width=22),
    Column(gettext_lazy("Order number"), width=22),
    Column(gettext_lazy("Student"), width=12),
    Column(gettext_lazy("Course"), width=28),
    Column(gettext_lazy("Campus"), width=12),
    Column(gettext_lazy("Channel"), width=10),
    Column(gettext_lazy("Original transaction number"), width=30),
    Column(gettext_lazy("Merchant refund number"), width=26),
    Column(gettext_lazy("Gateway refund id"), width=30),
    Column(gettext_lazy("Amount paid"), Kind.MONEY),
    Column(gettext_lazy("Quote total"), Kind.MONEY),
    Column(gettext_lazy("Approved amount"), Kind.MONEY),
    Column(gettext_lazy("Handling fee deducted"), Kind.MONEY),
    Column(gettext_lazy("Amount paid back"), Kind.MONEY),
    Column(gettext_lazy("Requested at"), Kind.DATETIME, 19),
    Column(gettext_lazy("Approved at"), Kind.DATETIME, 19),
    Column(gettext_lazy("Paid at"), Kind.DATETIME, 19),
    Column(gettext_lazy("Approvers"), width=30),
    Column(gettext_lazy("Payout status"), width=12),
]

_LEDGER_FIELDS = (
    "request_id",
    "request__request_no",
    "order__order_no",
    "request__student__user__name",
    "request__student__user__username",
    "order__course__name",
    "request__campus__name",
    "channel",
    "order__gateway_trade_no",
    "payout_no",
    "gateway_refund_id",
    "order__amount_paid",
    "request__quote__total",
    "request__approved_amount",
    "fee",
    "amount",
    "request__submitted_at",
    "request__decided_at",
    "finished_at",
    "status",
)


def ledger_queryset(filters: ReportFilters, *, user: User | AnonymousUser) -> QuerySet[Payout]:
    """The payouts a ledger covers, scoped to the user's campuses, oldest first."""
    queryset = scope_to_campus(Payout.objects.all(), user=user, campus_field="request__campus")
    queryset = queryset.filter(_period(DateField.LOOKUP[filters.date_field], filters))
    if filters.campus_ids:
        queryset = queryset.filter(request__campus_id__in=filters.campus_ids)
    if filters.channel:
        queryset = queryset.filter(channel=filters.channel)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.course_id:
        queryset = queryset.filter(order__course_id=filters.course_id)
    if filters.payout_ids:
        queryset = queryset.filter(pk__in=filters.payout_ids)
    return queryset.order_by("created_at", "pk")


class LedgerRows(Iterator[Row]):
    """The ledger's rows, read as they are iterated (Python values, as every report's rows), or,
    on PostgreSQL, written as CSV or XLSX by the database itself (``writers.DatabaseWritable``):
    the same cells, without a Python object per value. ``count`` is the rows produced so far
    either way. ``using`` names the database to read from (the router's choice when None)."""

    def __init__(self, filters: ReportFilters, *, user: User | AnonymousUser, using: str | None = None) -> None:
        self.filters = filters
        self.user = user
        self.using = using
        self.count = 0
        self._rows: Iterator[Row] | None = None

    def __next__(self) -> Row:
        if self._rows is None:
            self._rows = _ledger_python_rows(self._queryset())
        row = next(self._rows)
        self.count += 1
        return row

    def database_write(self, columns: list[Column], fmt: str, write: Callable[[bytes], object]) -> Iterator[int] | None:
        """The rows written as ``fmt`` by PostgreSQL through ``write`` (see ``finance.copy_out``),
        or None where it cannot (another database, other columns, rows already read, a time zone
        without a name PostgreSQL shares with Python's zoneinfo)."""
        queryset = self._queryset()
        if connections[queryset.db].vendor != "postgresql" or columns != LEDGER_COLUMNS or self._rows is not None:
            return None
        if not isinstance(timezone.get_current_timezone(), zoneinfo.ZoneInfo):
            return None
        self._rows = iter(())
        return self._written(queryset, columns, fmt, write)

    def _written(
        self, queryset: QuerySet[Payout], columns: list[Column], fmt: str, write: Callable[[bytes], object]
    ) -> Iterator[int]:
        # Built as the chunks are pulled: labels and times in the language and zone active then.
        for count in copy_rows(queryset, columns, _ledger_sql_values(), fmt=fmt, tz_name=_tz_name(), write=write):
            self.count = count
            yield count

    def _queryset(self) -> QuerySet[Payout]:
        queryset = ledger_queryset(self.filters, user=self.user)
        return queryset.using(self.using) if self.using else queryset


def ledger_rows(filters: ReportFilters, *, user: User | AnonymousUser, using: str | None = None) -> LedgerRows:
    """One row per payout, in the order payouts were created (see ``LedgerRows``)."""
    return LedgerRows(filters, user=user, using=using)


def _fee() -> Subquery:
    return Subquery(
        QuoteSnapshotLine.objects.filter(snapshot=OuterRef("request__quote"), kind=QuoteLineKind.HANDLING_FEE)
        .values("snapshot")
        .annotate(total=Sum("amount"))
        .values("total")
    )


def _ledger_python_rows(queryset: QuerySet[Payout]) -> Iterator[Row]:
    queryset = queryset.annotate(
        fee=Coalesce(_fee(), Value(Decimal("0.00")), output_field=DecimalField(max_digits=12, decimal_places=2))
    )
    channels = labels(PaymentChannel.choices)
    statuses = labels(PayoutStatus.choices)
    for chunk in _keyset_chunks(queryset, _LEDGER_FIELDS):
        approvers = _approvers({row[0] for row in chunk}, using=queryset.db)
        for (
            request_id,
            request_no,
            order_no,
            name,
            username,
            course,
            campus,
            channel,
            trade_no,
            payout_no,
            refund_id,
            paid,
            quote_total,
            approved,
            fee_total,
            amount,
            submitted_at,
            decided_at,
            finished_at,
            status,
        ) in chunk:
            succeeded = status == PayoutStatus.SUCCEEDED
            yield (
                request_no,
                order_no,
                name or username,
                course,
                campus,
                channels.get(channel, channel),
                trade_no,
                payout_no,
                refund_id,
                paid,
                quote_total,
                approved,
                (-fee_total).quantize(CENT) if fee_total else Decimal("0.00"),
                amount if succeeded else None,
                submitted_at,
                decided_at,
                finished_at if succeeded else None,
                approvers.get(request_id, ""),
                statuses.get(status, status),
            )


def _keyset_chunks(queryset: QuerySet[Payout], fields: tuple[str, ...]) -> Iterator[list[Row]]:
    """The rows in (created_at, id) order, ``CHUNK`` at a time, each chunk one short query that
    starts after the last row of the one before (through the ``payout_created`` index): the
    first rows come out at once, nothing is held open between chunks, and memory stays flat."""
    after = Q()
    while True:
        chunk = list(queryset.filter(after).values_list(*fields, "created_at", "pk")[:CHUNK])
        if not chunk:
            return
        yield [row[:-2] for row in chunk]
        if len(chunk) < CHUNK:
            return
        created_at, pk = chunk[-1][-2:]
        # The ">=" bounds the index scan; the OR only sorts out the ties (a bare OR would be a
        # filter, not an index condition: every chunk would walk the index from the start).
        after = Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(pk__gt=pk))


def _approvers(request_ids: set[int], *, using: str) -> dict[int, str]:
    """Who approved each request, tier by tier: "班主任审核：张老师；财务审核：李会计"."""
    steps = (
        ApprovalStep.objects.using(using)
        .filter(request_id__in=request_ids, decision=StepDecision.APPROVED)
        .order_by("request_id", "decided_at", "pk")
        .values_list("request_id", "tier", "decided_by__user__name", "decided_by__user__username")
    )
    tiers = labels(ApprovalTier.choices)
    automatic = _("automatic")
    names: dict[int, list[str]] = defaultdict(list)
    for request_id, tier, name, username in steps:
        names[request_id].append(f"{tiers.get(tier, tier)}：{name or username or automatic}")
    return {request_id: "；".join(parts) for request_id, parts in names.items()}


def _label(field: str, choices: Iterable[tuple[str, StrOrPromise]]) -> Case:
    """A choice's label in the active language, in SQL (a value without a label as it is)."""
    return Case(
        *[When(**{field: value}, then=Value(label)) for value, label in labels(choices).items()],
        default=F(field),
        output_field=CharField(),
    )


def _ledger_sql_values() -> list[Combinable]:
    """The ledger's columns as the database computes them, for ``copy_out``: the same values as
    ``_ledger_python_rows`` (NULL where it gives None or ""), in ``LEDGER_COLUMNS``' order."""
    succeeded = Q(status=PayoutStatus.SUCCEEDED)
    approvers = (
        ApprovalStep.objects.filter(request=OuterRef("request"), decision=StepDecision.APPROVED)
        .order_by()
        .values("request")
        .annotate(
            names=StringAgg(
                Concat(
                    _label("tier", ApprovalTier.choices),
                    Value("："),
                    Coalesce(
                        NullIf("decided_by__user__name", Value("")),
                        NullIf("decided_by__user__username", Value("")),
                        Value(_("automatic")),
                    ),
                    output_field=TextField(),
                ),
                delimiter="；",
                order_by=("decided_at", "pk"),
            )
        )
        .values("names")
    )
    return [
        F("request__request_no"),
        F("order__order_no"),
        Coalesce(NullIf("request__student__user__name", Value("")), "request__student__user__username"),
        F("order__course__name"),
        F("request__campus__name"),
        _label("channel", PaymentChannel.choices),
        F("order__gateway_trade_no"),
        F("payout_no"),
        F("gateway_refund_id"),
        F("order__amount_paid"),
        F("request__quote__total"),
        F("request__approved_amount"),
        -Coalesce(_fee(), Value(Decimal("0.00")), output_field=DecimalField(max_digits=12, decimal_places=2)),
        Case(When(succeeded, then=F("amount"))),
        F("request__submitted_at"),
        F("request__decided_at"),
        Case(When(succeeded, then=F("finished_at"))),
        Subquery(approvers, output_field=TextField()),
        _label("status", PayoutStatus.choices),
    ]


def _tz_name() -> str:
    return timezone.get_current_timezone_name()


# --- The voucher journal: one row per voucher line -------------------------------------------------

VOUCHER_COLUMNS = [
    Column(gettext_lazy("Voucher"), width=16),
    Column(gettext_lazy("Date"), Kind.DATE, 12),
    Column(gettext_lazy("Kind"), width=10),
    Column(gettext_lazy("Summary"), width=40),
    Column(gettext_lazy("Line"), Kind.INT, 6),
    Column(gettext_lazy("Account code"), width=10),
    Column(gettext_lazy("Account"), width=24),
    Column(gettext_lazy("Debit"), Kind.MONEY),
    Column(gettext_lazy("Credit"), Kind.MONEY),
    Column(gettext_lazy("Memo"), width=40),
    Column(gettext_lazy("Merchant refund number"), width=26),
    Column(gettext_lazy("Request number"), width=22),
    Column(gettext_lazy("Campus"), width=12),
    Column(gettext_lazy("Reverses"), width=16),
    Column(gettext_lazy("Made by"), width=12),
]


def voucher_lines_queryset(filters: ReportFilters, *, user: User | AnonymousUser) -> QuerySet[VoucherLine]:
    """Voucher lines in the period (by voucher date), scoped, in journal order."""
    queryset = scope_to_campus(VoucherLine.objects.all(), user=user, campus_field="voucher__request__campus")
    if filters.date_from:
        queryset = queryset.filter(voucher__date__gte=filters.date_from)
    if filters.date_to:
        queryset = queryset.filter(voucher__date__lte=filters.date_to)
    if filters.campus_ids:
        queryset = queryset.filter(voucher__request__campus_id__in=filters.campus_ids)
    if filters.channel:
        queryset = queryset.filter(voucher__payout__channel=filters.channel)
    if filters.course_id:
        queryset = queryset.filter(voucher__request__order__course_id=filters.course_id)
    if filters.payout_ids:
        queryset = queryset.filter(voucher__payout_id__in=filters.payout_ids)
    if filters.voucher_ids:
        queryset = queryset.filter(voucher_id__in=filters.voucher_ids)
    return queryset.order_by("voucher__period", "voucher__number", "position")


def voucher_rows(filters: ReportFilters, *, user: User | AnonymousUser) -> Iterator[Row]:
    kinds = labels(VoucherKind.choices)
    rows = voucher_lines_queryset(filters, user=user).values_list(
        "voucher__period",
        "voucher__number",
        "voucher__date",
        "voucher__kind",
        "voucher__summary",
        "position",
        "account_code",
        "account_name",
        "debit",
        "credit",
        "memo",
        "voucher__payout__payout_no",
        "voucher__request__request_no",
        "voucher__request__campus__name",
        "voucher__reverses__period",
        "voucher__reverses__number",
        "voucher__created_by__name",
        "voucher__created_by__username",
    )
    for (
        period,
        number,
        date,
        kind,
        summary,
        position,
        code,
        account,
        debit,
        credit,
        memo,
        payout_no,
        request_no,
        campus,
        reverses_period,
        reverses_number,
        by_name,
        by_username,
    ) in rows.iterator(chunk_size=CHUNK):
        yield (
            voucher_code(period, number),
            date,
            kinds.get(kind, kind),
            summary,
            position,
            code,
            account,
            debit or None,
            credit or None,
            memo,
            payout_no or "",
            request_no or "",
            campus or "",
            voucher_code(reverses_period, reverses_number) if reverses_number else "",
            by_name or by_username or _("system"),
        )


def voucher_code(period: str, number: int) -> str:
    """记-2026-12-0001, as ``Voucher.code`` writes it."""
    return f"记-{period}-{number:04d}"


# --- The monthly summary: per month × campus × channel ---------------------------------------------

SUMMARY_COLUMNS = [
    Column(gettext_lazy("Month"), width=10),
    Column(gettext_lazy("Campus"), width=14),
    Column(gettext_lazy("Channel"), width=10),
    Column(gettext_lazy("Refunds paid"), Kind.INT, 10),
    Column(gettext_lazy("Amount refunded"), Kind.MONEY, 16),
    Column(gettext_lazy("Revenue"), Kind.MONEY, 16),
    Column(gettext_lazy("Refunds / revenue (%)"), Kind.MONEY, 12),
]


def summary_rows(filters: ReportFilters, *, user: User | AnonymousUser) -> Iterator[Row]:
    """Succeeded payouts by the month they were paid, next to the revenue (orders paid) of the
    same month, campus and channel. Months are Shanghai months."""
    paid_filters = replace(filters, date_field=DateField.PAID)
    payouts = (
        ledger_queryset(paid_filters, user=user)
        .filter(status=PayoutStatus.SUCCEEDED)
        .values_list("finished_at", "request__campus_id", "request__campus__name", "channel", "amount")
        .order_by()
    )
    # (month, campus id, channel) -> payouts paid, amount paid back, revenue
    paid: dict[tuple[str, int, str], int] = defaultdict(int)
    refunded: dict[tuple[str, int, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    campus_names: dict[int, str] = {}
    for finished_at, campus_id, campus_name, channel, amount in payouts.iterator(chunk_size=CHUNK):
        key = (f"{timezone.localtime(finished_at):%Y-%m}", campus_id, channel)
        paid[key] += 1
        refunded[key] += amount
        campus_names[campus_id] = campus_name
    revenue: dict[tuple[str, int, str], Decimal] = defaultdict(lambda: Decimal("0.00"))
    # Revenue: what was paid and kept on the books; a cancelled order was voided by the order system.
    orders = (
        scope_to_campus(Order.objects.all(), user=user, campus_field="course__campus")
        .filter(_period("paid_at", filters))
        .exclude(status=OrderStatus.CANCELLED)
    )
    if filters.campus_ids:
        orders = orders.filter(course__campus_id__in=filters.campus_ids)
    if filters.channel:
        orders = orders.filter(channel=filters.channel)
    if filters.course_id:
        orders = orders.filter(course_id=filters.course_id)
    for paid_at, campus_id, campus_name, channel, amount in (
        orders.values_list("paid_at", "course__campus_id", "course__campus__name", "channel", "amount_paid")
        .order_by()
        .iterator(chunk_size=CHUNK)
    ):
        revenue[(f"{timezone.localtime(paid_at):%Y-%m}", campus_id, channel)] += amount
        campus_names.setdefault(campus_id, campus_name)
    channels = labels(PaymentChannel.choices)
    for key in sorted(set(paid) | set(revenue), key=lambda k: (k[0], campus_names.get(k[1], ""), k[2])):
        month, campus_id, channel = key
        count, amount = paid.get(key, 0), refunded.get(key, Decimal("0.00"))
        income = revenue.get(key, Decimal("0.00"))
        share = (amount * 100 / income).quantize(Decimal("0.01")) if income else None
        campus = campus_names.get(campus_id, "")
        yield (month, campus, channels.get(channel, channel), count, amount, income, share)


__all__ = [
    "LEDGER_COLUMNS",
    "SUMMARY_COLUMNS",
    "VOUCHER_COLUMNS",
    "DateField",
    "ReportFilters",
    "ledger_rows",
    "summary_rows",
    "voucher_rows",
]


# --- The voucher on paper ------------------------------------------------------------------------


@dataclass(frozen=True)
class VoucherSheet:
    """What a printed voucher (记账凭证) shows beside its lines: totals, the number of
    attachments (原始凭证) and who prepared it (制单)."""

    lines: list[VoucherLine]
    total_debit: Decimal
    total_credit: Decimal
    attachments: int
    prepared_by: str


def voucher_sheet(*, voucher: Voucher) -> VoucherSheet:
    """The printed voucher's lines and totals. Attachments are the papers behind it: the refund's
    evidence files and the transfer slip finance uploaded. A voucher the system wrote when the
    gateway confirmed the refund was prepared by "the system"."""
    lines = list(voucher.lines.order_by("position"))
    payout = voucher.payout
    request_id = voucher.request_id or (payout.request_id if payout is not None else None)
    attachments = RefundEvidence.objects.filter(request_id=request_id).count() if request_id else 0
    if payout is not None and payout.transfer_scan:
        attachments += 1
    by = voucher.created_by
    return VoucherSheet(
        lines=lines,
        total_debit=sum((line.debit for line in lines), Decimal("0.00")),
        total_credit=sum((line.credit for line in lines), Decimal("0.00")),
        attachments=attachments,
        prepared_by=(by.name or by.username) if by else _("System"),
    )
