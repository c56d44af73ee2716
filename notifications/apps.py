from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Inside ready(): these modules load models, which needs the app registry complete.
        from refunds.events import refund_event_writer

        from . import tasks  # noqa: F401 - registers the workers' tasks: the outbox hands rows over by name
        from .services import refund_event_written

        refund_event_writer(refund_event_written)
