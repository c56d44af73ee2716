"""Import orders from a CSV file exported by the school's order system, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from students import services
from students.management.csv_import import CsvImportCommand


class Command(CsvImportCommand):
    help = (
        "Import orders (with their students and enrollments) from a UTF-8 CSV file with the header "
        + ",".join(services.ORDER_COLUMNS)
        + ". Nothing is stored unless every row is valid; an order already stored as it is counts as unchanged."
    )
    columns = services.ORDER_COLUMNS
    required_columns = services.REQUIRED_ORDER_COLUMNS

    def column_of(self, field: str) -> str:
        return services.order_column(field)

    def handle(self, *args: Any, path: Path, dry_run: bool, **options: Any) -> None:
        rows, lines = self.read(path)
        try:
            orders = services.order_rows_parse(rows)
            if dry_run:
                result = services.orders_preview(orders=orders)
            else:
                result = services.orders_record(orders=orders, source="csv")
        except services.OrderConflictError as exc:
            raise CommandError(
                _("Another import wrote some of these orders at the same moment; nothing was imported. Run it again.")
            ) from exc
        except services.OrderDataError as exc:
            self.fail([self.describe(error, lines) for error in exc.errors])

        counts = {
            "total": result.created + result.updated + result.unchanged,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
        }
        if dry_run:
            message = _(
                "Dry run, nothing was saved. Valid orders: %(total)d; would be created: %(created)d; "
                "would be updated: %(updated)d; unchanged: %(unchanged)d."
            )
        else:
            message = _(
                "Rows read: %(total)d; orders created: %(created)d; updated: %(updated)d; unchanged: %(unchanged)d."
            )
        self.stdout.write(self.style.SUCCESS(message % counts))
