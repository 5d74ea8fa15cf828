"""sam-user-global-admin: the CIPP-SAM user holds an active Global Administrator role.

Facts its planner reads (plain values):
  sam_user_id    the CIPP-SAM user's object id
  sam_user_upn   its UPN (optional; for display)
"""

from __future__ import annotations

from cipp_setup import wellknown
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    FixableCheck,
    Lifecycle,
    Message,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import (
    ROLE_FOR_SELF_ACTIVATION,
    admin_is,
    directory_role_assignment,
    fact,
    sam_user_label,
)
from cipp_setup.engine.writes import (
    ACTIVATION_JUSTIFICATION,
    DEFAULT_ACTIVATION_DURATION,
    GRAPH_ROLE_WRITE,
)
from cipp_setup.gateways.errors import BadRequest, NotFound, PermissionDenied

from . import _lookups as lk
from . import _remediations

GA = wellknown.GLOBAL_ADMINISTRATOR

SPEC = CheckSpec(
    id="sam-user-global-admin",
    title="The CIPP-SAM user is an active Global Administrator",
    severity=Severity.CRITICAL,
    required=True,
    generations=frozenset({"legacy"}),
    services=frozenset({"graph"}),
    # Legacy CIPP acts as the CIPP-SAM user only while it activates the API: afterwards the
    # role is a standing Global Administrator on a service account, to give back.
    lifecycle=Lifecycle(
        needed="during-activation", give_back=True, what="Global Administrator for the CIPP-SAM user",
        remove=Remediation(
            portal=("Microsoft Entra admin center → Identity → Roles & admins → Global Administrator → "
                    "Assignments → the CIPP-SAM user → Remove"),
            powershell=("Get-MgRoleManagementDirectoryRoleAssignment -Filter \"principalId eq '{sam_user_id}' and "
                        f"roleDefinitionId eq '{GA}'\" | Remove-MgRoleManagementDirectoryRoleAssignment"),
        ),
    ),
    remediation=Remediation(
        portal=(
            "Microsoft Entra admin center → Identity → Roles & admins → Global Administrator → "
            "Add assignments → select the CIPP-SAM user (assignment type Active). For a PIM "
            "eligibility: Identity Governance → Privileged Identity Management → My roles → "
            "Eligible assignments → Global Administrator → Activate."
        ),
        cli=(
            "Connect-MgGraph -Scopes RoleManagement.ReadWrite.Directory; "
            "New-MgRoleManagementDirectoryRoleAssignment -PrincipalId <user-object-id> "
            f"-RoleDefinitionId {GA} -DirectoryScopeId '/'"
        ),
    ),
    docs=(
        "Legacy CIPP (7.1 and older) enables its API by acting as the CIPP-SAM user: it creates "
        "the CIPP-API app registration, its secret and service principal. CIPP's documentation "
        "asks for the Global Administrator role for that (template "
        f"{GA}), active at directory scope '/', held directly or through a role-assignable "
        "group. A PIM eligibility does not count until it is activated. The user comes from "
        "--sam-user (UPN or object id); without it, the tenant's evidence finds it (an account "
        "named like CIPP's service account, an owner of the CIPP-SAM app, a per-user consent to "
        "it): exactly one candidate is tested and the output says why, several or none end the "
        "run naming --sam-user. The signed-in admin is tested only when the evidence picks them. "
        "The role is needed during activation only: once ListLogs answers, a missing role reads "
        "'not needed any more' and one still in place warns, naming cipp-setup revert."
    ),
    causes=with_remediations(_remediations.GLOBAL_ADMIN, (
        Cause("not-global-admin", "The user holds no Global Administrator assignment, active or eligible."),
        Cause(
            "global-admin-eligible-only",
            "The user is eligible for Global Administrator through PIM but the role is not active.",
        ),
        Cause("account-disabled", "The user's account is disabled, so it cannot sign in to activate the API."),
        Cause("user-not-found", "No user with that UPN or object id exists in the tenant."),
        *lk.SAM_USER_CAUSES,
    )),
)


