import logging
from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .auth import user_for_login
from .delegation import delegate_errors
from .forms import MyDelegateForm
from .models import Campus, Staff, User
from .scoping import CampusScopedAdminMixin
from .services import (
    CHANGE_STAFF_ROLE,
    staff_add,
    staff_delegate_set,
    staff_role_change_refusal,
    staff_role_set,
)

logger = logging.getLogger(__name__)

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

    # What a user may do: only a superuser grants it, and never to themselves.
    permission_fields = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and (obj.pk == request.user.pk or not request.user.is_superuser):
            readonly += self.permission_fields
        return readonly

    def has_change_permission(self, request, obj=None) -> bool:
        # A superuser's account (password included) is changed by superusers only.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Campus)
class CampusAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = ""
    list_display = ("code", "name", "city", "phone")
    search_fields = ("code", "name", "city")


# The fields that say which role a row gives to whom (schoolops.change_staff_role).
ASSIGNMENT_FIELDS = ("user", "role", "campus")


class StaffAdminForm(forms.ModelForm):
    """The staff form; a changed delegation follows the same rules as the "my delegate" page, a
    changed role, campus or account those of ``staff_role_change_refusal``."""

    actor: User | None = None  # the logged-in user, set by StaffAdmin.get_form

    class Meta:
        model = Staff
        fields = ("user", "role", "campus", "manager", "delegate", "delegate_from", "delegate_until")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        assigned = set(ASSIGNMENT_FIELDS) & set(self.fields) & set(self.changed_data)
        if assigned and self.actor is not None:
            refusal = staff_role_change_refusal(
                actor=self.actor, staff=self.instance if self.instance.pk else None, user=data.get("user")
            )
            if refusal:
                self.add_error(None, refusal)
        watched = {"campus", "delegate", "delegate_from", "delegate_until"}
        # Without the permission to change it the campus is read-only: the row's own applies.
        campus = data.get("campus") if "campus" in self.fields else getattr(self.instance, "campus", None)
        if campus is None or not watched & set(self.changed_data):
            return data
        subject = Staff(pk=self.instance.pk, campus=campus)
        errors = delegate_errors(
            staff=subject,
            delegate=data.get("delegate"),
            date_from=data.get("delegate_from"),
            date_until=data.get("delegate_until"),
        )
        for field, messages_ in errors.items():
            if field not in self.errors:  # the model's own checks may have said it already
                for message in messages_:
                    self.add_error(field, message)
        return data


@admin.register(Staff)
class StaffAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    form = StaffAdminForm
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

    # --- Role, campus and account: their own permission, never over one's own row ---------------

    def has_add_permission(self, request) -> bool:
        # A new row gives a role: the same permission as changing one.
        return super().has_add_permission(request) and request.user.has_perm(CHANGE_STAFF_ROLE)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and staff_role_change_refusal(actor=request.user, staff=obj):
            readonly += ASSIGNMENT_FIELDS
        return readonly

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user
        return form

    def save_model(self, request, obj, form, change):
        if not change:
            staff_add(staff=obj, actor=request.user)
            return
        # Compared with the row as stored, not the form's changed fields: simple-history's
        # "revert" saves an old version whose role and campus are in no form field.
        current = Staff.objects.select_related("user", "campus").get(pk=obj.pk)
        wanted = (obj.user, obj.role, obj.campus)
        if (obj.user_id, obj.role, obj.campus_id) == (current.user_id, current.role, current.campus_id):
            super().save_model(request, obj, form, change)
            return
        refusal = staff_role_change_refusal(actor=request.user, staff=current, user=obj.user)
        if refusal:  # before anything is saved: simple-history's revert view is no transaction
            raise PermissionDenied(refusal)
        # Everything else is saved as it is; the assignment through its service, which checks
        # again under its lock and writes the history row that says what changed.
        obj.user, obj.role, obj.campus = current.user, current.role, current.campus
        others = [f.attname for f in Staff._meta.concrete_fields if f.name not in ASSIGNMENT_FIELDS]
        if any(getattr(obj, name) != getattr(current, name) for name in others):
            super().save_model(request, obj, form, change)
        user, role, campus = wanted
        staff_role_set(staff=obj, actor=request.user, role=role, campus=campus, user=user)

    @admin.display(description=_("full name"), ordering="user__name")
    def name(self, obj: Staff) -> str:
        return obj.name

    # --- "My out-of-office delegate": every staff member, for themselves only -----------------

    def get_urls(self):
        mine = [
            path(
                "my-delegate/",
                self.admin_site.admin_view(self.my_delegate_view),
                name="schoolops_staff_my_delegate",
            ),
        ]
        return mine + super().get_urls()  # before the catch-all "<object_id>/" patterns

    def my_delegate_view(self, request):
        """Set or clear the logged-in staff member's own delegate. Nobody else's row is reachable:
        the row is the one of ``request.user``, whatever the form sends.
        """
        staff = Staff.objects.select_related("user", "campus", "delegate__user").filter(user=request.user).first()
        if staff is None:
            raise PermissionDenied
        today = timezone.localdate()
        if request.method == "POST":
            form = MyDelegateForm(request.POST, staff=staff, today=today)
            if "clear" in request.POST:
                staff_delegate_set(staff=staff, delegate=None, date_from=None, date_until=None, actor=request.user)
                self.message_user(request, _("You have no out-of-office delegate now."), messages.SUCCESS)
                return HttpResponseRedirect(request.path)
            if form.is_valid():
                try:
                    staff_delegate_set(
                        staff=staff,
                        delegate=form.cleaned_data["delegate"],
                        date_from=form.cleaned_data["delegate_from"],
                        date_until=form.cleaned_data["delegate_until"],
                        actor=request.user,
                    )
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    if staff.delegate_id:
                        message = gettext("%(delegate)s acts for you from %(start)s to %(end)s.") % {
                            "delegate": staff.delegate.name,
                            "start": staff.delegate_from,
                            "end": staff.delegate_until,
                        }
                    else:
                        message = gettext("You have no out-of-office delegate now.")
                    self.message_user(request, message, messages.SUCCESS)
                    return HttpResponseRedirect(request.path)
        else:
            form = MyDelegateForm(
                staff=staff,
                today=today,
                initial={
                    "delegate": staff.delegate_id,
                    "delegate_from": staff.delegate_from or today,
                    "delegate_until": staff.delegate_until,
                },
            )
        standing_in_for = (
            Staff.objects.filter(delegate=staff, delegate_until__gte=today)
            .select_related("user")
            .order_by("delegate_from", "pk")
        )
        changes = staff.history.select_related("history_user", "delegate__user").order_by("-history_date")[:5]
        context = {
            **self.admin_site.each_context(request),
            "title": _("My out-of-office delegate"),
            "opts": self.opts,
            "form": form,
            "staff": staff,
            "today": today,
            "delegate_active": staff.active_delegate(today) is not None,
            "standing_in_for": standing_in_for,
            "changes": changes,
        }
        return TemplateResponse(request, "admin/schoolops/staff/my_delegate.html", context)


