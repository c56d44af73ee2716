from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """Demo data for `make run` (`seed_demo`): the top floor, it may use every app."""

    name = "demo"
    verbose_name = _("Demo data")
