from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangesConfig(AppConfig):
    name = "exchanges"
    verbose_name = _("Course exchange")

    def ready(self) -> None:
        # services: the refund event writer that moves an exchange with its request; tasks: the beat;
        # notices: the exchange's own notification events; archive: its files in the request's archive ZIP.
        from . import archive, notices, services, tasks  # noqa: F401
