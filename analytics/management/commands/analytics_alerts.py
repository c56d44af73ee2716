"""``manage.py analytics_alerts [--since DATE]``: run the alert rules now (what the nightly job does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.alerts import alert_rules_run

from ..options import since_date


class Command(BaseCommand):
    help = (
        "Run the active alert rules over the days since each last ran (yesterday at the latest). "
        "Each occurrence is raised once: running it again raises nothing new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            help="First day to evaluate (YYYY-MM-DD, Asia/Shanghai), e.g. after installing or changing a rule; "
            "default: the days since the last run, at most a week back.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = since_date(options["since"])
        raised = alert_rules_run(since=since)
        self.stdout.write(self.style.SUCCESS(f"Alert rules run: {raised} alert(s) raised."))
