from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .forms import MyDelegateForm
from .models import Campus, Staff, User
from .scoping import CampusScopedAdminMixin
from .services import staff_delegate_errors, staff_delegate_set

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


class StaffAdminForm(forms.ModelForm):
    """The staff form; a changed delegation follows the same rules as the "my delegate" page."""

    class Meta:
        model = Staff
        fields = ("user", "role", "campus", "manager", "delegate", "delegate_from", "delegate_until")

    def clean(self):
        data = super().clean()
        watched = {"campus", "delegate", "delegate_from", "delegate_until"}
        campus = data.get("campus")
        if campus is None or not watched & set(self.changed_data):
            return data
        subject = Staff(pk=self.instance.pk, campus=campus)
        errors = staff_delegate_errors(
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
                        message = _("%(delegate)s acts for you from %(start)s to %(end)s.") % {
                            "delegate": staff.delegate.name,
                            "start": staff.delegate_from,
                            "end": staff.delegate_until,
                        }
                    else:
                        message = _("You have no out-of-office delegate now.")
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
