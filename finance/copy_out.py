"""Report files written by PostgreSQL: ``COPY (SELECT …) TO STDOUT`` of a report's rows, each
cell already formatted by the database the way ``finance.writers`` formats it in Python.

Why: on a million rows, turning each value into a Python object and back into text costs three
to four times what the database takes to write the same rows; here Python only moves bytes.

How the pieces combine. A report gives its scoped, filtered queryset (ordered by ``created_at,
pk``) and one expression per column, in the columns' order, giving the raw value (labels already
translated, NULL for an empty cell). The export is one ``COPY`` of::

    SELECT <cells formatted per column kind> FROM (<the queryset's SELECT>) t ORDER BY created_at, pk

planned once for all its rows (hash joins and one sort: keyset chunks of a few thousand rows
were planned as nested loops, one and a half times the work per row). psycopg2's ``copy_expert``
only returns at the end, so it runs in a worker thread on the same connection and hands its
output over a queue of at most ``QUEUE_PIECES`` pieces of about ``PIECE_BYTES`` (whole rows each):
the COPY waits when the reader is slower, memory holds those pieces whatever the number of rows,
and a reader that stops early (a download cancelled) cancels the COPY. The first rows come after
the sort (seconds on a million rows); the heading has gone out before. Rows are only read from
``connections[alias]``, the alias the queryset reads from (a replica when the router says so).
While the file is being read, that connection is the worker's: a reader that queried the same
alias between two pieces would wait for the COPY, which waits for the reader. Nothing does
(the views stream the chunks, the export job writes them to a file).

The Python writers stay the reference: CSV comes out byte for byte as ``csv_chunks`` writes it
(tests/finance/test_copy_out.py compares), XLSX with the same cells and types as ``xlsx_chunks``.
What each format needs from the database:

- CSV: text neutralised like ``writers.neutralise`` (a leading ``'`` before ``= + - @``, tab, CR),
  an empty text written as NULL (COPY writes NULL as an empty field and '' as ``""``); money with
  two decimals; times as Shanghai wall time to the second. PostgreSQL and Python's csv module
  quote the same fields (those holding ``,`` ``"`` CR or LF) the same way; PostgreSQL ends records
  with LF, turned into CRLF here outside quoted fields.
- XLSX: each row's ``<row>`` element, cells as ``writers._cell`` writes them (inline strings,
  money with style 2, times as Excel day numbers with style 4); text escaped for XML, characters
  XML forbids dropped, CR and LF as character references, so a row is one line. COPY's quote and
  delimiter are set to two of the dropped characters: no row is ever quoted.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from django.db import connections
from django.db.models import F, QuerySet
from django.db.models.expressions import Combinable

from .writers import FORMULA_STARTS, Column, Kind, column_letter

PIECE_BYTES = 256 * 1024
QUEUE_PIECES = 8
# Characters XML 1.0 forbids (writers._ILLEGAL_XML without NUL, which PostgreSQL text never holds).
ILLEGAL_XML = "".join(chr(c) for c in [*range(1, 9), 11, 12, *range(14, 32)])


class _Pieces:
    """Receives a COPY's output (psycopg2 hands it over one row per call, as libpq gives it) and
    puts it on ``out`` in pieces of about ``PIECE_BYTES`` of whole rows, with their number."""

    def __init__(self, out: queue.Queue[tuple[bytes | None, Any]]) -> None:
        self._out = out
        self._buffer = bytearray()
        self._rows = 0

    def write(self, data: Any) -> int:  # bytes or a memoryview, as psycopg2 passes them
        self._buffer += data
        self._rows += 1
        if len(self._buffer) >= PIECE_BYTES:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._out.put((bytes(self._buffer), self._rows))
            self._buffer.clear()
            self._rows = 0


def one_line(data: bytes) -> bytes:
    """XLSX rows without the LF that ends each COPY row (their own LFs are written &#10;)."""
    return data.replace(b"\n", b"")


def crlf(data: bytes) -> bytes:
    """CSV records ended by LF (PostgreSQL) ended by CRLF (``csv_chunks``), line breaks inside
    quoted fields left alone. ``data`` is whole records: every quote opens or closes a field (a
    doubled quote closes and opens again), so the text between quotes alternates out, in, out."""
    if b'"' not in data:
        return data.replace(b"\n", b"\r\n")
    parts = data.split(b'"')
    parts[::2] = [part.replace(b"\n", b"\r\n") for part in parts[::2]]
    return b'"'.join(parts)


def literal(text: str) -> str:
    """``text`` as a PostgreSQL string literal (E'…', every character outside printable ASCII
    as an escape), for the constants the formatting is built of; ``%`` doubled, as the SQL is
    then given to ``mogrify`` with the inner SELECT's parameters."""
    escaped = "".join(
        "\\\\"
        if char == "\\"
        else "\\'"
        if char == "'"
        else "%%"
        if char == "%"
        else char
        if " " <= char <= "~"
        else f"\\u{ord(char):04x}"
        if ord(char) <= 0xFFFF
        else f"\\U{ord(char):08x}"
        for char in text
    )
    return f"E'{escaped}'"


_STARTS = ", ".join(literal(start) for start in FORMULA_STARTS)


def _neutralised(text: str) -> str:
    """writers.neutralise in SQL."""
    return f"CASE WHEN left({text}, 1) IN ({_STARTS}) THEN '''' || {text} ELSE {text} END"


def _csv_cell(value: str, kind: str, tz: str) -> str:
    if kind == Kind.MONEY:
        return f"({value})::numeric(20, 2)::text"
    if kind == Kind.INT:
        return f"({value})::bigint::text"
    if kind == Kind.DATETIME:
        return f"to_char(({value}) AT TIME ZONE {tz}, 'YYYY-MM-DD HH24:MI:SS')"
    if kind == Kind.DATE:
        return f"to_char({value}, 'YYYY-MM-DD')"
    return f"NULLIF({_neutralised(f'({value})::text')}, '')"


_NEEDS_ESCAPE = literal(f"[&<>{ILLEGAL_XML}\r\n]")
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"), ("\n", "&#10;"))


def _xml_text(text: str) -> str:
    """``text`` escaped as writers._inline does (& < > escaped, CR as &#13;, forbidden characters
    dropped), LF as &#10; (the same character to any XML reader) so that a row is one line. Most
    text needs none of it: one regular expression match spares the six calls."""
    escaped = f"translate({text}, {literal(ILLEGAL_XML)}, '')"
    for char, entity in _ESCAPES:
        escaped = f"replace({escaped}, {literal(char)}, {literal(entity)})"
    return f"CASE WHEN {text} ~ {_NEEDS_ESCAPE} THEN {escaped} ELSE {text} END"


def _xlsx_cell(value: str, kind: str, letter: str, tz: str) -> str:
    """One cell's XML, NULL for an empty cell (``concat`` skips it). Each cell is one ``concat``
    and so is the row: a chain of ``||`` copies the growing row at every step."""
    ref = f"'<c r=\"{letter}', t.n, '\""
    if kind == Kind.MONEY:
        cell = f"concat({ref} s=\"2\"><v>', ({value})::numeric(20, 2), '</v></c>')"
    elif kind == Kind.INT:
        cell = f"concat({ref}><v>', ({value})::bigint, '</v></c>')"
    elif kind == Kind.DATETIME:
        # Excel's day number of the Shanghai wall time to the second, as writers._serial computes
        # it: whole days + seconds / 86400 in double precision (the same float, written shortest).
        local = f"date_trunc('second', ({value}) AT TIME ZONE {tz})"
        serial = (
            f"(({local})::date - DATE '1899-12-30')::float8"
            f" + extract(epoch FROM ({local})::time)::bigint::float8 / 86400::float8"
        )
        cell = f"concat({ref} s=\"4\"><v>', {serial}, '</v></c>')"
    elif kind == Kind.DATE:
        cell = f"concat({ref} s=\"3\"><v>', ({value}) - DATE '1899-12-30', '</v></c>')"
    else:
        text = f"({value})::text"
        inline = (
            f'concat({ref} t="inlineStr"><is><t xml:space="preserve">\', '
            f"{_xml_text(_neutralised(text))}, '</t></is></c>')"
        )
        return f"CASE WHEN {text} <> '' THEN {inline} END"
    return f"CASE WHEN ({value}) IS NOT NULL THEN {cell} END"


def _outer_sql(fmt: str, columns: Sequence[Column], inner: str, tz_name: str, first_row: int) -> str:
    """The SELECT that formats the inner SELECT's values (``t.c0``, ``t.c1``, …) as ``fmt``,
    in the inner SELECT's order (``k1, k2``: the window's order too, so no second sort)."""
    tz = literal(tz_name)
    if fmt == "csv":
        cells = [_csv_cell(f"t.c{i}", c.kind, tz) for i, c in enumerate(columns)]
        return f"SELECT {', '.join(cells)} FROM ({inner}) t ORDER BY t.k1, t.k2"  # noqa: S608 (our expressions)
    cells = [_xlsx_cell(f"t.c{i}", c.kind, column_letter(i), tz) for i, c in enumerate(columns)]
    row = f"concat('<row r=\"', t.n, '\">', {', '.join(cells)}, '</row>')"
    offset = int(first_row) - 1
    # The row number as text once: every cell's reference repeats it.
    numbered = f"SELECT s.*, (row_number() OVER (ORDER BY s.k1, s.k2) + {offset})::text AS n FROM ({inner}) s"  # noqa: S608
    return f"SELECT {row} FROM ({numbered}) t ORDER BY t.k1, t.k2"  # noqa: S608 (our expressions)


def copy_rows(
    queryset: QuerySet[Any],
    columns: Sequence[Column],
    values: Sequence[Combinable],
    *,
    fmt: str,
    tz_name: str,
    write: Callable[[bytes], object],
) -> Iterator[int]:
    """Write the rows of ``queryset`` (ordered by ``created_at, pk``) as ``fmt`` through ``write``
    ("csv": CSV records without the heading; "xlsx": the sheet's ``<row>`` elements from row 2),
    in pieces of whole rows; ``values`` are the columns' raw values. Yields the number of rows
    written so far after each piece, when the caller may pass on what it was given."""
    if len(values) != len(columns):
        raise ValueError("One value per column.")
    alias = queryset.db
    connection = connections[alias]
    named = {f"c{i}": value for i, value in enumerate(values)}
    rows = queryset.annotate(**named, k1=F("created_at"), k2=F("pk")).values_list(*named, "k1", "k2")
    inner, params = rows.query.get_compiler(using=alias).as_sql()
    with connection.cursor() as cursor:
        select = cursor.mogrify(_outer_sql(fmt, columns, inner, tz_name, 2), params).decode()
    options = "FORMAT csv" if fmt == "csv" else "FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01'"
    transform = crlf if fmt == "csv" else one_line
    raw = connection.connection  # psycopg2's, shared with the worker while the reader waits
    pieces: queue.Queue[tuple[bytes | None, Any]] = queue.Queue(maxsize=QUEUE_PIECES)

    def copy() -> None:
        try:
            with raw.cursor() as cursor:
                sink = _Pieces(pieces)
                cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH ({options})", sink)
                sink.flush()
            result: Any = None
        except BaseException as exc:  # handed to the reader, raised there
            result = exc
        pieces.put((None, result))

    worker = threading.Thread(target=copy, name=f"copy-out-{alias}", daemon=True)
    worker.start()
    written, finished = 0, False
    try:
        while True:
            data, result = pieces.get()
            if data is None:
                finished = True
                if result is not None:
                    raise result
                return
            write(transform(data))
            written += result
            yield written
    finally:
        if not finished:  # the reader stopped early (or failed): stop the COPY, let the worker end
            raw.cancel()
            while pieces.get()[0] is not None:
                pass
        worker.join()
