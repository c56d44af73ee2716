"""``manage.py analytics_weekly_review [--week YYYY-MM-DD] [--send]``: make a week's reviews
(default: last week, Asia/Shanghai), and with ``--send`` tell their readers as Monday's job does."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analytics.weekly import WeeklyReviewError, last_week_start, weekly_reviews_build, weekly_reviews_send


class Command(BaseCommand):
    help = (
        "Make the weekly refund reviews of a week (one per campus and one for the whole school); "
        "with --send, send them to campus heads and operations (a week already sent is not sent again)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--week", help="The week's Monday (YYYY-MM-DD); default: last week.")
        parser.add_argument("--send", action="store_true", help="Send the reviews (inbox and e-mail with the PDF).")

    def handle(self, *args: Any, **options: Any) -> None:
        week_start = last_week_start()
        if options["week"]:
            try:
                week_start = datetime.date.fromisoformat(options["week"])
            except ValueError as exc:
                raise CommandError(f"--week must be a date like 2026-03-02, not {options['week']!r}.") from exc
        try:
            if options["send"]:
                written = weekly_reviews_send(week_start=week_start)
                message = f"Weekly reviews of {week_start} sent: {written} messages queued."
                self.stdout.write(self.style.SUCCESS(message))
                return
            reviews = weekly_reviews_build(week_start=week_start)
        except WeeklyReviewError as exc:
            raise CommandError(str(exc)) from exc
        for review in reviews:
            self.stdout.write(f"  {review}: {review.pdf.name}")
        self.stdout.write(self.style.SUCCESS(f"Weekly reviews of {week_start}: {len(reviews)}."))
