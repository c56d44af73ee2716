"""Escalate the tickets about to breach or breached their clocks now (what the beat job does
every 5 minutes), e.g. from cron or while trying the demo."""

from django.core.management.base import BaseCommand

from servicedesk.services import tickets_escalate


class Command(BaseCommand):
    help = "Escalate the tickets about to breach or breached their reply or resolution clock (once per level)."

    def handle(self, *args, **options):
        count = tickets_escalate()
        self.stdout.write(f"{count} escalation(s) recorded.")
