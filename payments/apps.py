from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payouts")

    def ready(self) -> None:
        # Inside ready(): these modules load models, which needs the app registry complete.
        from refunds.events import refund_event_writer
        from refunds.models import RefundEventKind

        from .services import payout_on_refund_event

        # An approval opens its payout inside the approval's transaction (refunds never calls payments).
        refund_event_writer(payout_on_refund_event, kinds=[RefundEventKind.APPROVED])
