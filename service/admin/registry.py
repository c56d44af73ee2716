"""Registrations of the student-service models."""

from django.contrib import admin

from schoolops.scoping import CampusScopedAdminMixin as CampusScopedAdmin

from ..models import ContactLog, Script, ServiceSettings, ServiceTask


@admin.register(ServiceTask)
class ServiceTaskAdmin(CampusScopedAdmin, admin.ModelAdmin):
    list_display = ("kind", "student", "teacher", "due_at", "status")
    list_filter = ("status", "kind")


@admin.register(ContactLog)
class ContactLogAdmin(CampusScopedAdmin, admin.ModelAdmin):
    list_display = ("at", "student", "staff", "channel", "source")


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    list_display = ("scenario", "title", "active")


@admin.register(ServiceSettings)
class ServiceSettingsAdmin(CampusScopedAdmin, admin.ModelAdmin):
    list_display = ("campus",)
