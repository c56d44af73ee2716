"""Staff roles as Django groups: one group per role, holding that role's permissions.

Later features add their permissions to ``ROLE_PERMISSIONS``; the groups are brought up to
date after every ``migrate`` and a staff member's groups follow their role.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS

if TYPE_CHECKING:
    from .models import Staff

_EVERY_STAFF = [
    "schoolops.view_campus",
    "schoolops.view_staff",
    "orders.view_course",
    "orders.view_order",
    "students.view_student",
    "students.view_enrollment",
    "students.view_learningevent",
    "refunds.view_refundpolicy",
    "refunds.view_refundtier",
    "refunds.view_refundspecialrule",
    "refunds.view_quotesnapshot",
    "refunds.view_quotesnapshotline",
    "refunds.view_refundrequest",
    "refunds.view_approvalstep",
    "refunds.view_refundtransition",
    "refunds.view_refundevent",
    "refunds.view_refundevidence",
    "refunds.view_approvalsettings",
    "refunds.view_approvalqueueitem",
    # Course exchanges ride on the requests every staff member reads: their policies and records too.
    "exchanges.view_exchangepolicy",
    "exchanges.view_exchange",
    "notifications.view_inboxmessage",
    "notifications.view_notification",
    "notifications.view_calltask",
    "notifications.change_calltask",
]

# Finance pays refunds back: it sees the payouts, the gateway's answers and the vouchers,
# records bank transfers, sends a refused payout again, and keeps the holiday calendar.
_FINANCE_PAYOUTS = [
    "payments.view_payout",
    "payments.view_payoutexchange",
    "finance.view_voucher",
    "finance.view_voucherline",
    "payments.record_transfer",
    "payments.retry_payout",
    "payments.view_calendarday",
    "payments.add_calendarday",
    "payments.change_calendarday",
    "payments.delete_calendarday",
    # Payments asked of students (收款): read-only, with the gateway's answers and their events.
    "payments.view_collection",
    "payments.view_collectionexchange",
    "payments.view_collectionevent",
]

# Finance's reports: exports (streamed, or prepared in the background), voucher reversals,
# e-receipts and the stamped paper copies students ask for, statement reconciliation (which
# also needs schoolops.view_all_campuses: a statement covers every campus), dispute archives.
_FINANCE_REPORTS = [
    "finance.export_reports",
    "finance.view_exportjob",
    "finance.reverse_voucher",
    "finance.view_receipt",
    "finance.view_papercopyrequest",
    "finance.change_papercopyrequest",
    "finance.handle_paper_copy",
    "finance.reconcile_statement",
    "finance.view_reconciliationrun",
    "finance.add_reconciliationrun",
    "finance.view_reconciliationline",
]

# The refund analytics dashboard: operations, campus heads, teaching supervisors, head-office finance.
_ANALYTICS = ["analytics.view_dashboard"]
# Risk alerts: those told of them see them and acknowledge / close them; course quality reviews
# are worked by their owners (quality reviewers, teaching supervisors) and the campus head.
_ALERTS = ["analytics.view_alert", "analytics.handle_alert"]
_REVIEWS = ["analytics.view_coursereview", "analytics.change_coursereview"]

# Tickets: customer service registers, answers, resolves and archives them; the teaching
# supervisor and the campus head (escalation levels 2 and 3) may step in; quality reviews them.
_TICKETS_READ = [
    "servicedesk.view_ticket",
    "servicedesk.view_ticketmessage",
    "servicedesk.view_ticketattachment",
    "servicedesk.view_ticketescalation",
    "servicedesk.view_desksettings",
    "servicedesk.view_rating",
    "servicedesk.view_helparticle",
]
_TICKETS = [*_TICKETS_READ, "servicedesk.add_ticket", "servicedesk.handle_ticket", "servicedesk.archive_ticket"]

# The learning watch (学习看板): homeroom teachers see their students, supervisors their team and
# campus, campus heads their campus, operations every campus (service.watch.watch_scope).
_LEARNING_WATCH = ["service.view_learning_watch"]
# Student service's figures: the referrals (老带新) list with its counts, and the dashboard's
# student-service section (shown to its readers who may read service tasks).
_REFERRALS = ["service.view_referral"]
_SERVICE_FIGURES = [*_REFERRALS, "service.view_servicetask"]
# Student service's work: homeroom teachers work their students' tasks on the workbench (outcome,
# reschedule), log contacts on the student page and read the script library; supervisors and
# campus heads do the same for their team and campus and read the campus's service settings
# (a campus head also keeps her campus's); operations keep the script library and every campus's
# settings; customer service reads the contact log.
_SERVICE_WORK = [
    "service.view_servicetask",
    "service.change_servicetask",
    "service.view_contactlog",
    "service.add_contactlog",
    "service.view_script",
]
_SERVICE_LEAD = [*_SERVICE_WORK, "service.view_servicesettings"]
_SERVICE_SETTINGS = ["service.view_servicesettings", "service.add_servicesettings", "service.change_servicesettings"]
# Who takes a campus's new orders (students.HomeroomAssignment): operations, and the campus head
# for their own campus; every campus's teaching supervisor may look them up.
_HOMEROOM_RULES = [
    "students.view_homeroomassignment",
    "students.add_homeroomassignment",
    "students.change_homeroomassignment",
    "students.delete_homeroomassignment",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "homeroom": [*_EVERY_STAFF, *_LEARNING_WATCH, *_REFERRALS, *_SERVICE_WORK],
    # Teaching supervisors also flag a student high-risk or clear the flag (with a reason).
    "supervisor": [
        *_EVERY_STAFF,
        *_ANALYTICS,
        *_ALERTS,
        *_REVIEWS,
        *_TICKETS,
        *_LEARNING_WATCH,
        *_SERVICE_FIGURES,
        *_SERVICE_LEAD,
        "students.manage_high_risk",
        "students.view_homeroomassignment",
    ],
    "campus_head": [
        *_EVERY_STAFF,
        *_ANALYTICS,
        *_SERVICE_FIGURES,
        *_ALERTS,
        *_REVIEWS,
        *_TICKETS,
        *_LEARNING_WATCH,
        *_SERVICE_LEAD,
        *_SERVICE_SETTINGS,
        *_HOMEROOM_RULES,
        "payments.view_payout",
        "finance.view_voucher",
        "finance.view_voucherline",
        "finance.export_reports",
        "finance.view_exportjob",
        "finance.view_receipt",
        "finance.view_papercopyrequest",
    ],
    "finance": [*_EVERY_STAFF, *_FINANCE_PAYOUTS, *_FINANCE_REPORTS, *_ANALYTICS],
    # The exchange desk: customer service files a course exchange for a student (exchanges.add_exchange).
    "service": [*_EVERY_STAFF, *_TICKETS, "service.view_contactlog", "exchanges.add_exchange"],
    "quality": [*_EVERY_STAFF, "analytics.view_alert", *_REVIEWS, *_TICKETS_READ, "servicedesk.archive_ticket"],
    "operations": [
        *_EVERY_STAFF,
        *_ANALYTICS,
        *_SERVICE_FIGURES,
        *_ALERTS,
        *_REVIEWS,
        *_TICKETS_READ,
        *_LEARNING_WATCH,
        "servicedesk.add_desksettings",
        "servicedesk.change_desksettings",
        "service.view_script",
        "service.add_script",
        "service.change_script",
        *_SERVICE_SETTINGS,
        "servicedesk.add_helparticle",
        "servicedesk.change_helparticle",
        "servicedesk.delete_helparticle",
        "analytics.view_alertrule",
        "analytics.add_alertrule",
        "analytics.change_alertrule",
        "notifications.view_notificationtemplate",
        "notifications.add_notificationtemplate",
        "notifications.change_notificationtemplate",
        "notifications.resend_notification",
        "notifications.view_staffwebhook",
        "notifications.add_staffwebhook",
        "notifications.change_staffwebhook",
        "payments.view_payout",
        "payments.view_payoutexchange",
        "finance.view_voucher",
        "finance.view_voucherline",
        "payments.view_rejectedcallback",
        "payments.view_calendarday",
        "payments.view_collection",
        "payments.view_collectionexchange",
        "payments.view_collectionevent",
        "finance.export_reports",
        "finance.view_exportjob",
        "finance.view_receipt",
        "finance.view_papercopyrequest",
        "schoolops.change_campus",
        # Manager and delegate of anyone; not role, campus or account (schoolops.change_staff_role,
        # which no role holds: superusers only until there is an HR role), so not adding staff.
        "schoolops.change_staff",
        "orders.add_course",
        "orders.change_course",
        *_HOMEROOM_RULES,
        "refunds.add_refundpolicy",
        "refunds.change_refundpolicy",
        "refunds.add_refundtier",
        "refunds.change_refundtier",
        "refunds.delete_refundtier",
        "refunds.add_refundspecialrule",
        "refunds.change_refundspecialrule",
        "refunds.delete_refundspecialrule",
        "refunds.add_approvalsettings",
        "refunds.change_approvalsettings",
        "exchanges.add_exchangepolicy",
        "exchanges.change_exchangepolicy",
        # Log-in throttling (django-axes): see who is locked out, and unlock (delete the attempts).
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accessfailurelog",
        "axes.view_accesslog",
    ],
}


def role_group_name(role: str) -> str:
    return f"role:{role}"


def ensure_role_groups(sender=None, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Create or refresh one group per role with exactly that role's permissions.

    Connected to ``post_migrate``; it acts once per migrate, on the last app's signal, when the
    permissions of every app it names exist.
    """
    if sender is not None and sender.label != list(global_apps.get_app_configs())[-1].label:
        return
    if sender is not None:
        # The last app's permissions are made by a post_migrate receiver that may run after this one.
        create_permissions(sender, verbosity=0, using=using, apps=kwargs.get("apps", global_apps))
    wanted = {dotted for perms in ROLE_PERMISSIONS.values() for dotted in perms}
    by_name = {
        f"{perm.content_type.app_label}.{perm.codename}": perm
        for perm in Permission.objects.using(using).select_related("content_type")
        if f"{perm.content_type.app_label}.{perm.codename}" in wanted
    }
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role_group_name(role))
        group.permissions.set([by_name[dotted] for dotted in perms if dotted in by_name])


def staff_saved(sender: type[Staff], instance: Staff, raw: bool = False, **kwargs: object) -> None:
    """``post_save`` of ``Staff`` (connected in ``SchoolopsConfig.ready``): the user's groups follow
    the row, however it was saved (a service, the admin, a fixture loaded raw excepted)."""
    if not raw:
        staff_sync_groups(instance)


def staff_sync_groups(staff: Staff) -> None:
    """Give the staff member's user admin access and exactly their role's group."""
    user = staff.user
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    role_groups = Group.objects.filter(name__startswith="role:")
    user.groups.remove(*role_groups.exclude(name=role_group_name(staff.role)))
    group, _ = Group.objects.get_or_create(name=role_group_name(staff.role))
    user.groups.add(group)
