"""Admin pieces the apps share."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """Listed for reference; written only through a service (or the row's own page elsewhere)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