# --- Log-in throttling (django-axes): who is locked out, unlocking, and the record -----------------

admin.site.unregister(AccessAttempt)
admin.site.unregister(AccessFailureLog)
admin.site.unregister(AccessLog)


@admin.register(AccessAttempt)
class LoginLockoutAdmin(AccessAttemptAdmin):
    """Failed log-ins still counting (per account and per address, ``schoolops.auth``).

    Unlocking deletes the counted failures of the selected accounts or addresses; Django's own
    log (LogEntry) and the log line say who unlocked what. The failures themselves stay in the
    access failure log.
    """

    actions = ["unlock_accounts", "unlock_addresses"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # "unlock" says what it does
        return actions

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_search_results(self, request, queryset, search_term):
        # A student's phone number finds her attempts, counted under her username.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        user = user_for_login(search_term.strip()) if search_term.strip() else None
        if user is not None:
            results = results | queryset.filter(username=user.username)
        return results, may_have_duplicates

    @admin.action(description=_("Unlock the selected accounts"), permissions=["delete"])
    def unlock_accounts(self, request, queryset):
        usernames = {name for name in queryset.values_list("username", flat=True) if name}
        self._unlock(request, AccessAttempt.objects.filter(username__in=usernames), what=sorted(usernames))

    @admin.action(description=_("Unlock the selected addresses"), permissions=["delete"])
    def unlock_addresses(self, request, queryset):
        addresses = {ip for ip in queryset.values_list("ip_address", flat=True) if ip}
        self._unlock(request, AccessAttempt.objects.filter(ip_address__in=addresses), what=sorted(addresses))

    def _unlock(self, request, attempts, *, what: list[str]) -> None:
        self.log_deletions(request, attempts)
        count, _deleted = attempts.delete()
        logger.warning("Login unlocked by %s: %s (%d attempt rows)", request.user.username, ", ".join(what), count)
        self.message_user(
            request,
            ngettext(
                "Unlocked: %(what)s (%(count)d failed attempt record cleared).",
                "Unlocked: %(what)s (%(count)d failed attempt records cleared).",
                count,
            )
            % {"what": ", ".join(what), "count": count},
            messages.SUCCESS,
        )

    def delete_model(self, request, obj) -> None:
        logger.warning(
            "Login unlocked by %s: account=%s address=%s", request.user.username, obj.username, obj.ip_address
        )
        super().delete_model(request, obj)


class _KeptRecordMixin:
    """The access and failure logs are the audit trail: read, never edited or deleted here."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AccessFailureLog)
class LoginFailureLogAdmin(_KeptRecordMixin, AccessFailureLogAdmin):
    pass


@admin.register(AccessLog)
class LoginAccessLogAdmin(_KeptRecordMixin, AccessLogAdmin):
    pass
