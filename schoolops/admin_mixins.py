"""Admin pieces the apps share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .models import User


def acting_user_with(request: HttpRequest, permission: str) -> User:
    """The logged-in user acting, if they hold ``permission`` (an inactive account holds none);
    otherwise 403."""
    user = request.user
    if not (isinstance(user, User) and user.has_perm(permission)):
        raise PermissionDenied
    return user


class ReadOnlyAdminMixin:
    """Listed for reference; written only through a service (or the row's own page elsewhere)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
