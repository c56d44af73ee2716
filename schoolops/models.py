"""The organisation: users, campuses and staff with their roles, managers and delegates."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .delegation import delegate_dates_errors

phone_validator = RegexValidator(r"^1[3-9]\d{9}$", _("Enter a mainland mobile number of 11 digits starting with 1."))


class User(AbstractUser):
    """Everyone who logs in: students (personal center) and staff (admin)."""

    name = models.CharField(_("full name"), max_length=64, blank=True)
    phone = models.CharField(
        _("mobile phone"), max_length=11, unique=True, null=True, blank=True, validators=[phone_validator]
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.name or self.username

    def get_full_name(self) -> str:
        return self.name or super().get_full_name()

    def get_short_name(self) -> str:
        return self.name or self.username


class Campus(models.Model):
    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    phone = models.CharField(_("service phone"), max_length=32, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("campus")
        verbose_name_plural = _("campuses")
        ordering = ["code"]
        permissions = [("view_all_campuses", _("Can see the data of every campus"))]

    def __str__(self) -> str:
        return self.name


class StaffRole(models.TextChoices):
    HOMEROOM = "homeroom", _("Homeroom teacher")
    SUPERVISOR = "supervisor", _("Teaching supervisor")
    CAMPUS_HEAD = "campus_head", _("Campus head")
    FINANCE = "finance", _("Finance")
    SERVICE = "service", _("Customer service")
    QUALITY = "quality", _("Quality reviewer")
    OPERATIONS = "operations", _("Operations")


class StaffQuerySet(models.QuerySet):
    def active(self) -> StaffQuerySet:
        return self.filter(user__is_active=True)

    def of_role(self, role: str) -> StaffQuerySet:
        return self.filter(role=role)


class Staff(models.Model):
    """A member of staff: a role at a campus, a manager, and an optional out-of-office delegate."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="staff", verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=20, choices=StaffRole.choices)
    campus = models.ForeignKey(Campus, on_delete=models.PROTECT, related_name="staff", verbose_name=_("campus"))
    manager = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports", verbose_name=_("manager")
    )
    delegate = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="delegations",
        verbose_name=_("out-of-office delegate"),
        help_text=_("Sees and acts on this person's queue between the two dates."),
    )
    delegate_from = models.DateField(_("delegate from"), null=True, blank=True)
    delegate_until = models.DateField(_("delegate until"), null=True, blank=True)

    history = HistoricalRecords()
    objects = StaffQuerySet.as_manager()

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["campus__code", "role", "user__name"]
        indexes = [models.Index(fields=["campus", "role"])]
        # Which role, campus and account a row gives is a permission of its own, held by nobody
        # over their own row (schoolops.services.staff_role_change_refusal); change_staff covers
        # the rest (manager, delegate).
        permissions = [("change_staff_role", _("Can give staff members a role, campus or account"))]
        constraints = [
            models.CheckConstraint(condition=~Q(manager=models.F("id")), name="staff_not_own_manager"),
            models.CheckConstraint(condition=~Q(delegate=models.F("id")), name="staff_not_own_delegate"),
            models.CheckConstraint(
                condition=(
                    Q(delegate__isnull=True, delegate_from__isnull=True, delegate_until__isnull=True)
                    | Q(
                        delegate__isnull=False,
                        delegate_from__isnull=False,
                        delegate_until__isnull=False,
                        delegate_from__lte=models.F("delegate_until"),
                    )
                ),
                name="staff_delegation_complete",
                violation_error_message=_("A delegate needs a date range whose start is not after its end."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.campus}"

    def clean(self) -> None:
        errors = delegate_dates_errors(
            staff_pk=self.pk,
            delegate_pk=self.delegate_id,
            date_from=self.delegate_from,
            date_until=self.delegate_until,
        )
        if self.manager_id and self.manager_id == self.pk:
            errors["manager"] = [gettext("A staff member cannot be their own manager.")]
        if errors:
            raise ValidationError(errors)

    @property
    def name(self) -> str:
        return str(self.user)

    def active_delegate(self, on: datetime.date | None = None) -> Staff | None:
        """The delegate acting for this person on the given day (today in Asia/Shanghai)."""
        if not self.delegate_id or not self.delegate_from or not self.delegate_until:
            return None
        day = on or timezone.localdate()
        if self.delegate_from <= day <= self.delegate_until:
            return self.delegate
        return None
