"""``manage.py analytics_rebuild [--since DATE]``: rebuild the analytics facts from the raw tables."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.services import facts_rebuild

from ..options import since_date


class Command(BaseCommand):
    help = "Rebuild the analytics facts from the raw tables, a month at a time (each month one transaction)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", help="First day to rebuild (YYYY-MM-DD, Asia/Shanghai); default: everything, from scratch."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = since_date(options["since"])
        total = 0
        for first, last, rows in facts_rebuild(since=since):
            total += rows
            if options["verbosity"] > 1:
                self.stdout.write(f"{first} … {last}: {rows} rows")
        self.stdout.write(self.style.SUCCESS(f"Analytics facts rebuilt: {total} rows."))
