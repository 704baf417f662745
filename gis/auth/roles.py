"""Roles and what each may do (:data:`gis.settings.ROLE_PERMISSIONS`).

* **operator** (command-centre operator): intake, dispatch and follow incidents, record
  patrols, review addresses.
* **planner** (grid office): edit draft grids.
* **leader** (township / county leadership): read everything of its jurisdiction, supervise
  incidents, reports, the audit log.
* **admin**: everything, including users, API tokens and publishing grid versions.

Every role acts only inside its user's jurisdiction; the database enforces that part (row
level security, migration 0008). Publishing a grid version changes the whole county, so it
also needs a jurisdiction at :data:`gis.settings.GRID_PUBLISH_LEVEL` or above.
"""

from __future__ import annotations

from typing import Any

from gis import settings
from gis._errors import AuthError, PermissionDenied
from gis.auth.jurisdiction import COUNTY_LEN, LEVELS, covers

ROLES: tuple[str, ...] = ("operator", "planner", "leader", "admin")
"""The four roles (names are fixed; what they may do is a setting)."""

VIEW = "view"
INCIDENT_INTAKE = "incident.intake"
INCIDENT_ACT = "incident.act"
INCIDENT_SUPERVISE = "incident.supervise"
PATROL_RECORD = "patrol.record"
ADDRESS_REVIEW = "address.review"
GRID_EDIT = "grid.edit"
GRID_PUBLISH = "grid.publish"
REPORT_VIEW = "report.view"
AUDIT_VIEW = "audit.view"
USERS_MANAGE = "users.manage"
TOKENS_MANAGE = "tokens.manage"

ACTIONS: tuple[str, ...] = (VIEW, INCIDENT_INTAKE, INCIDENT_ACT, INCIDENT_SUPERVISE,
                            PATROL_RECORD, ADDRESS_REVIEW, GRID_EDIT, GRID_PUBLISH,
                            REPORT_VIEW, AUDIT_VIEW, USERS_MANAGE, TOKENS_MANAGE)
"""Every action a role can be given."""


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else AuthError listing them."""
    if role not in ROLES:
        msg = f"unknown role {role!r}; choose one of {', '.join(ROLES)}"
        raise AuthError(msg)
    return role


def permissions(role: str) -> frozenset[str]:
    """Actions ``role`` may take (from :data:`gis.settings.ROLE_PERMISSIONS`)."""
    check_role(role)
    perms = frozenset(settings.ROLE_PERMISSIONS.get(role, ()))
    unknown = perms - set(ACTIONS)
    if unknown:
        msg = f"settings.ROLE_PERMISSIONS[{role!r}] names unknown action(s) " \
              f"{sorted(unknown)}; known: {', '.join(ACTIONS)}"
        raise AuthError(msg)
    return perms


def can(role: str, action: str) -> bool:
    """Whether ``role`` may take ``action`` (anywhere in its jurisdiction)."""
    return action in permissions(role)


def level_at_least(unit_code: str, level: str) -> bool:
    """Whether a unit code is at ``level`` or above (county 6 digits or fewer, township 9,
    village 12)."""
    limit = {"county": COUNTY_LEN, "township": COUNTY_LEN + 3, "village": COUNTY_LEN + 6}
    if level not in limit:
        msg = f"unknown level {level!r}; choose one of {', '.join(LEVELS)}"
        raise AuthError(msg)
    return len(unit_code) <= limit[level]


def may_publish(role: str, unit_code: str, adcode: str | None = None) -> bool:
    """Whether a user may publish a grid version (of county ``adcode``, if given)."""
    if not can(role, GRID_PUBLISH):
        return False
    if not level_at_least(unit_code, settings.GRID_PUBLISH_LEVEL):
        return False
    return adcode is None or covers(unit_code, adcode, None)


def require(user: Any, action: str, *, adcode: str | None = None,
            code: str | None = None) -> None:
    """PermissionDenied unless ``user`` (``name``, ``role``, ``unit_code``) may take
    ``action`` — on the row of county ``adcode`` / village or group ``code`` when given."""
    role, unit = str(user.role), str(user.unit_code)
    if action == GRID_PUBLISH:
        if not may_publish(role, unit, adcode):
            msg = f"user {user.name!r} ({role}, unit {unit}) may not publish a grid version" \
                  + (f" of county {adcode}" if adcode else "") \
                  + f": that needs a role with {GRID_PUBLISH} " \
                    f"({', '.join(r for r in ROLES if can(r, GRID_PUBLISH))}) at " \
                    f"{settings.GRID_PUBLISH_LEVEL} level"
            raise PermissionDenied(msg)
        return
    if not can(role, action):
        allowed = [r for r in ROLES if can(r, action)]
        msg = f"user {user.name!r} is {role}; {action} needs one of: {', '.join(allowed)}"
        raise PermissionDenied(msg)
    if (adcode is not None or code is not None) and not covers(unit, adcode, code):
        msg = f"user {user.name!r} (unit {unit}) may not act on {code or adcode}: it is " \
              "outside the user's jurisdiction"
        raise PermissionDenied(msg)
