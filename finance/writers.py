"""Spreadsheet and archive files written as a stream of bytes, in constant memory.

``csv_chunks`` and ``xlsx_chunks`` take the columns and an iterator of rows and yield the file
piece by piece, so a response can start at once and a million rows cost no more memory than
ten. CSV is UTF-8 with a BOM (Excel opens Chinese correctly); XLSX cells are typed (money as
numbers shown with two decimals, dates and times as dates). Text that a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) is neutralised.
Rows that the database can write itself (``DatabaseWritable``, the ledger on PostgreSQL) are
written by it, cell for cell as here (``finance.copy_out``).

XLSX is written here rather than with openpyxl or XlsxWriter because both build the workbook
in a temporary file and only hand it over at the end; a sheet of inline strings and numbers is
a few lines of XML, streamed into a ZIP by the standard library.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from xml.sax.saxutils import escape

from django.db.models.fields.files import FieldFile
from django.utils import timezone

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FLUSH_BYTES = 64 * 1024


class Kind:
    TEXT = "text"
    MONEY = "money"
    INT = "int"
    DATE = "date"
    DATETIME = "datetime"


# A row of a file: its values in the order of the file's columns.
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Column:
    """A column of a file: its heading (translated when the file is written), kind and width."""

    label: StrOrPromise
    kind: str = Kind.TEXT
    width: int = 14


@runtime_checkable
class DatabaseWritable(Protocol):
    """Rows the database can write as a file's body itself (``finance.copy_out``): the writers
    ask first and fall back to writing the rows in Python when the answer is None."""

    def database_write(self, columns: list[Column], fmt: str, write: Callable[[bytes], object]) -> Iterator[int] | None:
        """Pass the body to ``write`` in pieces of whole rows ("csv": the records after the
        heading; "xlsx": the sheet's rows from row 2), yielding after each piece."""


def _database_write(
    rows: Iterable[Sequence[Any]], columns: Sequence[Column], fmt: str, write: Callable[[bytes], object]
) -> Iterator[int] | None:
    return rows.database_write(list(columns), fmt, write) if isinstance(rows, DatabaseWritable) else None


def neutralise(text: str) -> str:
    """Text a spreadsheet would evaluate, made inert with a leading apostrophe (OWASP)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _local(value: datetime.datetime, tz: datetime.tzinfo | None = None) -> datetime.datetime:
    """Shanghai wall time to the second, naive: what a spreadsheet shows. Writers look the time
    zone up once per file and pass it (``timezone.localtime`` looks it up on every call)."""
    if value.tzinfo is not None:
        value = value.astimezone(tz or timezone.get_current_timezone()).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _text_value(value: Any, kind: str, tz: datetime.tzinfo | None = None) -> str:
    """A cell as CSV text: money with two decimals, times in Shanghai time, text neutralised."""
    if value is None or value == "":
        return ""
    if kind == Kind.MONEY:
        return f"{Decimal(value):.2f}"
    if kind == Kind.INT:
        return str(int(value))
    if kind == Kind.DATETIME:
        return f"{_local(value, tz):%Y-%m-%d %H:%M:%S}"
    if kind == Kind.DATE:
        return f"{value:%Y-%m-%d}"
    return neutralise(str(value))


class _Sink(io.RawIOBase):
    """A write-only, unseekable file that hands what is written to a generator."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # bytes-like, as io.RawIOBase.write takes
        data = bytes(data)
        self._parts.append(data)
        self._size += len(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks for the position; seeking is never needed
        return self._written

    def ready(self, threshold: int = FLUSH_BYTES) -> bool:
        return self._size >= threshold

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return data


# --- CSV -----------------------------------------------------------------------------------------


def csv_chunks(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """A CSV file (UTF-8 with BOM, CRLF lines) as chunks of about 64 KB."""
    tz = timezone.get_current_timezone()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(str(c.label)) for c in columns])
    kinds = [c.kind for c in columns]
    yield "\ufeff".encode() + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    pieces: list[bytes] = []
    written = _database_write(rows, columns, "csv", pieces.append)
    if written is not None:
        for _ in written:
            if pieces:
                yield b"".join(pieces)
                pieces.clear()
        return
    for row in rows:
        writer.writerow([_text_value(value, kind, tz) for value, kind in zip(row, kinds, strict=True)])
        if buffer.tell() >= FLUSH_BYTES:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


# --- XLSX ----------------------------------------------------------------------------------------

# Style ids in styles.xml: 0 plain, 1 header (bold), 2 money "#,##0.00", 3 date, 4 date and time.
_STYLE = {Kind.MONEY: 2, Kind.DATE: 3, Kind.DATETIME: 4}
_EXCEL_EPOCH = datetime.datetime(1899, 12, 30)  # noqa: DTZ001  (a naive local day count)

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="3"><numFmt numFmtId="164" formatCode="#,##0.00"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="166" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="等线"/></font>'
    '<font><b/><sz val="11"/><name val="等线"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _workbook(sheet_name: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{escape(sheet_name[:31])}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


def column_letter(index: int) -> str:
    """The spreadsheet's letters of column ``index`` (0: A, 26: AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _serial(value: datetime.date, tz: datetime.tzinfo | None = None) -> float:
    """Excel's day number (1900 system) of a date or a Shanghai local time."""
    if isinstance(value, datetime.datetime):
        delta = _local(value, tz) - _EXCEL_EPOCH
    else:
        delta = datetime.datetime.combine(value, datetime.time()) - _EXCEL_EPOCH
    return delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000


_ILLEGAL_XML = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32)])


