"""sam-user-app-registration: in CIPP 7.2-7.3 the CIPP-SAM user's delegated token can create
the API clients' app registrations.

CIPP 7.2.x-7.3.x create each API client (app registration, secret, identifier URI,
service principal) with the CIPP-SAM user's delegated Graph token (CIPP-API
New-CIPPAPIConfig without -AsApp, tags 7.2.0-7.3.2). That needs two things: the CIPP-SAM
app's delegated Graph consent covering Application.ReadWrite.All (or
Directory.AccessAsUser.All) for that user, and a directory role of the user that may create
app registrations and service principals — Cloud Application Administrator, Application
Administrator or Global Administrator (CIPP's documentation of the time kept Global
Administrator). Needed only while clients are created: the role can go afterwards. CIPP
7.4+ creates clients app-only instead (sam-app-graph-application-permissions).

Facts (plain values, stable; read by the planner):
  sam_user_id, sam_user_upn, sam_user_found_by   the CIPP-SAM user
  app_registration_roles  the role template ids that count, held actively (list)
  delegated_scopes        the delegated Graph scopes consented to CIPP-SAM for the user (list)
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
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan
from cipp_setup.engine.planning import directory_role_assignment, fact, sam_user_label
from cipp_setup.gateways.errors import NotFound

from . import _current as cur
from . import _lookups as lk
from . import _remediations

# The built-in roles that may create app registrations and their service principals
# whatever the tenant's "users can register applications" setting says.
APP_REGISTRATION_ROLES: dict[str, str] = {
    wellknown.CLOUD_APPLICATION_ADMINISTRATOR: "Cloud Application Administrator",
    wellknown.APPLICATION_ADMINISTRATOR: "Application Administrator",
    wellknown.GLOBAL_ADMINISTRATOR: "Global Administrator",
}
# Either delegated scope lets the user's token write applications.
DELEGATED_SCOPES = (wellknown.GRAPH_DELEGATED_APPLICATION_READWRITE_ALL, wellknown.GRAPH_DELEGATED_DIRECTORY_ACCESS_AS_USER)

SPEC = CheckSpec(
    id="sam-user-app-registration",
    title="The CIPP-SAM user may create the API clients' app registrations (CIPP 7.2-7.3)",
    severity=Severity.CRITICAL,
    required=True,
    generations=frozenset({"current"}),
    profiles=frozenset({"clients-by-user"}),
    services=frozenset({"graph"}),
    # CIPP 7.2-7.3 act as the CIPP-SAM user only while they create API clients: afterwards
    # the role is a standing administrator role on a service account, to give back.
    lifecycle=Lifecycle(
        needed="during-activation", give_back=True,
        what="a role that lets the CIPP-SAM user create app registrations",
        remove=Remediation(
            portal=("Microsoft Entra admin center → Identity → Roles & admins → Cloud Application Administrator "
                    "(or the role it holds) → Assignments → the CIPP-SAM user → Remove"),
            powershell=("Get-MgRoleManagementDirectoryRoleAssignment -Filter \"principalId eq '{sam_user_id}' and "
                        f"roleDefinitionId eq '{wellknown.CLOUD_APPLICATION_ADMINISTRATOR}'\" | "
                        "Remove-MgRoleManagementDirectoryRoleAssignment"),
        ),
    ),
    remediation=Remediation(
        portal=(
            "Microsoft Entra admin center → Identity → Roles & admins → Cloud Application Administrator → "
            "Add assignments → the CIPP-SAM user (assignment type Active), while you create API clients."
        ),
        cli=(
            "Connect-MgGraph -Scopes RoleManagement.ReadWrite.Directory; "
            "New-MgRoleManagementDirectoryRoleAssignment -PrincipalId <user-object-id> "
            f"-RoleDefinitionId {wellknown.CLOUD_APPLICATION_ADMINISTRATOR} -DirectoryScopeId '/'"
        ),
    ),
    docs=(
        "CIPP 7.2.x and 7.3.x create each API client — its app registration, secret, identifier URI "
        "and service principal — with the CIPP-SAM user's delegated Graph token (the Easy Auth write "
        "is the Function App's managed identity's, see function-app-managed-identity). The token "
        "can do it when CIPP-SAM's delegated Graph consent for that user covers Application.ReadWrite.All "
        "or Directory.AccessAsUser.All (CIPP's SAM setup consents both) and the user actively holds "
        "Cloud Application Administrator, Application Administrator or Global Administrator (CIPP's "
        "documentation of the time asked for Global Administrator; Cloud Application Administrator "
        "is the least that works). Needed only while API clients are created: the role can be "
        "removed afterwards (cipp-setup revert removes the one it added). Resetting a client's secret "
        "in 7.2-7.3 runs as the CIPP-SAM app instead. CIPP 7.4 and later create clients app-only and "
        "need sam-app-graph-application-permissions instead; this check applies only to 7.2-7.3."
    ),
    causes=with_remediations(_remediations.APP_REGISTRATION, (
        Cause("no-app-registration-role",
              "The user holds none of Cloud Application Administrator, Application Administrator, Global Administrator (active)."),
        Cause("delegated-permission-missing",
              "CIPP-SAM's delegated Graph consent for the user lacks Application.ReadWrite.All and Directory.AccessAsUser.All."),
        Cause("account-disabled", "The user's account is disabled: CIPP's token for it stops working."),
        Cause("user-not-found", "No user with that UPN or object id exists in the tenant."),
        Cause("app-not-found", "No CIPP-SAM application: no app with the --sam-app id, or none named CIPP-SAM."),
        Cause("app-ambiguous", "Several applications are named CIPP-SAM; pass --sam-app with the right app id."),
        *lk.SAM_USER_CAUSES,
    )),
)


class SamUserAppRegistration(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.CREATE_DIRECTORY_ROLE_ASSIGNMENT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        g = lk.graph(ctx)
        user_r, sam_r, graph_r = await lk.settle(lk.sam_user(ctx), lk.sam_app(ctx), cur.graph_sp(ctx))
        if isinstance(user_r, (lk.SamUserUnknown, lk.SamUserAmbiguous)):
            return lk.sam_user_undecided(self, user_r)
        if isinstance(user_r, NotFound):
            ref = lk.sam_user_reference(ctx)
            return self.failed("user-not-found", f"No user {ref} in this tenant.",
                               evidence=(Evidence("CIPP-SAM user", f"{ref}: not found", "an existing user", ("upn",)),))
        lk.reraise_unexpected(user_r)
        user = user_r.user
        facts: dict[str, object] = {"sam_user_id": user.id, "sam_user_upn": user.user_principal_name,
                                    "sam_user_found_by": user_r.found_by}
        identity = Evidence("CIPP-SAM user", f"{user.user_principal_name} ({user.id}), from {user_r.found_by}",
                            identifiers=("upn", "object-id"))
        if isinstance(sam_r, lk.SamAppNotFound):
            return self.failed("app-not-found", str(sam_r), evidence=(identity,), facts=facts)
        if isinstance(sam_r, lk.SamAppAmbiguous):
            return self.errored("app-ambiguous", f"{len(sam_r.candidates)} applications are named CIPP-SAM: pass --sam-app APP_ID.",
                                evidence=(identity,))
        lk.reraise_unexpected(sam_r)
        lk.reraise_unexpected(graph_r)
        if user.account_enabled is False:
            return self.failed("account-disabled", f"{user.user_principal_name} is disabled.",
                               evidence=(identity, Evidence("accountEnabled", "false", "true")), facts=facts)
        groups_r, grants_r = await lk.settle(
            g.transitive_groups(user.id),
            g.grants_for_client(sam_r.service_principal.id) if sam_r.service_principal is not None else _none(),
        )
        lk.reraise_unexpected(groups_r)
        lk.reraise_unexpected(grants_r)
        holders = [user.id] + [grp.id for grp in groups_r if grp.is_assignable_to_role]
        assigned = await lk.settle(*(g.role_assignments(role_definition_id=role, principal_ids=holders)
                                     for role in APP_REGISTRATION_ROLES))
        held: list[str] = []
        for role, found in zip(APP_REGISTRATION_ROLES, assigned):
            lk.reraise_unexpected(found)
            if any(a.principal_id in set(holders) and a.directory_scope_id == "/" for a in found):
                held.append(role)
        graph_id = graph_r.id if graph_r is not None else None
        scopes = sorted({sc for gr in grants_r if gr.resource_id == graph_id
                         and (gr.consent_type == "AllPrincipals" or gr.principal_id == user.id) for sc in gr.scopes})
        facts.update(app_registration_roles=held, delegated_scopes=scopes)
        role_names = ", ".join(APP_REGISTRATION_ROLES[r] for r in held) or "none"
        evidence = (
            identity,
            Evidence("directory roles that may create app registrations (active, at /)", role_names,
                     "Cloud Application Administrator, Application Administrator or Global Administrator"),
            Evidence("CIPP-SAM's delegated Microsoft Graph consent for the user",
                     ", ".join(s for s in scopes if s in DELEGATED_SCOPES) or "neither",
                     " or ".join(DELEGATED_SCOPES)),
        )
        if not any(s in DELEGATED_SCOPES for s in scopes):
            return self.failed(
                "delegated-permission-missing",
                f"CIPP-SAM's delegated Graph consent for {user.user_principal_name} lacks Application.ReadWrite.All.",
                evidence=evidence, facts=facts,
            )
        if not held:
            return self.failed(
                "no-app-registration-role",
                f"{user.user_principal_name} may not create app registrations (no Cloud Application Administrator, "
                "Application Administrator or Global Administrator role).",
                evidence=evidence, facts=facts,
            )
        return self.passed(
            f"{user.user_principal_name} may create app registrations ({role_names}); CIPP-SAM's delegated "
            "consent covers it. Needed only while API clients are created.",
            evidence=evidence, facts=facts,
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_app_registration_role(result, ctx)


async def _none() -> list[object]:
    return []


# --- the fix ------------------------------------------------------------------------------

def plan_app_registration_role(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    """Cloud Application Administrator for the CIPP-SAM user — only for an instance the
    evidence shows is 7.2-7.3 (7.4+ does not use the user's token for clients)."""
    if result.cause != "no-app-registration-role" or ctx.inputs.profile != "clients-by-user":
        return None
    user_id = str(fact(result, "sam_user_id"))
    who = sam_user_label(result, ctx)
    change = directory_role_assignment(
        result.check_id, who=who, user_id=user_id, role_id=wellknown.CLOUD_APPLICATION_ADMINISTRATOR,
        role_name="Cloud Application Administrator", before="no role that may create app registrations",
        notes=("Needed only while API clients are created (CIPP 7.2-7.3): cipp-setup revert removes it.",),
    )
    blocked = ctx.admin.role_management_blocked if ctx.admin is not None else None
    title = "Let the CIPP-SAM user create app registrations (Cloud Application Administrator)"
    if blocked is not None:
        return FixPlan(result.check_id, title, result.cause, (change,), applicable=False,
                       explanation=f"Not offered: {blocked}.")
    return FixPlan(result.check_id, title, result.cause, (change,))
