"""What a gateway's statement is once read, and the reading every statement parser shares.

A gateway that sends finance a statement file of its refunds names it on its class
(``RefundGateway.statement``: a ``StatementFormat`` with the kind finance stores, the label of
the upload form and the parser). The parser lives in the gateway's own module, next to the
rest of what we know about that channel; finance (``finance.statements``) asks the registry
for it by kind and reconciles the ``Statement`` it returns with our payouts.

Parsers take the decoded text (``decode`` below turns the uploaded bytes into it) and raise
``StatementError`` on the first fault, naming the line and the column.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class StatementError(Exception):
    """The file cannot be read as the chosen statement: where (line, column) and why."""

    def __init__(self, line: int | None, column: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message

    def __str__(self) -> str:
        if self.line and self.column:
            where = _("Line %(line)d, column “%(column)s”") % {"line": self.line, "column": self.column}
        elif self.line:
            where = _("Line %(line)d") % {"line": self.line}
        else:
            return self.message
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class StatementRow:
    """One refund on a statement, as the gateway states it."""

    line: int
    payout_no: str  # the merchant refund number; "" when the statement has no such column
    order_no: str  # the merchant order number (out_trade_no)
    trade_no: str  # the gateway's transaction number of the payment
    gateway_refund_id: str  # the gateway's own number of the refund (or of its ledger entry)
    amount: Decimal
    time: datetime.datetime
    status: str
    refunded: bool  # the gateway says the money went back
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    kind: str
    rows: list[StatementRow]
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    account: str = ""


@dataclass(frozen=True)
class StatementFormat:
    """A gateway's statement file: the kind finance stores on its run, the label finance picks it
    by, and the parser that reads its decoded text."""

    kind: str
    label: StrOrPromise
    parse: Callable[[str], Statement]


# --- Reading -------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030 text; binary files and empty ones are refused."""
    if not data.strip():
        raise StatementError(1, "", _("The file is empty."))
    if b"\x00" in data[:8192]:
        raise StatementError(1, "", _("This is not a CSV text file: it holds binary data."))
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StatementError(line, "", _("The text is neither UTF-8 nor GBK/GB18030.")) from exc


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the number of the line each starts on; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    last = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise StatementError(reader.line_num, "", _("Not valid CSV: %(error)s") % {"error": exc}) from exc
        start, last = last + 1, reader.line_num
        if any(f.strip() for f in fields):
            yield start, fields


def header(fields: list[str], line: int, *, normalise: Callable[[str], str] = str.strip) -> dict[str, int]:
    """Column name -> index; a name twice is refused."""
    names = [normalise(f) for f in fields]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise StatementError(line, name, _("This column appears twice in the header."))
        seen[name] = index
    return seen


def require(columns: dict[str, int], required: tuple[str, ...], line: int) -> None:
    for name in required:
        if name not in columns:
            raise StatementError(line, name, _("This column is missing from the header (renamed or removed?)."))


def check_width(fields: list[str], names: list[str], line: int) -> None:
    """A row has exactly as many fields as its header."""
    if len(fields) < len(names):
        raise StatementError(
            line,
            names[len(fields)],
            _("The row has %(found)d fields, the header %(expected)d: it ends before this column.")
            % {"found": len(fields), "expected": len(names)},
        )
    if len(fields) > len(names):
        raise StatementError(
            line,
            names[-1],
            _("The row has %(found)d fields, the header only %(expected)d.")
            % {"found": len(fields), "expected": len(names)},
        )


_MONEY = re.compile(r"-?\d+(\.\d{1,2})?")
FULL_WIDTH = str.maketrans({"：": ":", "（": "(", "）": ")", "\u3000": " "})
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y年%m月%d日 %H:%M:%S")


def money(value: str, line: int, column: str) -> Decimal:
    """Yuan with at most two decimals, exactly."""
    text = value.strip().replace(",", "")
    if not _MONEY.fullmatch(text):
        raise StatementError(line, column, _("“%(value)s” is not an amount in yuan (e.g. 300.00).") % {"value": value})
    return Decimal(text).quantize(Decimal("0.01"))


def parse_time(value: str) -> datetime.datetime | None:
    """A time as the gateways write it (Beijing time), or None."""
    text = " ".join(value.translate(FULL_WIDTH).split())
    for fmt in _TIME_FORMATS:
        try:
            wall = datetime.datetime.strptime(text, fmt)  # noqa: DTZ007  (the gateways write Beijing time)
            return timezone.make_aware(wall, timezone.get_default_timezone())
        except ValueError:
            continue
    return None


def time(value: str, line: int, column: str) -> datetime.datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise StatementError(
            line, column, _("“%(value)s” is not a time (e.g. 2026-03-01 14:05:09).") % {"value": value}
        )
    return parsed
