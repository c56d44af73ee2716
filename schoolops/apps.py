from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SchoolopsConfig(AppConfig):
    name = "schoolops"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from .roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, dispatch_uid="schoolops.ensure_role_groups")
