"""Gateway statements read from the files finance downloads: refunds only, checked to the cell.

WeChat Pay refund bill (API v2 ``downloadbill`` with ``bill_type=REFUND``, or the same file from
the merchant platform): UTF-8 text, a header row of Chinese column names, one data row per refund
with every field prefixed by a backtick, then a totals header row (``总交易单数,…``) and a totals
row. Two layouts are documented and both are accepted, found by column name:

- current (29 columns): 交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,
  交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,
  商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,
  申请退款金额,费率备注 — totals 总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,
  订单总金额,申请退款总金额;
- older (26 columns): the same up to 费率, with 子商户号 / 总金额 / 代金券或立减优惠金额 /
  代金券或立减优惠退款金额 — totals 总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额.

Every row of a refund bill is a refund; its 退款状态 (SUCCESS, PROCESSING, REFUNDCLOSE, CHANGE)
says whether the money went back. The totals row is checked against the rows (count and refund
total), so a file cut short is refused. The bill names no day: the period comes from the upload
form or from the rows.

Alipay account bill (账务明细, ``alipay.data.dataservice.bill.downloadurl.query`` with
``bill_type=signcustomer``; the ``…_账务明细.csv`` of the zip): GBK text, ``#`` comment lines
before the column header (#支付宝账务明细查询, #账号：[…], #起始日期：[…] 终止日期：[…]) and after the
rows (#支出合计：n笔，共x元, #收入合计…, #导出时间…). Columns: 账务流水号,业务流水号,商户订单号,商品名称,
发生时间,对方账号,收入金额（+元）,支出金额（-元）,账户余额（元）,交易渠道,业务类型,备注; newer files
add columns (业务基础订单号, 业务订单号, 业务账单来源, 业务描述, …) and some write the brackets
half-width — columns are found by name, brackets either way, and extra columns are kept as they
are. Values often carry a trailing tab (so Excel keeps long numbers); it is removed. Refunds are
the rows whose 业务类型 is 交易退款, the money in 支出金额. Every row is still checked (times,
amounts) and the #支出合计 / #收入合计 footers, when present, must agree with the rows.

The account bill has no column for the merchant refund number (``out_request_no``): a refund row
carries the merchant order number (商户订单号, our ``Order.order_no``) and the Alipay trade number
(业务流水号, our ``Order.gateway_trade_no``). Its rows therefore have an empty ``payout_no`` and
are matched to payouts through the order and the amount (see ``finance.reconciliation``).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from .models import StatementKind


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
    payout_no: str  # the merchant refund number; "" on the Alipay account bill (no such column)
    order_no: str  # the merchant order number (out_trade_no)
    trade_no: str  # the gateway's transaction number of the payment
    gateway_refund_id: str  # WeChat: 微信退款单号; Alipay: 账务流水号 (the ledger entry)
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


def parse_statement(kind: str, data: bytes) -> Statement:
    """Read ``data`` as a statement of ``kind``; raises ``StatementError`` on the first fault."""
    parsers = {StatementKind.WECHAT_REFUND: _parse_wechat_refund, StatementKind.ALIPAY_ACCOUNT: _parse_alipay_account}
    if kind not in parsers:
        raise StatementError(None, "", _("Unknown statement kind %(kind)r.") % {"kind": kind})
    return parsers[kind](_decode(data))


# --- Reading -------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
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


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
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


def _header(fields: list[str], line: int, *, normalise=str.strip) -> dict[str, int]:
    names = [normalise(f) for f in fields]
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise StatementError(line, name, _("This column appears twice in the header."))
        seen[name] = index
    return seen


def _require(columns: dict[str, int], required: tuple[str, ...], line: int) -> None:
    for name in required:
        if name not in columns:
            raise StatementError(line, name, _("This column is missing from the header (renamed or removed?)."))


def _check_width(fields: list[str], header: list[str], line: int) -> None:
    if len(fields) < len(header):
        raise StatementError(
            line,
            header[len(fields)],
            _("The row has %(found)d fields, the header %(expected)d: it ends before this column.")
            % {"found": len(fields), "expected": len(header)},
        )
    if len(fields) > len(header):
        raise StatementError(
            line,
            header[-1],
            _("The row has %(found)d fields, the header only %(expected)d.")
            % {"found": len(fields), "expected": len(header)},
        )


_MONEY = re.compile(r"-?\d+(\.\d{1,2})?")
_FULL_WIDTH = str.maketrans({"：": ":", "（": "(", "）": ")", "\u3000": " "})
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y年%m月%d日 %H:%M:%S")


def _money(value: str, line: int, column: str) -> Decimal:
    """Yuan with at most two decimals, exactly."""
    text = value.strip().replace(",", "")
    if not _MONEY.fullmatch(text):
        raise StatementError(line, column, _("“%(value)s” is not an amount in yuan (e.g. 300.00).") % {"value": value})
    return Decimal(text).quantize(Decimal("0.01"))


def _parse_time(value: str) -> datetime.datetime | None:
    text = " ".join(value.translate(_FULL_WIDTH).split())
    for fmt in _TIME_FORMATS:
        try:
            wall = datetime.datetime.strptime(text, fmt)  # noqa: DTZ007  (the gateways write Beijing time)
            return timezone.make_aware(wall, timezone.get_default_timezone())
        except ValueError:
            continue
    return None


def _time(value: str, line: int, column: str) -> datetime.datetime:
    parsed = _parse_time(value)
    if parsed is None:
        raise StatementError(
            line, column, _("“%(value)s” is not a time (e.g. 2026-03-01 14:05:09).") % {"value": value}
        )
    return parsed


# --- WeChat Pay refund bill ----------------------------------------------------------------------

WECHAT_COLUMNS = [
    *("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型"),
    *("交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "退款申请时间", "退款成功时间", "微信退款单号"),
    *("商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包", "手续费", "费率"),
    *("订单金额", "申请退款金额", "费率备注"),
]
WECHAT_REQUIRED = ("交易时间", "微信订单号", "商户订单号", "退款申请时间", "退款成功时间", "微信退款单号")
WECHAT_REQUIRED += ("商户退款单号", "退款金额", "退款状态")
WECHAT_TOTALS = "总交易单数"
WECHAT_TOTAL_REFUNDS = ("退款总金额", "总退款金额")  # current, older layout


def _wechat_value(text: str) -> str:
    """A field without the backtick WeChat Pay puts before every value."""
    text = text.strip()
    return text[1:].strip() if text.startswith("`") else text


def _parse_wechat_refund(text: str) -> Statement:
    records = _records(text)
    first = next(records, None)
    if first is None:
        raise StatementError(1, "", _("The file is empty."))
    line, fields = first
    columns = _header(fields, line)
    if "交易时间" not in columns or "微信订单号" not in columns:
        raise StatementError(
            line,
            "",
            _("This is not a WeChat Pay bill: its first line should be the header “%(header)s…”.")
            % {"header": ",".join(WECHAT_COLUMNS[:6])},
        )
    if "商户退款单号" not in columns:
        raise StatementError(
            line, "商户退款单号", _("This is a WeChat Pay bill, but not a refund bill (download it with type REFUND).")
        )
    _require(columns, WECHAT_REQUIRED, line)
    header = [f.strip() for f in fields]
    rows: list[StatementRow] = []
    totals: tuple[int, list[str], list[str]] | None = None
    for line, fields in records:
        if totals is not None:
            if len(totals[2]) == 0:
                totals = (line, totals[1], fields)
                continue
            raise StatementError(line, "", _("Nothing may follow the totals line."))
        if _wechat_value(fields[0]) == WECHAT_TOTALS:
            totals = (line, [f.strip() for f in fields], [])
            continue
        _check_width(fields, header, line)
        raw = {name: _wechat_value(value) for name, value in zip(header, fields, strict=True)}
        applied = _time(raw["退款申请时间"], line, "退款申请时间")
        succeeded = _time(raw["退款成功时间"], line, "退款成功时间") if raw["退款成功时间"] else None
        if not raw["商户退款单号"]:
            raise StatementError(line, "商户退款单号", _("The merchant refund number is empty."))
        status = raw["退款状态"].upper()
        rows.append(
            StatementRow(
                line=line,
                payout_no=raw["商户退款单号"],
                order_no=raw["商户订单号"],
                trade_no=raw["微信订单号"],
                gateway_refund_id=raw["微信退款单号"],
                amount=_money(raw["退款金额"], line, "退款金额"),
                time=succeeded or applied,
                status=status,
                refunded=status == "SUCCESS",
                raw=raw,
            )
        )
    _check_wechat_totals(totals, rows, last_line=line)
    return Statement(kind=StatementKind.WECHAT_REFUND, rows=rows)


def _check_wechat_totals(totals, rows: list[StatementRow], *, last_line: int) -> None:
    """The totals row must be there and agree with the rows: a file cut short is refused."""
    if totals is None or not totals[2]:
        raise StatementError(
            last_line + 1,
            "",
            _("The totals lines (%(name)s,…) are missing: the file is incomplete.") % {"name": WECHAT_TOTALS},
        )
    line, names, values = totals
    _check_width(values, names, line)
    sums = dict(zip(names, (_wechat_value(v) for v in values), strict=True))
    count = sums[WECHAT_TOTALS]
    if not count.isdigit() or int(count) != len(rows):
        raise StatementError(
            line,
            WECHAT_TOTALS,
            _("The totals say %(stated)s refunds, the file lists %(found)d.") % {"stated": count, "found": len(rows)},
        )
    name = next((n for n in WECHAT_TOTAL_REFUNDS if n in sums), None)
    if name is None:
        raise StatementError(line - 1, WECHAT_TOTAL_REFUNDS[0], _("This column is missing from the totals header."))
    stated = _money(sums[name], line, name)
    found = sum((row.amount for row in rows), Decimal("0.00"))
    if stated != found:
        raise StatementError(
            line,
            name,
            _("The totals say %(stated)s yuan refunded, the rows add up to %(found)s.")
            % {"stated": stated, "found": found},
        )


# --- Alipay account bill -------------------------------------------------------------------------

ALIPAY_COLUMNS = [
    *("账务流水号", "业务流水号", "商户订单号", "商品名称", "发生时间", "对方账号", "收入金额(+元)", "支出金额(-元)"),
    *("账户余额(元)", "交易渠道", "业务类型", "备注"),
]
ALIPAY_REQUIRED = ("账务流水号", "业务流水号", "商户订单号", "发生时间", "收入金额(+元)", "支出金额(-元)", "业务类型")
ALIPAY_REFUND = "交易退款"
_ALIPAY_ACCOUNT = re.compile(r"账号[:：]\s*\[([^\]]*)\]")
_ALIPAY_PERIOD = re.compile(r"起始日期[:：]\s*\[([^\]]+)\]\s*终止日期[:：]\s*\[([^\]]+)\]")
_ALIPAY_SUM = re.compile(r"(支出|收入)合计[:：]\s*(\d+)\s*笔[,，]\s*共\s*(-?[\d,]+(?:\.\d+)?)\s*元")


def _alipay_name(text: str) -> str:
    return text.strip().strip("\t").translate(_FULL_WIDTH).strip()


def _alipay_value(text: str) -> str:
    return text.strip().strip("\t").strip()


def _parse_alipay_account(text: str) -> Statement:
    account = ""
    period: tuple[datetime.datetime, datetime.datetime] | None = None
    header: list[str] | None = None
    rows: list[StatementRow] = []
    seen = {"支出": [0, Decimal("0.00")], "收入": [0, Decimal("0.00")]}
    footers: list[tuple[int, re.Match]] = []
    line = 0
    for line, fields in _records(text):
        if fields[0].lstrip().startswith("#"):
            comment = ",".join(fields).rstrip(",")
            if match := _ALIPAY_ACCOUNT.search(comment):
                account = match.group(1).strip()
            if match := _ALIPAY_PERIOD.search(comment):
                period = _alipay_period(match, line)
            if match := _ALIPAY_SUM.search(comment):
                footers.append((line, match))
            continue
        if header is None:
            columns = _header(fields, line, normalise=_alipay_name)
            if "账务流水号" not in columns or "账户余额(元)" not in columns:
                raise StatementError(
                    line,
                    "",
                    _("This is not an Alipay account bill (账务明细): the header should be “%(header)s…”.")
                    % {"header": ",".join(ALIPAY_COLUMNS[:5])},
                )
            _require(columns, ALIPAY_REQUIRED, line)
            header = [_alipay_name(f) for f in fields]
            continue
        _check_width(fields, header, line)
        raw = {name: _alipay_value(value) for name, value in zip(header, fields, strict=True)}
        when = _time(raw["发生时间"], line, "发生时间")
        income = _money(raw["收入金额(+元)"] or "0", line, "收入金额(+元)")
        expense = abs(_money(raw["支出金额(-元)"] or "0", line, "支出金额(-元)"))
        for side, amount in (("收入", income), ("支出", expense)):
            if amount:
                seen[side][0] += 1
                seen[side][1] += abs(amount)
        if raw["业务类型"] != ALIPAY_REFUND:
            continue
        if not expense:
            raise StatementError(line, "支出金额(-元)", _("A refund row without an amount paid out."))
        rows.append(
            StatementRow(
                line=line,
                payout_no="",
                order_no=raw["商户订单号"],
                trade_no=raw["业务流水号"],
                gateway_refund_id=raw["账务流水号"],
                amount=expense,
                time=when,
                status=ALIPAY_REFUND,
                refunded=True,
                raw=raw,
            )
        )
    if header is None:
        raise StatementError(
            line or 1,
            "",
            _("This is not an Alipay account bill (账务明细): no column header “%(header)s…” was found.")
            % {"header": ",".join(ALIPAY_COLUMNS[:5])},
        )
    for footer_line, match in footers:
        side, count, total = match.group(1), int(match.group(2)), _money(match.group(3), footer_line, "")
        if (count, abs(total)) != tuple(seen[side]):
            raise StatementError(
                footer_line,
                "支出金额(-元)" if side == "支出" else "收入金额(+元)",
                _("The footer says %(count)d entries for %(total)s yuan, the rows have %(found)d for %(sum)s.")
                % {"count": count, "total": abs(total), "found": seen[side][0], "sum": seen[side][1]},
            )
    start, end = period if period else (None, None)
    return Statement(
        kind=StatementKind.ALIPAY_ACCOUNT,
        rows=rows,
        period_start=start.date() if start else None,
        period_end=_last_day(start, end) if end else None,
        account=account,
    )


def _alipay_period(match: re.Match, line: int) -> tuple[datetime.datetime, datetime.datetime]:
    start, end = _parse_time(match.group(1)), _parse_time(match.group(2))
    if start is None or end is None or end < start:
        raise StatementError(line, "起始日期", _("The statement's dates cannot be read: %(text)s") % {"text": match[0]})
    return start, end


def _last_day(start: datetime.datetime, end: datetime.datetime) -> datetime.date:
    """The last day covered: an end at midnight (the older files' "to 30th 00:00:00") is exclusive."""
    if end.time() == datetime.time(0) and end.date() > start.date():
        return end.date() - datetime.timedelta(days=1)
    return end.date()
