"""The three roles and exactly what each may do. ``roles_ensure`` is idempotent."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

AGENT = "agent"
MANAGER = "manager"
ADMIN = "admin"

_AGENT_PERMS = [
    "support.review_ticket",
    "support.view_ticket",
    "support.change_ticket",
    "support.view_customer",
    "support.view_message",
    "support.view_category",
    "support.view_team",
    "kb.view_article",
]
_MANAGER_PERMS = _AGENT_PERMS + [
    "support.view_dashboard",
    "support.manage_automation",
    "support.change_category",
    "support.change_team",
    "support.view_slapolicy",
    "support.change_slapolicy",
    "support.view_outboundmessage",
    "support.view_ticketevent",
    "triage.view_triagedecision",
    "support.view_alert",
    "support.change_alert",
    "triage.view_automationevent",
    "kb.add_article",
    "kb.change_article",
    "review.view_reviewoutcome",
    "review.view_auditsample",
    "review.change_auditsample",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: _AGENT_PERMS,
    MANAGER: _MANAGER_PERMS,
}


def _permissions(codes: list[str]) -> list[Permission]:
    found = []
    for code in codes:
        app_label, codename = code.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def roles_ensure() -> dict[str, Group]:
    """Create or repair the agent, manager and admin groups. Admin gets every permission."""
    groups = {}
    for name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(codes))
        groups[name] = group
    admin, _ = Group.objects.get_or_create(name=ADMIN)
    admin.permissions.set(Permission.objects.all())
    groups[ADMIN] = admin
    return groups
