from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FinanceConfig(AppConfig):
    name = "finance"
    verbose_name = _("Finance")

    def ready(self) -> None:
        # Inside ready(): these modules import models, which exist only once the app registry is
        # loaded, and each registers something on import (notification events, Celery tasks).
        from payments.events import payout_event_writer
        from refunds.events import refund_event_listener
        from refunds.models import RefundEventKind

        from . import events, tasks  # noqa: F401  (the finance notification events; the tasks the services queue by name)
        from .receipts import receipt_on_refund_event
        from .vouchers import voucher_on_payout_event

        # A succeeded payout queues its e-receipt (finance.tasks.issue_receipt) after the commit.
        refund_event_listener(receipt_on_refund_event, kinds=[RefundEventKind.PAYOUT_SUCCEEDED])
        # A succeeded payout gets its voucher inside the transaction that books it (payments never calls finance).
        payout_event_writer(voucher_on_payout_event)
