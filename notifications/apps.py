from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from refunds.events import refund_event_writer

        from .services import refund_event_written

        refund_event_writer(refund_event_written)
