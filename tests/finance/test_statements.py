"""Reading gateway statements: the hand-made fixtures value by value, the documented variants,
and every kind of broken file refused with the line and column at fault."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone, translation

from finance.statements import StatementError, parse_statement
from payments.gateways.alipay import AlipayGateway
from payments.gateways.wechat import WeChatPayGateway

FIXTURES = Path(__file__).parent / "statements"
WECHAT = WeChatPayGateway.statement.kind
ALIPAY = AlipayGateway.statement.kind


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def wechat_bytes() -> bytes:
    return (FIXTURES / "wechat_refund_20261120.csv").read_bytes()


def alipay_bytes() -> bytes:
    return (FIXTURES / "alipay_account_20261120.csv").read_bytes()


def at(text: str) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.fromisoformat(text), timezone.get_default_timezone())


def test_wechat_refund_bill_rows_values_and_lines():
    statement = parse_statement(WECHAT, wechat_bytes())

    assert statement.period_start is None and statement.period_end is None  # the bill names no day
    assert [(r.line, r.payout_no, r.amount, r.status, r.refunded) for r in statement.rows] == [
        (2, "RF20261120000101", Decimal("300.00"), "SUCCESS", True),
        (3, "RF20261120000102", Decimal("405.00"), "SUCCESS", True),
        (4, "RF20261120000103", Decimal("120.00"), "SUCCESS", True),
        (5, "RF20261120009999", Decimal("88.00"), "SUCCESS", True),
        (6, "RF20261120000107", Decimal("150.00"), "PROCESSING", False),
    ]
    first = statement.rows[0]
    assert first.order_no == "MD20260902000101"
    assert first.trade_no == "4200002345202609021234567890"
    assert first.gateway_refund_id == "50300008012026112012345678901"
    assert first.time == at("2026-11-20 10:15:02")  # refund success time, Beijing time
    assert first.raw["商品名称"] == "Python 入门录播课" and first.raw["手续费"] == "-1.80000"
    assert statement.rows[4].time == at("2026-11-20 17:55:21")  # still processing: the time it was asked for


def test_alipay_account_bill_keeps_only_refunds_with_the_period_from_its_header():
    statement = parse_statement(ALIPAY, alipay_bytes())

    # "起始日期 20th 00:00:00, 终止日期 21st 00:00:00": one day, the end exclusive.
    assert (statement.period_start, statement.period_end) == (datetime.date(2026, 11, 20), datetime.date(2026, 11, 20))
    assert statement.account == "20881234567890120156"
    assert [(r.line, r.order_no, r.amount) for r in statement.rows] == [
        (7, "MD20261001000201", Decimal("300.00")),
        (8, "MD20261001000202", Decimal("400.00")),
        (10, "MD20260815000999", Decimal("99.00")),
        (11, "MD20261001000204", Decimal("260.00")),
    ]
    row = statement.rows[0]
    assert row.payout_no == ""  # the account bill has no merchant refund number column
    assert row.trade_no == "2026100122001456780500000201"
    assert row.gateway_refund_id == "311290000012345602"  # the tab Alipay appends is gone
    assert row.time == at("2026-11-20 09:42:18")
    assert row.raw["商品名称"] == "Python 入门录播课" and row.raw["业务类型"] == "交易退款"


OLDER_WECHAT = (
    "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,总金额,"
    "代金券或立减优惠金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,"
    "退款状态,商品名称,商户数据包,手续费,费率\n"
    "`2018-06-01 09:00:00,`wx2421b1c4370ec43b,`10000100,`0,`,`4200000100201806010000000001,`MD1,`oUpF8,`JSAPI,"
    "`REFUND,`CFT,`CNY,`0.00,`0.00,`2018-06-02 10:00:00,`2018-06-02 10:00:03,`50000000012018060200000001,"
    "`RF-OLD-1,`12.50,`0.00,`ORIGINAL,`SUCCESS,`课程,`,`0.00000,`0.60%\n"
    "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额\n"
    "`1,`0.00,`12.50,`0.00,`0.00000\n"
)


def test_older_wechat_layout_and_a_bom_are_accepted():
    statement = parse_statement(WECHAT, b"\xef\xbb\xbf" + OLDER_WECHAT.encode())

    [row] = statement.rows
    assert (row.payout_no, row.amount, row.time) == ("RF-OLD-1", Decimal("12.50"), at("2018-06-02 10:00:03"))


def test_an_empty_wechat_refund_bill_has_no_rows():
    empty = wechat_bytes().decode().splitlines()
    text = "\n".join([empty[0], empty[-2], "`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00"])

    assert parse_statement(WECHAT, text.encode()).rows == []


def test_newer_alipay_variant_half_width_brackets_extra_columns_utf8():
    text = (
        "#支付宝账务明细查询\n"
        "#账号:[2088000000000001]\n"
        "#起始日期:[2026-11-20 00:00:00] 终止日期:[2026-11-22 23:59:59]\n"
        "账务流水号,业务流水号,商户订单号,商品名称,发生时间,对方账号,收入金额(+元),支出金额(-元),账户余额(元),交易渠道,"
        "业务类型,备注,业务基础订单号,业务订单号,业务账单来源,业务描述\n"
        "3112\t,2026100122\t,MD7\t,课程\t,2026-11-21 08:00:00,李**\t,,300.00,100.00,支付宝,交易退款,,MD7,,商家中心,\n"
    )
    statement = parse_statement(ALIPAY, text.encode())

    assert (statement.period_start, statement.period_end) == (datetime.date(2026, 11, 20), datetime.date(2026, 11, 22))
    [row] = statement.rows
    assert (row.order_no, row.amount, row.raw["业务账单来源"]) == ("MD7", Decimal("300.00"), "商家中心")


def replace_line(data: bytes, number: int, change, encoding: str) -> bytes:
    lines = data.decode(encoding).split("\r\n")
    lines[number - 1] = change(lines[number - 1])
    return "\r\n".join(lines).encode(encoding)


def wechat_field(number: int, column: int, value: str):
    def change(line: str) -> str:
        fields = line.split(",")
        fields[column] = value
        return ",".join(fields)

    return lambda: replace_line(wechat_bytes(), number, change, "utf-8")


def alipay_field(number: int, column: int, value: str):
    def change(line: str) -> str:
        fields = line.split(",")
        fields[column] = value
        return ",".join(fields)

    return lambda: replace_line(alipay_bytes(), number, change, "gbk")


def without_lines(data_of, *numbers: int, encoding: str):
    def make() -> bytes:
        lines = data_of().decode(encoding).split("\r\n")
        return "\r\n".join(line for i, line in enumerate(lines, start=1) if i not in numbers).encode(encoding)

    return make


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"

# (kind, the file, line, column, words of the message)
BROKEN = {
    "alipay bill uploaded as wechat": (WECHAT, alipay_bytes, 1, "", "not a WeChat Pay bill"),
    "wechat bill uploaded as alipay": (ALIPAY, wechat_bytes, 1, "", "not an Alipay account bill"),
    "wechat payment bill, not refunds": (
        WECHAT,
        lambda: "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号\n".encode(),
        1,
        "商户退款单号",
        "not a refund bill",
    ),
    "png": (WECHAT, lambda: PNG, 1, "", "binary"),
    "empty": (ALIPAY, lambda: b"", 1, "", "empty"),
    "blank lines only": (WECHAT, lambda: b"\r\n \r\n", 1, "", "empty"),
    "wechat truncated row": (
        WECHAT,
        lambda: replace_line(wechat_bytes(), 3, lambda line: ",".join(line.split(",")[:19]), "utf-8"),
        3,
        "充值券退款金额",
        "19 fields",
    ),
    "wechat row too long": (WECHAT, wechat_field(4, 28, "`,`extra"), 4, "费率备注", "30 fields"),
    "wechat bad amount": (WECHAT, wechat_field(4, 18, "`12.345"), 4, "退款金额", "12.345"),
    "wechat amount not a number": (WECHAT, wechat_field(5, 18, "`abc"), 5, "退款金额", "abc"),
    "wechat bad date": (WECHAT, wechat_field(2, 14, "`2026-13-40 10:00:00"), 2, "退款申请时间", "2026-13-40"),
    "wechat renamed column": (WECHAT, wechat_field(1, 18, "退款金额(元)"), 1, "退款金额", "missing"),
    "wechat totals missing": (WECHAT, without_lines(wechat_bytes, 7, 8, encoding="utf-8"), 7, "", "totals"),
    "wechat row missing": (WECHAT, without_lines(wechat_bytes, 4, encoding="utf-8"), 7, "总交易单数", "5"),
    "wechat totals disagree": (WECHAT, wechat_field(8, 2, "`1000.00"), 8, "退款总金额", "1063.00"),
    "alipay bad amount": (ALIPAY, alipay_field(8, 7, "-4OO.00"), 8, "支出金额(-元)", "-4OO.00"),
    "alipay bad date": (ALIPAY, alipay_field(10, 4, "2026/11/20 25:61:00"), 10, "发生时间", "2026/11/20"),
    "alipay truncated row": (
        ALIPAY,
        lambda: replace_line(alipay_bytes(), 11, lambda line: ",".join(line.split(",")[:5]), "gbk"),
        11,
        "对方账号",
        "5 fields",
    ),
    "alipay renamed column": (ALIPAY, alipay_field(5, 10, "类型"), 5, "业务类型", "missing"),
    "alipay row missing": (ALIPAY, without_lines(alipay_bytes, 10, encoding="gbk"), 13, "支出金额(-元)", "5 entries"),
    "alipay no header": (ALIPAY, lambda: "#支付宝账务明细查询\n#账号：[1]\n".encode("gbk"), 2, "", "no column header"),
}


@pytest.mark.parametrize(("kind", "make", "line", "column", "words"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_file_is_refused_with_line_and_column(kind, make, line, column, words):
    with pytest.raises(StatementError) as caught:
        parse_statement(kind, make())

    assert (caught.value.line, caught.value.column) == (line, column)
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"Line {line}")
