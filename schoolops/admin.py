from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import Campus, Staff, User
from .scoping import CampusScopedAdminMixin

admin.site.site_header = _("schoolops after-sale administration")
admin.site.site_title = _("schoolops")
admin.site.index_title = _("After-sale operations")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("name", "phone", "email")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "name", "phone", "password1", "password2")}),)
    list_display = ("username", "name", "phone", "email", "is_staff", "is_active")
    search_fields = ("username", "name", "phone", "email")


@admin.register(Campus)
class CampusAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = ""
    list_display = ("code", "name", "city", "phone")
    search_fields = ("code", "name", "city")


@admin.register(Staff)
class StaffAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("name", "role", "campus", "manager", "delegate", "delegate_from", "delegate_until")
    list_filter = ("role", "campus")
    search_fields = ("user__name", "user__username", "user__phone")
    list_select_related = ("user", "campus", "manager__user", "delegate__user")
    autocomplete_fields = ("manager", "delegate")
    fieldsets = (
        (None, {"fields": ("user", "role", "campus", "manager")}),
        (_("Out of office"), {"fields": ("delegate", "delegate_from", "delegate_until")}),
    )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # Staff accounts are never student accounts.
            kwargs["queryset"] = User.objects.filter(student__isnull=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("full name"), ordering="user__name")
    def name(self, obj: Staff) -> str:
        return obj.name