class SamUserGlobalAdmin(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.ACTIVATE_PIM_ROLE, p.CREATE_DIRECTORY_ROLE_ASSIGNMENT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        ref = lk.sam_user_reference(ctx)
        g = lk.graph(ctx)
        # Two round trips: the user and their groups, then Global Administrator assignments
        # and eligibilities of exactly those principals (`principalId in (...)`), so the
        # answer is bounded by the user's own memberships, never by the tenant's size or
        # its number of Global Administrators. Without --sam-user the user is found first.
        if ref is not None:
            user_r, groups_r = await lk.settle(lk.sam_user(ctx), g.transitive_groups(ref))
        else:
            [user_r] = await lk.settle(lk.sam_user(ctx))
            groups_r = user_r
            if not isinstance(user_r, BaseException):
                [groups_r] = await lk.settle(g.transitive_groups(user_r.user.id))
        if isinstance(user_r, (lk.SamUserUnknown, lk.SamUserAmbiguous)):
            return lk.sam_user_undecided(self, user_r)
        if isinstance(user_r, NotFound) or isinstance(groups_r, NotFound):
            return self.failed(
                "user-not-found", f"No user {ref} in this tenant.",
                evidence=(Evidence("CIPP-SAM user", f"{ref}: not found", "an existing user", ("upn",)),),
            )
        lk.reraise_unexpected(user_r)
        lk.reraise_unexpected(groups_r)
        user = user_r.user
        # Only role-assignable groups can hold a directory role.
        holders = [user.id] + [grp.id for grp in groups_r if grp.is_assignable_to_role]
        blocked = ctx.admin.role_management_blocked if ctx.admin is not None else None
        if blocked is None:
            active_r, eligible_r = await lk.settle(
                g.role_assignments(role_definition_id=GA, principal_ids=holders),
                g.role_eligibilities(role_definition_id=GA, principal_ids=holders),
            )
        else:  # known before it fails: this sign-in cannot read PIM
            [active_r] = await lk.settle(g.role_assignments(role_definition_id=GA, principal_ids=holders))
            eligible_r = PermissionDenied(blocked)
        lk.reraise_unexpected(active_r)
        identity = Evidence(
            "CIPP-SAM user", f"{user.user_principal_name} ({user.id}), from {user_r.found_by}",
            identifiers=("upn", "object-id"),
        )
        facts = {"sam_user_id": user.id, "sam_user_upn": user.user_principal_name,
                 "sam_user_found_by": user_r.found_by}
        if user.account_enabled is False:
            return self.failed(
                "account-disabled", f"{user.user_principal_name} is disabled.",
                evidence=(identity, Evidence("accountEnabled", "false", "true")), facts=facts,
            )
        group_names = {grp.id: grp.display_name for grp in groups_r}
        principals = {user.id} | set(group_names)

        active = [a for a in active_r if a.principal_id in principals and a.directory_scope_id == "/"]
        if active:
            a = active[0]
            how = "directly" if a.principal_id == user.id else f"through group {group_names[a.principal_id]}"
            return self.passed(
                f"{user.user_principal_name} is an active Global Administrator ({how}).",
                evidence=(identity, Evidence("Global Administrator at /", f"active, {how}", "active")),
                facts=facts,
            )

        notes: tuple[Message, ...] = ()
        eligible = []
        unknown: str | None = None
        if isinstance(eligible_r, (PermissionDenied, BadRequest, NotFound)):
            # Reading PIM needs RoleEligibilitySchedule.Read.Directory and an Entra ID P2
            # licence; without them "eligible" cannot be told from "not assigned".
            unknown = str(eligible_r)
            notes = (Message("info", "PIM eligibility unknown: eligibilities could not be read: " + unknown),)
        else:
            lk.reraise_unexpected(eligible_r)
            eligible = [e for e in eligible_r if e.principal_id in principals and e.directory_scope_id == "/"]
        if eligible:
            e = eligible[0]
            how = "directly" if e.principal_id == user.id else f"through group {group_names[e.principal_id]}"
            until = f" until {e.end:%Y-%m-%d}" if e.end else ""
            return self.failed(
                "global-admin-eligible-only",
                f"{user.user_principal_name} is only eligible for Global Administrator ({how}); it is not active.",
                evidence=(identity, Evidence("Global Administrator at /", f"eligible{until}, {how}; not active", "active")),
                messages=(
                    Message(
                        "hint",
                        "Sign in as the CIPP-SAM user and activate the role for the activation: Entra "
                        "admin center → Identity Governance → Privileged Identity Management → My roles "
                        "→ Eligible assignments → Global Administrator → Activate (or "
                        "New-MgRoleManagementDirectoryRoleAssignmentScheduleRequest -Action selfActivate).",
                    ),
                ),
                facts=facts,
            )
        if unknown is not None:
            return self.failed(
                "not-global-admin",
                f"{user.user_principal_name} is not an active Global Administrator; eligibility unknown "
                "(PIM could not be read).",
                evidence=(identity, Evidence("Global Administrator at /", "no active assignment", "active"),
                          Evidence("PIM eligibility", f"unknown: {unknown}", "read")),
                messages=notes, facts={**facts, "eligibility": "unknown", "eligibility_unreadable": unknown},
            )
        return self.failed(
            "not-global-admin",
            f"{user.user_principal_name} is not a Global Administrator.",
            evidence=(identity, Evidence("Global Administrator at /", "none", "active")),
            messages=notes, facts=facts,
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_global_admin(result, ctx)


# --- the fix ------------------------------------------------------------------------------

def plan_global_admin(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("not-global-admin", "global-admin-eligible-only"):
        return None  # disabled or missing user: nothing this tool should create
    user_id = str(fact(result, "sam_user_id"))
    who = sam_user_label(result, ctx)
    scope = "/"
    if result.cause == "global-admin-eligible-only":
        params = {
            "principal_id": user_id, "role_definition_id": wellknown.GLOBAL_ADMINISTRATOR,
            "directory_scope_id": scope, "duration": DEFAULT_ACTIVATION_DURATION,
            "justification": ACTIVATION_JUSTIFICATION,
        }
        change = PlannedChange(
            check_id=result.check_id, action=p.ACTIVATE_PIM_ROLE,
            api="Microsoft Graph POST /roleManagement/directory/roleAssignmentScheduleRequests (selfActivate)",
            target=f"{who}: Global Administrator eligibility at /",
            before="Global Administrator eligible (PIM), not active",
            after=f"Global Administrator active for {DEFAULT_ACTIVATION_DURATION[2:].lower()} (self-activation)",
            admin_role_needed=ROLE_FOR_SELF_ACTIVATION,
            grants_privilege=True, reversible=False, params=params, permission=GRAPH_ROLE_WRITE,
            notes=(
                "The activation expires by itself; cipp-setup revert does not touch it.",
                "Your tenant's PIM policy may also ask for MFA, a ticket number or approval.",
            ),
        )
        if admin_is(ctx, user_id):
            return FixPlan(result.check_id, "Activate the CIPP-SAM user's eligible Global Administrator role",
                           result.cause, (change,))
        explanation = (
            f"Global Administrator is only eligible (PIM) for the {who}, and only that user can "
            f"activate it. Sign in as that user and activate it: Entra admin center → Identity "
            f"governance → Privileged Identity Management → My roles → Eligible assignments → "
            f"Global Administrator → Activate (or run cipp-setup fix signed in as that user). "
            f"A Privileged Role Administrator may instead make the assignment active in PIM → "
            f"Roles → Global Administrator → Eligible assignments → Update."
        )
        return FixPlan(result.check_id, "Activate the CIPP-SAM user's eligible Global Administrator role",
                       result.cause, (change,), applicable=False, explanation=explanation)
    eligibility_unknown = result.facts.get("eligibility") == "unknown"
    change = directory_role_assignment(
        result.check_id, who=who, user_id=user_id, role_id=wellknown.GLOBAL_ADMINISTRATOR,
        role_name="Global Administrator", before="no active Global Administrator assignment", scope=scope,
        notes=("Temporary elevation: cipp-setup revert removes it once the API answers.",)
        + ((f"PIM eligibility unknown ({result.facts.get('eligibility_unreadable')}): the {who} may "
            "already be eligible. If so, activate that eligibility instead (Entra admin center → "
            "Identity Governance → Privileged Identity Management → My roles → Eligible assignments "
            "→ Global Administrator → Activate) and decline this permanent assignment.",)
           if eligibility_unknown else ()),
    )
    title = "Make the CIPP-SAM user a Global Administrator"
    blocked = ctx.admin.role_management_blocked if ctx.admin is not None else None
    if blocked is not None:
        return FixPlan(result.check_id, title, result.cause, (change,), applicable=False,
                       explanation=f"Not offered: {blocked}.")
    return FixPlan(result.check_id, title, result.cause, (change,))

