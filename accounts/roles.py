"""The runbook's roles as Django groups, least privilege (アクセス管理: 最小権限の原則)."""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

RESPONDER = [
    "incidents.view_incident",
    "incidents.add_incident",
    "incidents.change_incident",
    "incidents.acknowledge_incident",
    "incidents.investigate_incident",
    "incidents.recover_incident",
    "incidents.resolve_incident",
    "incidents.add_note",
    "incidents.view_timelineevent",
    "alerts.view_alert",
    "incidents.view_postmortem",
    "incidents.change_postmortem",
    "incidents.view_actionitem",
    "incidents.add_actionitem",
    "incidents.change_actionitem",
]
DECIDER = [
    "incidents.close_incident",
    "incidents.dismiss_incident",
    "incidents.reopen_incident",
]
ESCALATE = [
    "incidents.escalate_incident",
    "escalation.view_escalation",
    "notices.view_notice",
]
CHECKLISTS = [
    "checklists.view_checklistrun",
    "checklists.view_runitem",
    "checklists.tick_runitem",
    "checklists.view_checklisttemplate",
    "checklists.view_templateitem",
    "checklists.view_knownproblem",
]
# The scheduled jobs' check-ins (the 3:00 backup): seen by all, configured by managers.
HEARTBEATS = ["heartbeats.view_heartbeat"]

# Everyone who works incidents sees which windows hold alerts; sysadmins (and managers) open
# and close them, as they run the releases (本番リリース).
MAINTENANCE_VIEW = ["maintenance.view_maintenancewindow", "maintenance.view_heldalert"]
MAINTENANCE_OPEN = ["maintenance.add_maintenancewindow", "maintenance.change_maintenancewindow"]
# 変更管理: the people who deploy record their changes; a pipeline records and finishes them.
CHANGES = [
    "changes.view_change",
    "changes.add_change",
    "changes.change_change",
    "changes.finish_change",
]
VENDORS = [
    "vendors.view_vendor",
    "vendors.view_vendorticket",
    "vendors.add_vendorticket",
    "vendors.change_vendorticket",
    "vendors.close_vendorticket",
]

# On call: everyone who works incidents sees the schedules and takes a shift (an override);
# managers configure schedules, layers and calendar links.
ONCALL_VIEW = [
    "oncall.view_schedule",
    "oncall.view_layer",
    "oncall.view_layermember",
    "oncall.view_override",
]
ONCALL_TAKE = ["oncall.add_override"]

ROLES: dict[str, list[str]] = {
    "operations": RESPONDER
    + ESCALATE
    + CHECKLISTS
    + MAINTENANCE_VIEW
    + HEARTBEATS
    + CHANGES
    + VENDORS
    + ONCALL_VIEW
    + ONCALL_TAKE,
    "developers": RESPONDER
    + ESCALATE
    + CHECKLISTS
    + MAINTENANCE_VIEW
    + HEARTBEATS
    + CHANGES
    + VENDORS
    + ONCALL_VIEW
    + ONCALL_TAKE,
    "sysadmins": RESPONDER
    + DECIDER
    + ESCALATE
    + CHECKLISTS
    + MAINTENANCE_VIEW
    + MAINTENANCE_OPEN
    + HEARTBEATS
    + CHANGES
    + VENDORS
    + ONCALL_VIEW
    + ONCALL_TAKE,
    "executives": [
        "incidents.view_incident",
        "incidents.view_timelineevent",
        "alerts.view_alert",
        "incidents.view_postmortem",
        "incidents.view_actionitem",
        "incidents.add_note",
        "checklists.view_checklistrun",
        "checklists.view_runitem",
        "checklists.view_knownproblem",
        *MAINTENANCE_VIEW,
        "heartbeats.view_heartbeat",
        "changes.view_change",
        "vendors.view_vendor",
        "vendors.view_vendorticket",
        *ONCALL_VIEW,
    ],
    "integrations": ["incidents.add_incident", "changes.add_change", "changes.finish_change"],
    # Managers configure everything; filled with every permission of these apps.
    "managers": [],
}
MANAGER_APPS = [
    "accounts",
    "incidents",
    "alerts",
    "notices",
    "escalation",
    "checklists",
    "changes",
    "vendors",
    "integrations",
    "maintenance",
    "heartbeats",
    "oncall",
    "ops",
    "auth",
    "knox",
    "auditlog",
    "axes",
    "django_celery_beat",
]


def _permissions(names: list[str]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.extend(
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )
    return found


def load_roles() -> list[str]:
    """Create the roles and reset their permissions to the defaults; returns role names."""
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        if name == "managers":
            permissions = Permission.objects.filter(content_type__app_label__in=MANAGER_APPS)
            # Managers read the audit log; nobody edits it.
            permissions = permissions.exclude(
                content_type__app_label="auditlog",
                codename__in=["add_logentry", "change_logentry", "delete_logentry"],
            )
            # Login records: managers read them and unlock a user by deleting the attempt.
            permissions = permissions.exclude(
                Q(content_type__app_label="axes")
                & ~Q(codename__startswith="view_")
                & ~Q(codename="delete_accessattempt")
            )
            group.permissions.set(permissions)
        else:
            group.permissions.set(_permissions(perms))
    return list(ROLES)