def _inline(ref: str, text: str, style: int = 0) -> str:
    text = escape(text.translate(_ILLEGAL_XML), {"\r": "&#13;"})  # XML readers turn a bare CR into LF
    attr = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{attr} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _cell(ref: str, value: Any, kind: str, tz: datetime.tzinfo | None = None) -> str:
    if value is None or value == "":
        return ""
    if kind == Kind.MONEY:
        return f'<c r="{ref}" s="2"><v>{Decimal(value):.2f}</v></c>'
    if kind == Kind.INT:
        return f'<c r="{ref}"><v>{int(value)}</v></c>'
    if kind in (Kind.DATE, Kind.DATETIME):
        return f'<c r="{ref}" s="{_STYLE[kind]}"><v>{_serial(value, tz)!r}</v></c>'
    # Inline strings are never evaluated; neutralised as in CSV so a copy into CSV stays inert.
    return _inline(ref, neutralise(str(value)))


def xlsx_chunks(
    columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, sheet_name: str = "Sheet1"
) -> Iterator[bytes]:
    """An XLSX workbook of one sheet (header row frozen) as chunks of about 64 KB."""
    tz = timezone.get_current_timezone()
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _ROOT_RELS),
            ("xl/workbook.xml", _workbook(sheet_name)),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            archive.writestr(name, text)
        letters = [column_letter(i) for i in range(len(columns))]
        kinds = [c.kind for c in columns]
        with archive.open("xl/worksheets/sheet1.xml", mode="w", force_zip64=True) as sheet:
            widths = "".join(
                f'<col min="{i + 1}" max="{i + 1}" width="{c.width}" customWidth="1"/>' for i, c in enumerate(columns)
            )
            header = "".join(_inline(f"{letters[i]}1", str(c.label), 1) for i, c in enumerate(columns))
            sheet.write(
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                    'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
                    f'<cols>{widths}</cols><sheetData><row r="1">{header}</row>'
                ).encode()
            )
            written = _database_write(rows, columns, "xlsx", sheet.write)
            for _ in written or ():
                if sink.ready():
                    yield sink.take()
            parts: list[str] = []
            size = 0
            for number, row in enumerate(() if written is not None else rows, start=2):
                cells = "".join(
                    _cell(f"{letter}{number}", value, kind, tz)
                    for letter, value, kind in zip(letters, row, kinds, strict=True)
                )
                line = f'<row r="{number}">{cells}</row>'
                parts.append(line)
                size += len(line)
                if size >= FLUSH_BYTES:
                    sheet.write("".join(parts).encode())
                    parts.clear()
                    size = 0
                    if sink.ready():
                        yield sink.take()
            sheet.write(("".join(parts) + "</sheetData></worksheet>").encode())
    yield sink.take()


# --- ZIP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file in an archive: its name and its content (bytes, or an iterable of chunks)."""

    name: str
    content: bytes | Iterable[bytes]
    modified: datetime.datetime | None = None


def zip_chunks(entries: Iterable[Entry]) -> Iterator[bytes]:
    """A ZIP archive of ``entries``, written as it is read: no file is held whole in memory
    unless it was given as bytes."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            stamp = _local(entry.modified or timezone.now())
            info = zipfile.ZipInfo(entry.name, date_time=stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, mode="w", force_zip64=True) as member:
                chunks = [entry.content] if isinstance(entry.content, bytes) else entry.content
                for chunk in chunks:
                    member.write(chunk)
                    if sink.ready():
                        yield sink.take()
            if sink.ready(1):
                yield sink.take()
    yield sink.take()


FILE_CHUNK = 64 * 1024
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def file_chunks(field_file: FieldFile) -> Iterator[bytes]:
    """A stored file, read in chunks as the ZIP writes it."""
    if not field_file.name:
        raise FileNotFoundError("The field holds no file.")
    with field_file.storage.open(field_file.name, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            yield chunk


def safe_name(name: str) -> str:
    """A file name without folders or characters Windows refuses (each becomes ``_``); Chinese kept."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip(" .")
    return cleaned[:120] or "file"
