"""Run the exchanges' clock once (the beat runs it every 5 minutes): catch up exchanges left behind
their request, lapse unpaid differences past their deadline (closing their codes at the gateway),
refund payments nobody owed, and expire the payment codes past their time."""

from django.core.management.base import BaseCommand

from exchanges.services import exchanges_settle
from payments.collections import collections_expire


class Command(BaseCommand):
    help = "Move exchanges on, lapse unpaid differences, refund duplicate payments, expire payment codes."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"exchanges moved or lapsed: {exchanges_settle()}")
        self.stdout.write(f"payment codes expired: {collections_expire()}")
