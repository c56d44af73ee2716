"""Import learning events from a CSV file exported by the learning platform, all or nothing."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from students import services
from students.models import LearningEventSource

# Errors printed before the rest are only counted.
MAX_ERRORS_SHOWN = 100


class Command(BaseCommand):
    help = (
        "Import learning events from a UTF-8 CSV file with the header "
        + ",".join(services.EVENT_FIELDS)
        + ". Nothing is stored unless every row is valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The CSV file.")
        parser.add_argument("--dry-run", action="store_true", help="Validate only; store nothing.")

    def handle(self, *args: Any, path: Path, dry_run: bool, **options: Any) -> None:
        rows, lines = self._read(path)
        try:
            events = services.learning_event_rows_parse(rows)
            if dry_run:
                result = services.learning_events_preview(events=events)
            else:
                result = services.learning_events_record(events=events, source=LearningEventSource.CSV)
        except services.LearningConflictError as exc:
            raise CommandError(
                _("Another import stored some of these events at the same moment; nothing was imported. Run it again.")
            ) from exc
        except services.LearningDataError as exc:
            self._fail([self._describe(error, lines) for error in exc.errors])

        if dry_run:
            message = _(
                "Dry run, nothing was saved. Valid events: %(total)d; would be imported: %(accepted)d; "
                "already stored: %(duplicates)d."
            )
        else:
            message = _("Rows read: %(total)d; events imported: %(accepted)d; already stored: %(duplicates)d.")
        counts = {
            "total": result.accepted + result.duplicates,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
        }
        self.stdout.write(self.style.SUCCESS(message % counts))

    def _read(self, path: Path) -> tuple[list[dict[str, str | None]], list[int]]:
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
            self._fail(problems)
        return rows, lines

    def _check_header(self, columns: list[str]) -> None:
        problems = [
            _("line 1, column %(column)s: unknown column") % {"column": column}
            for column in columns
            if column not in services.EVENT_FIELDS
        ]
        problems += [
            _("line 1, column %(column)s: appears more than once") % {"column": column}
            for column in sorted({column for column in columns if columns.count(column) > 1})
        ]
        problems += [
            _("line 1: column %(column)s is missing") % {"column": column}
            for column in services.REQUIRED_EVENT_FIELDS
            if column not in columns
        ]
        if problems:
            self._fail(problems)

    @staticmethod
    def _describe(error: services.FieldError, lines: list[int]) -> str:
        if error.index is None:
            return str(error.message)
        values = {"line": lines[error.index], "column": error.field, "message": error.message}
        if not error.field:
            return _("line %(line)d: %(message)s") % values
        return _("line %(line)d, column %(column)s: %(message)s") % values

    def _fail(self, problems: list[str]) -> NoReturn:
        for problem in problems[:MAX_ERRORS_SHOWN]:
            self.stderr.write(problem)
        if len(problems) > MAX_ERRORS_SHOWN:
            self.stderr.write(_("Problems not shown: %(count)d.") % {"count": len(problems) - MAX_ERRORS_SHOWN})
        raise CommandError(_("Problems found: %(count)d; nothing was imported.") % {"count": len(problems)})
