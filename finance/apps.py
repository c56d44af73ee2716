from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = _("Finance")

    def ready(self) -> None:
        from refunds.events import refund_event_listener

        from . import events  # noqa: F401  (registers the finance notification events)
        from .receipts import receipt_on_refund_event

        # A succeeded payout queues its e-receipt (finance.tasks.issue_receipt) after the commit.
        refund_event_listener(receipt_on_refund_event)
