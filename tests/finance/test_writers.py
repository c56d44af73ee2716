"""The streaming writers on their own: typed cells, Chinese, formula injection, and chunks that
leave before the rows are all read."""

from __future__ import annotations

import datetime
import io
import zipfile
from decimal import Decimal

import pytest
from django.utils import timezone

from finance.writers import FLUSH_BYTES, Column, Entry, Kind, csv_chunks, neutralise, xlsx_chunks, zip_chunks

from .helpers import csv_rows, xlsx_sheet

COLUMNS = [
    Column("学生"),
    Column("金额", Kind.MONEY),
    Column("日期", Kind.DATE),
    Column("时间", Kind.DATETIME),
    Column("行", Kind.INT),
]
AT = timezone.make_aware(datetime.datetime(2026, 11, 30, 23, 59, 58, 700_000))  # Shanghai


@pytest.mark.parametrize("text", ["=SUM(A1:A9)", "+86 138", "-1+2", "@cmd", "\tx", "\rx"])
def test_formula_starts_are_neutralised_in_both_formats(text):
    rows = [(text, Decimal("1.00"), None, None, 1)]
    assert csv_rows(b"".join(csv_chunks(COLUMNS, rows)))[1][0] == "'" + text
    cell = xlsx_sheet(b"".join(xlsx_chunks(COLUMNS, rows)))["A2"]
    assert cell.value == "'" + text
    assert cell.data_type == "s"


def test_plain_text_and_negative_money_are_left_alone():
    assert neutralise("王小明") == "王小明"
    rows = [("王小明", Decimal("-12.50"), None, None, -3)]
    assert csv_rows(b"".join(csv_chunks(COLUMNS, rows)))[1][:2] == ["王小明", "-12.50"]
    sheet = xlsx_sheet(b"".join(xlsx_chunks(COLUMNS, rows)))
    assert (sheet["B2"].value, sheet["E2"].value) == (-12.5, -3)


def test_chinese_and_types_round_trip_through_csv():
    rows = [("张三·李四（退款）", Decimal("1234.5"), datetime.date(2026, 11, 3), AT, 7)]
    data = b"".join(csv_chunks(COLUMNS, rows))
    assert data.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in data
    assert csv_rows(data) == [
        ["学生", "金额", "日期", "时间", "行"],
        ["张三·李四（退款）", "1234.50", "2026-11-03", "2026-11-30 23:59:58", "7"],
    ]


def test_xlsx_cells_are_typed():
    rows = [("张三", Decimal("1234.5"), datetime.date(2026, 11, 3), AT, 7), ("", None, None, None, None)]
    sheet = xlsx_sheet(b"".join(xlsx_chunks(COLUMNS, rows, sheet_name="退款台账")))
    assert sheet.title == "退款台账"
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == ["学生", "金额", "日期", "时间", "行"]
    name, money, day, at, number = sheet[2]
    assert name.value == "张三"
    assert (money.value, money.number_format) == (1234.5, "#,##0.00")
    assert day.is_date and day.value.date() == datetime.date(2026, 11, 3) and day.number_format == "yyyy-mm-dd"
    assert at.is_date and at.value == datetime.datetime(2026, 11, 30, 23, 59, 58)
    assert number.value == 7 and number.data_type == "n"
    assert [c.value for c in sheet[3]] == [None] * 5


def test_control_characters_do_not_break_the_xlsx():
    sheet = xlsx_sheet(b"".join(xlsx_chunks(COLUMNS, [("a\x00b\x1fc <&>", None, None, None, None)])))
    assert sheet["A2"].value == "abc <&>"


@pytest.mark.parametrize("writer", [csv_chunks, xlsx_chunks])
def test_first_chunk_leaves_before_all_rows_are_read(writer):
    read = 0
    total = 200_000

    def rows():
        nonlocal read
        for n in range(total):
            read += 1
            yield (f"学生{n}-{n * 7919 % 100003}", Decimal(n) / 100, None, None, n)

    chunks = writer(COLUMNS, rows())
    first = next(chunks)
    assert first
    assert read < total / 2
    rest = b"".join(chunks)
    assert read == total
    assert len(first) + len(rest) > FLUSH_BYTES


def test_large_files_come_in_bounded_chunks():
    rows = ((f"学生{n}", Decimal(n), None, None, n) for n in range(100_000))
    sizes = [len(chunk) for chunk in xlsx_chunks(COLUMNS, rows)]
    assert len(sizes) > 3
    assert max(sizes) < 8 * FLUSH_BYTES


def test_zip_archive_holds_streamed_entries():
    csv_entry = Entry("退款台账.csv", csv_chunks(COLUMNS, [("王", Decimal("1"), None, None, 1)]))
    data = b"".join(zip_chunks([csv_entry, Entry("说明.txt", "中文".encode())]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["退款台账.csv", "说明.txt"]
        assert archive.read("说明.txt").decode() == "中文"
        assert csv_rows(archive.read("退款台账.csv"))[1][0] == "王"
