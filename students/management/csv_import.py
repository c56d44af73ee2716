"""What the CSV import commands share: reading a UTF-8 file with a header, checking the header,
and reporting problems by line and column, all or nothing."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from students.services import FieldError

# Errors printed before the rest are only counted.
MAX_ERRORS_SHOWN = 100


class CsvImportCommand(BaseCommand):
    """A command importing one CSV file; subclasses name the columns and implement ``handle``."""

    columns: tuple[str, ...] = ()
    required_columns: tuple[str, ...] = ()

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The CSV file.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; store nothing.")

    def column_of(self, field: str) -> str:
        """The column an error's field path points at (the same name unless a subclass maps it)."""
        return field

    def read(self, path: Path) -> tuple[list[dict[str, str | None]], list[int]]:
        """The data rows keyed by column, and the line number each one ends on (the header is line 1)."""
        try:
            with path.open(encoding="utf-8-sig", newline="") as file:
                reader = csv.DictReader(file)
                # Spreadsheets like to pad cells; " event_id" is still the event_id column.
                reader.fieldnames = [column.strip() for column in reader.fieldnames or []]
                self._check_header(reader.fieldnames)
                rows: list[dict[str, str | None]] = []
                lines: list[int] = []
                problems: list[str] = []
                for row in reader:
                    if None in row:
                        problems.append(_("line %(line)d: more fields than columns") % {"line": reader.line_num})
                    rows.append(row)
                    lines.append(reader.line_num)
        except FileNotFoundError as exc:
            raise CommandError(_("No such file: %(path)s") % {"path": path}) from exc
        except UnicodeDecodeError as exc:
            raise CommandError(_("%(path)s is not UTF-8 text.") % {"path": path}) from exc
        except csv.Error as exc:
            raise CommandError(_("%(path)s is not valid CSV: %(error)s") % {"path": path, "error": exc}) from exc
        if problems:
            self.fail(problems)
        return rows, lines

    def _check_header(self, columns: list[str]) -> None:
        problems = [
            _("line 1, column %(column)s: unknown column") % {"column": column}
            for column in columns
            if column not in self.columns
        ]
        problems += [
            _("line 1, column %(column)s: appears more than once") % {"column": column}
            for column in sorted({column for column in columns if columns.count(column) > 1})
        ]
        problems += [
            _("line 1: column %(column)s is missing") % {"column": column}
            for column in self.required_columns
            if column not in columns
        ]
        if problems:
            self.fail(problems)

    def describe(self, error: FieldError, lines: list[int]) -> str:
        """An error as its line and column: ``line 3, column phone: ...``."""
        if error.index is None:
            return str(error.message)
        values: dict[str, Any] = {
            "line": lines[error.index],
            "column": self.column_of(error.field),
            "message": error.message,
        }
        if not error.field:
            return _("line %(line)d: %(message)s") % values
        return _("line %(line)d, column %(column)s: %(message)s") % values

    def fail(self, problems: list[str]) -> NoReturn:
        for problem in problems[:MAX_ERRORS_SHOWN]:
            self.stderr.write(problem)
        if len(problems) > MAX_ERRORS_SHOWN:
            self.stderr.write(_("Problems not shown: %(count)d.") % {"count": len(problems) - MAX_ERRORS_SHOWN})
        raise CommandError(_("Problems found: %(count)d; nothing was imported.") % {"count": len(problems)})
