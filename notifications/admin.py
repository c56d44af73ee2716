"""The inbox in the admin: read-only, for looking up what a student was told and when she read it."""

from __future__ import annotations

from django.contrib import admin

from schoolops.scoping import SEE_ALL_CAMPUSES, CampusScopedAdminMixin

from .models import InboxMessage


@admin.register(InboxMessage)
class InboxMessageAdmin(CampusScopedAdminMixin, admin.ModelAdmin):
    """Messages are written by the notification services only; here they are looked up.

    Campus-scoped through the refund request: staff of a campus see the messages about its
    requests; messages about no request only with every campus in view (operations, superusers).
    Viewing needs ``notifications.view_inboxmessage`` or the all-campuses permission.
    """

    campus_field = "refund_request__campus"
    list_display = ("created_at", "recipient", "subject", "refund_request", "read_at")
    list_filter = (("read_at", admin.EmptyFieldListFilter),)
    search_fields = ("subject", "recipient__username", "recipient__name", "refund_request__request_no")
    date_hierarchy = "created_at"
    list_select_related = ("recipient", "refund_request")
    fields = ("recipient", "subject", "body", "refund_request", "created_at", "read_at")
    readonly_fields = fields

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return super().has_view_permission(request, obj) or request.user.has_perm(SEE_ALL_CAMPUSES)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
