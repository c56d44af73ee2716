"""Import learning events from a CSV file exported by the learning platform, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from students import services
from students.management.csv_import import CsvImportCommand
from students.models import LearningEventSource


class Command(CsvImportCommand):
    help = (
        "Import learning events from a UTF-8 CSV file with the header "
        + ",".join(services.EVENT_FIELDS)
        + ". Nothing is stored unless every row is valid."
    )
    columns = services.EVENT_FIELDS
    required_columns = services.REQUIRED_EVENT_FIELDS

    def handle(self, *args: Any, path: Path, dry_run: bool, **options: Any) -> None:
        rows, lines = self.read(path)
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
            self.fail([self.describe(error, lines) for error in exc.errors])

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
