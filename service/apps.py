from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    name = "service"
    verbose_name = _("Student service")

    def ready(self) -> None:
        # events: the service messages; tasks: the beat; services: the writer that turns a new paid
        # order into the homeroom teacher's first-contact task and records a referral (service is
        # above students, so it registers).
        from . import events, services, tasks  # noqa: F401
