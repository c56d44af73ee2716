from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save
from django.utils.translation import gettext_lazy as _


class SchoolopsConfig(AppConfig):
    name = "schoolops"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        # inside ready(): roles.py reads the auth models, which exist only once the registry is loaded
        from .roles import ensure_role_groups, staff_saved

        post_migrate.connect(ensure_role_groups, dispatch_uid="schoolops.ensure_role_groups")
        post_save.connect(staff_saved, sender="schoolops.Staff", dispatch_uid="schoolops.staff_saved")
