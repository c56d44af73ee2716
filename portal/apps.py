from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The student's pages: personal center, orders, refund application and tracking, inbox."""

    name = "portal"
    verbose_name = _("Student portal")
