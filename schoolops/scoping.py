"""Which campuses a user may see. Staff see their own campus; head-office roles see all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import NotRelationField, get_fields_from_path, unquote
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _

SEE_ALL_CAMPUSES = "schoolops.view_all_campuses"


def visible_campus_ids(user) -> list[int] | None:
    """The campus ids the user may see, or None for every campus."""
    if user.is_superuser or user.has_perm(SEE_ALL_CAMPUSES):
        return None
    staff = getattr(user, "staff", None)
    return [staff.campus_id] if staff is not None else []


def scope_to_campus(queryset: QuerySet, *, user, campus_field: str) -> QuerySet:
    """Filter ``queryset`` to the campuses the user may see (``campus_field`` is a lookup path)."""
    ids = visible_campus_ids(user)
    if ids is None:
        return queryset
    lookup = f"{campus_field}__in" if campus_field else "pk__in"
    return queryset.filter(Q(**{lookup: ids}))


def limit_campus_choices(field: Any, *, user) -> Any:
    """A form field choosing a campus, limited to the campuses ``user`` may see, refusing any other
    (a forged POST) with a message that says why. The one rule for every admin's campus choice."""
    field.queryset = scope_to_campus(field.queryset, user=user, campus_field="")
    field.error_messages["invalid_choice"] = _(
        "You can only choose a campus you work for; that campus is not one of yours."
    )
    return field


class CampusListFilter(admin.RelatedFieldListFilter):
    """The admin's filter by a campus relation, offering only the campuses the user may see (and
    so hidden from staff of one campus, who have nothing to choose)."""

    def field_choices(self, field, request, model_admin):
        ids = visible_campus_ids(request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ids is None:
            return field.get_choices(include_blank=False, ordering=ordering)
        return field.get_choices(include_blank=False, ordering=ordering, limit_choices_to={"pk__in": ids})


def _is_campus_path(model, path: str) -> bool:
    from schoolops.models import Campus

    try:
        fields = get_fields_from_path(model, path)
    except (FieldDoesNotExist, NotRelationField):
        return False
    return bool(fields) and getattr(fields[-1], "related_model", None) is Campus


if TYPE_CHECKING:  # the mixin is only ever mixed into a ModelAdmin
    from simple_history.admin import SimpleHistoryAdmin as _AdminBase
else:
    _AdminBase = object


class CampusChoicesAdminMixin(_AdminBase):
    """Admin mixin: every campus a form or a list filter offers is one the user may see; a campus
    chosen outside them is refused at its field (``limit_campus_choices``)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from schoolops.models import Campus

        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.related_model is Campus and hasattr(field, "queryset"):
            limit_campus_choices(field, user=request.user)
        return field

    def get_list_filter(self, request):
        return [
            (entry, CampusListFilter) if isinstance(entry, str) and _is_campus_path(self.model, entry) else entry
            for entry in super().get_list_filter(request)
        ]


class CampusScopedAdminMixin(CampusChoicesAdminMixin):
    """Admin mixin: lists, pages and lookups show only rows of the campuses the user may see.

    ``campus_field`` is the lookup path from the model to its campus ("" for Campus itself).
    Because every admin view (change, delete, history) fetches through ``get_queryset``, a row
    of another campus answers 404 everywhere, not just in the list.
    """

    campus_field = "campus"

    def get_queryset(self, request):
        return scope_to_campus(super().get_queryset(request), user=request.user, campus_field=self.campus_field)

    def _check_visible(self, request, object_id) -> None:
        if not self.get_queryset(request).filter(pk=unquote(object_id)).exists():
            raise Http404

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index for a missing object; for a row outside the user's
        # campuses that would still confirm nothing, but a plain 404 is what every view answers.
        raise Http404

    def history_view(self, request, object_id, extra_context=None):
        # simple-history falls back to the last historical copy of an object the queryset
        # does not contain; that would show another campus's records.
        self._check_visible(request, object_id)
        return super().history_view(request, object_id, extra_context=extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._check_visible(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context=extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        model = db_field.related_model
        path = _campus_path(model)
        if field is not None and path is not None and hasattr(field, "queryset"):
            field.queryset = scope_to_campus(field.queryset, user=request.user, campus_field=path)
        return field


def _campus_path(model) -> str | None:
    """The lookup path from a model to its campus, for models that have one."""
    from schoolops.models import Campus, Staff

    if model is Campus:
        return ""
    if model is Staff:
        return "campus"
    return getattr(model, "campus_lookup", None)


class HeadOfficeCampusFilter(admin.SimpleListFilter):
    """By campus, for head office (who sees every campus); hidden for everyone else. Subclasses
    name the path to the campus in ``campus_field`` when it is not the row's own."""

    title = _("campus")
    parameter_name = "campus"
    campus_field = "campus"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        if visible_campus_ids(request.user) is not None:
            return []
        from .models import Campus

        return [(str(campus.pk), campus.name) for campus in Campus.objects.order_by("code")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(**{f"{self.campus_field}_id": int(value)})
        return queryset
