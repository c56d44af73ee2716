from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServicedeskConfig(AppConfig):
    name = "servicedesk"
    verbose_name = _("Service desk")

    def ready(self) -> None:
        # events: the ticket events; tasks: the beat task; satisfaction: the refund-event writer that
        # asks for a rating when a refund is finished (servicedesk is above refunds, so it registers).
        from . import events, satisfaction, tasks  # noqa: F401
