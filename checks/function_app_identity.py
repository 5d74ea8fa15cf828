"""function-app-managed-identity: the CIPP Function App has a system-assigned managed
identity that may write its own Easy Auth settings.

Facts (plain values, stable; read by the current-generation fixes):
  function_app_id        the Function App's resource id (/subscriptions/../sites/NAME)
  function_app_name      its name
  resource_group         its resource group
  subscription_id        its subscription
  identity_type          "SystemAssigned", "UserAssigned", ... or "" (none)
  identity_principal_id  the system-assigned identity's service principal object id, or None
  granting_role_id       the role definition GUID that grants the access, or None
  granting_scope         where that assignment is made (site, RG, subscription, ...), or None
  role_ids_held          every role definition GUID the identity holds at the site (list)
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from cipp_setup import wellknown
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    FixableCheck,
    Message,
    PERMANENT,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import ROLES_FOR_SITE_IDENTITY, ROLES_FOR_SITE_ROLE_ASSIGNMENT, fact
from cipp_setup.engine.writes import ARM_USER_IMPERSONATION
from cipp_setup.gateways.errors import NotFound, PermissionDenied

from . import _current as cur
from . import _lookups as lk
from . import _remediations
from . import _subscription_state as sub_state

# What CIPP's managed identity does to the Function App when an API client is saved:
# read authsettingsV2 (a list action), write it, and write the app settings.
NEEDED_ACTIONS = ("Microsoft.Web/sites/config/write", "Microsoft.Web/sites/config/list/action")
KNOWN_ROLES = {
    wellknown.CONTRIBUTOR: "Contributor",
    wellknown.OWNER: "Owner",
    wellknown.WEBSITE_CONTRIBUTOR: "Website Contributor",
}

SPEC = CheckSpec(
    id="function-app-managed-identity",
    title="The CIPP Function App's managed identity may write its authentication settings",
    severity=Severity.CRITICAL,
    required=True,
    generations=frozenset({"current"}),
    services=frozenset({"arm"}),
    # Needed for good, in every current profile: CIPP writes Easy Auth with this identity at
    # every Save to Azure (the default lifecycle, said here because it is a decision).
    lifecycle=PERMANENT,
    remediation=Remediation(
        portal=(
            "Azure portal → Function App (the CIPP API, <name>.azurewebsites.net) → Settings → Identity → "
            "System assigned → Status On → Save; then Azure role assignments → Add role assignment → "
            "Scope: Resource group (the Function App's) or the Function App → Role: Contributor → Save."
        ),
        cli=(
            "az functionapp identity assign -g <resource-group> -n <function-app> && "
            "az role assignment create --assignee-object-id <identity-principal-id> "
            "--assignee-principal-type ServicePrincipal --role Contributor "
            "--scope /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<function-app>"
        ),
    ),
    docs=(
        "Since CIPP 7.2, saving API clients (\"Save to Azure\") writes the Function App's Easy Auth "
        "settings (authsettingsV2) and its app settings with the Function App's own system-assigned "
        "managed identity, not with the CIPP-SAM user. The identity therefore needs Contributor "
        f"({wellknown.CONTRIBUTOR}) — or Owner, Website Contributor or any role allowing "
        f"{' and '.join(NEEDED_ACTIONS)} — on the Function App, its resource group, its "
        "subscription or above. Deployments made with CIPP 7.1 and older lack this role, and some "
        "lack the identity. The assignments are read with ARM's atScope() and "
        "assignedTo('{identity}') filter at the Function App's scope, which covers everything "
        "above it. The Function App comes from --function-app (name or resource id), else from "
        "the --api-url host NAME.azurewebsites.net, looked up in --subscription or the "
        "subscriptions the admin can see."
    ),
    causes=with_remediations(_remediations.FUNCTION_APP_IDENTITY, (
        Cause("function-app-unknown", "Nothing says which Function App runs CIPP: pass --function-app or an azurewebsites.net --api-url."),
        Cause("function-app-not-found", "No such Function App, or the signed-in admin cannot see it."),
        Cause("managed-identity-missing", "The Function App has no system-assigned managed identity."),
        Cause("identity-no-role", "The managed identity holds no role that may write the Function App's configuration."),
        Cause("cannot-read-role-assignments", "The signed-in admin may not read role assignments on the Function App."),
        *sub_state.CAUSES,
    )),
)


def _allows(actions: tuple[str, ...], not_actions: tuple[str, ...], operation: str) -> bool:
    op = operation.lower()
    granted = any(fnmatchcase(op, a.lower()) for a in actions)
    return granted and not any(fnmatchcase(op, n.lower()) for n in not_actions)


class FunctionAppManagedIdentity(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.ENABLE_MANAGED_IDENTITY, p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        try:
            found = await cur.function_app(ctx)
        except cur.FunctionAppUnknown as exc:
            return self.failed("function-app-unknown", str(exc))
        except cur.FunctionAppNotFound as exc:
            return self.failed("function-app-not-found", str(exc))
        site = found.info
        ref = site.ref
        facts: dict[str, object] = {
            "function_app_id": site.resource_id,
            "function_app_name": ref.name,
            "resource_group": ref.resource_group,
            "subscription_id": ref.subscription_id,
            "identity_type": site.identity_type,
            "identity_principal_id": site.identity_principal_id,
            "granting_role_id": None,
            "granting_scope": None,
            "role_ids_held": [],
        }
        site_ev = Evidence("Function App", f"{site.resource_id}, from {found.found_by}", identifiers=("object-id",))
        hosting = await sub_state.hosting_subscription(ctx, ref.subscription_id)
        state_effect = sub_state.effect_of(hosting.state) if hosting is not None else None
        if state_effect is not None:
            facts["subscription_state"] = hosting.state if hosting is not None else ""
        if state_effect is not None and state_effect.blocking:
            # Azure refuses CIPP's Easy Auth write (and any fix) whatever role the identity has.
            return self.failed(
                state_effect.cause, f"The subscription of {ref.name} {state_effect.summary}.",
                evidence=(site_ev, state_effect.evidence(ref.subscription_id)),
                messages=(state_effect.message(),), facts=facts, fix_available=False,
            )
        principal = site.identity_principal_id
        if principal is None:
            return self.failed(
                "managed-identity-missing",
                f"{ref.name} has no system-assigned managed identity.",
                evidence=(site_ev, Evidence("system-assigned identity", site.identity_type or "none", "SystemAssigned")),
                facts=facts,
            )
        identity_ev = Evidence("system-assigned identity", principal, "present", ("object-id",))
        a = lk.arm(ctx)
        try:
            assigned = await a.role_assignments_at(site.resource_id, principal, ref.subscription_id)
        except PermissionDenied as exc:
            return self.failed(
                "cannot-read-role-assignments",
                f"The signed-in admin may not read role assignments on {ref.name}.",
                evidence=(site_ev, identity_ev), facts=facts, messages=(Message("info", str(exc)),),
            )
        facts["role_ids_held"] = sorted({x.role_definition_id for x in assigned})
        granting = next((x for x in assigned if x.role_definition_id in (wellknown.CONTRIBUTOR, wellknown.OWNER)), None)
        role_name = KNOWN_ROLES.get(granting.role_definition_id, "") if granting else ""
        notes: list[Message] = []
        if granting is None:
            # Any other role counts if its definition allows what CIPP does.
            for x in assigned:
                try:
                    rd = await a.role_definition(site.resource_id, x.role_definition_id, ref.subscription_id)
                except (NotFound, PermissionDenied) as exc:
                    notes.append(Message("info", f"Role definition {x.role_definition_id} could not be read: {exc}"))
                    continue
                if all(_allows(rd.actions, rd.not_actions, op) for op in NEEDED_ACTIONS):
                    granting, role_name = x, rd.role_name or x.role_definition_id
                    break
        if granting is not None:
            facts["granting_role_id"] = granting.role_definition_id
            facts["granting_scope"] = granting.scope
            where = "on the Function App" if granting.scope.lower() == site.resource_id.lower() else f"at {granting.scope}"
            if state_effect is not None:  # a grace period: works today
                return self.warned(
                    f"The managed identity of {ref.name} is {role_name} {where}, but its subscription "
                    f"{state_effect.summary}.", cause=state_effect.cause,
                    evidence=(site_ev, identity_ev, Evidence("role", f"{role_name} {where}", "Contributor or equivalent"),
                              state_effect.evidence(ref.subscription_id)),
                    facts=facts, messages=tuple(notes) + (state_effect.message(),),
                )
            return self.passed(
                f"The managed identity of {ref.name} is {role_name} {where}.",
                evidence=(site_ev, identity_ev, Evidence("role", f"{role_name} {where}", "Contributor or equivalent")),
                facts=facts, messages=tuple(notes),
            )
        held = ", ".join(KNOWN_ROLES.get(r, r) for r in facts["role_ids_held"]) or "none"  # type: ignore[attr-defined]
        return self.failed(
            "identity-no-role",
            f"The managed identity of {ref.name} may not write its configuration (roles: {held}).",
            evidence=(site_ev, identity_ev, Evidence("role", held, "Contributor on the Function App, its resource group or subscription")),
            facts=facts,
            messages=tuple(notes) + (Message(
                "hint",
                "Without it, CIPP's 'Save to Azure' fails and new API clients never reach Easy Auth (401).",
            ),),
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_managed_identity(result, ctx)


# --- the fix ------------------------------------------------------------------------------

def plan_managed_identity(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("managed-identity-missing", "identity-no-role"):
        return None  # which Function App is unknown, or it could not be read
    site_id = str(fact(result, "function_app_id"))
    principal_id = result.facts.get("identity_principal_id")
    site_name = site_id.rstrip("/").rsplit("/", 1)[-1]
    cid = result.check_id
    changes: list[PlannedChange] = []
    if not principal_id:
        changes.append(PlannedChange(
            check_id=cid, action=p.ENABLE_MANAGED_IDENTITY,
            api="Azure Resource Manager PATCH /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}",
            target=f"Function App {site_name}",
            before="no system-assigned managed identity", after="system-assigned managed identity on",
            admin_role_needed=ROLES_FOR_SITE_IDENTITY, grants_privilege=False, reversible=True,
            params={"site_id": site_id}, permission=ARM_USER_IMPERSONATION, step="identity",
            notes=("App Service creates the identity's service principal; it replicates like any new one.",),
        ))
    changes.append(PlannedChange(
        check_id=cid, action=p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT,
        api="Azure Resource Manager PUT {Function App}/providers/Microsoft.Authorization/roleAssignments/{new id}",
        target=f"the managed identity of Function App {site_name}",
        before="no Contributor on the Function App, its resource group or subscription",
        after="Contributor (b24988ac-…) assigned at the Function App, principalType ServicePrincipal",
        admin_role_needed=ROLES_FOR_SITE_ROLE_ASSIGNMENT, grants_privilege=True, reversible=True,
        params={"arm_scope": site_id, "site_id": site_id, "role_definition_id": wellknown.CONTRIBUTOR,
                "principal_id": principal_id, "principal_type": "ServicePrincipal"},
        permission=ARM_USER_IMPERSONATION, inputs_from={"principal_id": "identity"} if not principal_id else {},
        notes=("Not temporary: CIPP writes Easy Auth with this identity whenever API clients are saved, "
               "so cipp-setup revert leaves it in place.",),
    ))
    title = ("Turn on the Function App's managed identity and give it Contributor on the Function App"
             if not principal_id else "Give the Function App's managed identity Contributor on the Function App")
    return FixPlan(cid, title, result.cause, tuple(changes))

