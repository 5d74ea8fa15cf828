"""What the planners in `checks/` share: reading a result's facts, naming the CIPP-SAM
user, and the admin roles a change needs.

Planners are pure: they read the failing result's `facts` and the run's context and
return a `FixPlan`; nothing here calls a service.
"""

from __future__ import annotations

from typing import Any

from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.plan import PlannedChange
from cipp_setup.engine.result import CheckResult
from cipp_setup.engine.writes import GRAPH_APP_WRITE, GRAPH_ROLE_WRITE

# The admin roles a change needs (shown with the plan, and named when a write is refused).
ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT = "Privileged Role Administrator or Global Administrator"
ROLES_FOR_APPLICATIONS = "Application Administrator, Cloud Application Administrator or Global Administrator"
ROLES_FOR_CONSENT = (
    "Cloud Application Administrator, Application Administrator, Privileged Role "
    "Administrator or Global Administrator"
)
ROLES_FOR_APP_ROLE_CONSENT = "Privileged Role Administrator or Global Administrator"
ROLES_FOR_ARM_ASSIGNMENT = "Owner or User Access Administrator on the subscription"
ROLE_FOR_SELF_ACTIVATION = "an active PIM eligibility for the role (the CIPP-SAM user's own)"
ROLES_FOR_SITE_IDENTITY = "Contributor (or Website Contributor) on the Function App"
ROLES_FOR_SITE_ROLE_ASSIGNMENT = "Owner or User Access Administrator on the Function App (or above it)"
ROLES_FOR_EASY_AUTH = "Contributor (or Website Contributor) on the Function App"


def directory_role_assignment(
    check_id: str, *, who: str, user_id: str, role_id: str, role_name: str, before: str,
    notes: tuple[str, ...], scope: str = "/",
) -> PlannedChange:
    """An active directory role assignment for the CIPP-SAM user (Global Administrator,
    Cloud Application Administrator): one shape of change, one writer, revert removes it."""
    return PlannedChange(
        check_id=check_id, action=p.CREATE_DIRECTORY_ROLE_ASSIGNMENT,
        api="Microsoft Graph POST /roleManagement/directory/roleAssignments",
        target=f"{who}: {role_name} at directory scope {scope}",
        before=before,
        after=f"{role_name} ({role_id[:9]}…) assigned at {scope}",
        admin_role_needed=ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT,
        grants_privilege=True, reversible=True,
        params={"principal_id": user_id, "role_definition_id": role_id, "directory_scope_id": scope},
        permission=GRAPH_ROLE_WRITE,
        notes=notes,
    )


class PlanningError(ValueError):
    """A failing result lacks a fact its planner needs (a check/planner contract bug)."""


def fact(result: CheckResult, key: str) -> Any:
    """A fact the planner cannot do without; PlanningError when the check did not publish it."""
    if key not in result.facts:
        raise PlanningError(f"check {result.check_id} result has no fact {key!r}; cannot plan its fix")
    return result.facts[key]


def lower_ids(value: Any) -> list[str]:
    return [str(v).lower() for v in (value or [])]


def sam_user_label(result: CheckResult, ctx: CheckContext | None = None) -> str:
    """"CIPP-SAM user name@domain": the UPN from this result, another check's, or --sam-user."""
    user_id = str(result.facts.get("sam_user_id", ""))
    upn = result.facts.get("sam_user_upn")
    if not upn and ctx is not None:
        upn = next((r.facts.get("sam_user_upn") for r in ctx.results.values()
                    if r.facts.get("sam_user_upn") and str(r.facts.get("sam_user_id", "")) == user_id), None)
        if not upn and ctx.inputs.sam_user and "@" in ctx.inputs.sam_user:
            upn = ctx.inputs.sam_user
    return f"CIPP-SAM user {upn}" if upn else f"CIPP-SAM user {user_id}"


def admin_is(ctx: CheckContext, object_id: str) -> bool:
    """Whether the signed-in admin is this user (only they can activate their PIM role)."""
    admin = ctx.admin
    return admin is not None and admin.kind == "user" and admin.object_id.lower() == object_id.lower()


def create_service_principal(check_id: str, app_id: str, target: str, *, before: str = "no service principal in "
                             "this tenant", after: str = "service principal created", reversible: bool = True,
                             step: str = "") -> PlannedChange:
    """The change that creates an application's service principal in this tenant."""
    return PlannedChange(
        check_id=check_id, action=p.CREATE_SERVICE_PRINCIPAL,
        api="Microsoft Graph POST /servicePrincipals", target=target, before=before, after=after,
        admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=reversible,
        params={"app_id": app_id}, permission=GRAPH_APP_WRITE, step=step,
    )
