"""sam-user-subscription-contributor: the CIPP-SAM user is Contributor or Owner on the
subscription that hosts CIPP.

Facts its planner reads (plain values):
  sam_user_id        the CIPP-SAM user's object id
  subscription_id    the subscription
  sam_user_upn       optional (else taken from another check or --sam-user)
  subscription_name  optional
"""

from __future__ import annotations

from typing import Any

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
    Lifecycle,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import ROLES_FOR_ARM_ASSIGNMENT, fact, sam_user_label
from cipp_setup.engine.writes import ARM_USER_IMPERSONATION
from cipp_setup.gateways.errors import BadRequest, NotFound, PermissionDenied

from . import _lookups as lk
from . import _remediations
from . import _subscription_state as sub_state

ROLE_NAMES = {wellknown.CONTRIBUTOR: "Contributor", wellknown.OWNER: "Owner"}

SPEC = CheckSpec(
    id="sam-user-subscription-contributor",
    title="The CIPP-SAM user is Contributor or Owner on the CIPP subscription",
    severity=Severity.CRITICAL,
    required=True,
    generations=frozenset({"legacy"}),
    services=frozenset({"graph", "arm"}),
    # Needed to write Easy Auth while legacy CIPP activates the API, as the CIPP-SAM user.
    lifecycle=Lifecycle(
        needed="during-activation", give_back=True,
        what="Contributor on the subscription for the CIPP-SAM user",
        remove=Remediation(
            portal=("Azure portal → Subscriptions → {subscription_id} → Access control (IAM) → Role assignments → "
                    "the CIPP-SAM user's Contributor → Remove"),
            cli=("az role assignment delete --assignee {sam_user_id} --role Contributor "
                 "--scope /subscriptions/{subscription_id}"),
            powershell=("Remove-AzRoleAssignment -ObjectId {sam_user_id} -RoleDefinitionName Contributor "
                        "-Scope /subscriptions/{subscription_id}"),
        ),
    ),
    remediation=Remediation(
        portal=(
            "Azure portal → Subscriptions → the subscription that hosts CIPP → Access control (IAM) → "
            "Add → Add role assignment → Privileged administrator roles → Contributor → Members → "
            "select the CIPP-SAM user → Review + assign."
        ),
        cli=(
            "az role assignment create --assignee <cipp-sam-upn> --role Contributor "
            "--scope /subscriptions/<subscription-id>"
        ),
    ),
    docs=(
        "Legacy CIPP writes the Function App's authentication settings (authsettingsV2) through "
        "Azure Resource Manager as the CIPP-SAM user, which needs Contributor "
        f"({wellknown.CONTRIBUTOR}) or Owner ({wellknown.OWNER}) on the subscription that hosts "
        "CIPP: assigned to the user, to one of its groups, or inherited from a management group "
        "or the tenant root. Found with ARM's `atScope() and assignedTo('{id}')` filter at the "
        "subscription; an assignment on a resource group or resource below it does not count. "
        "The subscription comes from --subscription, else the only one the admin can see; "
        "with several, the check lists them and asks for --subscription. An Azure PIM "
        "eligibility (not activated) is reported as contributor-eligible-only. The role is "
        "needed during activation only: once ListLogs answers, a missing role reads 'not needed "
        "any more' and one still in place warns, naming cipp-setup revert."
    ),
    causes=with_remediations(_remediations.SUBSCRIPTION_CONTRIBUTOR, (
        Cause("no-contributor", "Neither Contributor nor Owner applies to the user on the subscription."),
        Cause("contributor-eligible-only", "The user is only eligible (Azure PIM) for Contributor or Owner; it is not active."),
        Cause("subscription-not-found", "The subscription does not exist or the signed-in admin cannot see it."),
        Cause("subscription-ambiguous", "Several subscriptions are visible; pass --subscription to name the one hosting CIPP."),
        Cause("cannot-read-role-assignments", "The signed-in admin may not read role assignments on the subscription."),
        Cause("user-not-found", "The CIPP-SAM user does not exist (see sam-user-global-admin)."),
        *lk.SAM_USER_CAUSES,
        *sub_state.CAUSES,
    )),
)


def _applies_to_subscription(scope: str, subscription_id: str) -> bool:
    """The subscription itself, a management group above it, or the tenant root."""
    s = scope.rstrip("/").lower()
    return (
        s == ""  # "/" — the tenant root
        or s == f"/subscriptions/{subscription_id.lower()}"
        or s.startswith("/providers/microsoft.management/managementgroups/")
    )


class SamUserSubscriptionContributor(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.CREATE_ARM_ROLE_ASSIGNMENT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        a = lk.arm(ctx)
        ref = lk.sam_user_reference(ctx)
        user_id = lk.sam_user_id_hint(ctx)
        given = (ctx.inputs.subscription_id or "").strip().lower()

        async def assignments_in_given_subscription() -> Any:
            # The query needs only the subscription id and the user's object id: it does
            # not wait for the subscription's own read (which only names it).
            uid = user_id or (await lk.sam_user(ctx)).user.id
            return await a.role_assignments_at(lk_scope(given), uid, given)

        # With --subscription: depth 1 given the user's object id, else 2 (the user first);
        # the subscription is read alongside. Without it, the subscription is found first.
        sub_r, user_r, assigned_r = await lk.settle(
            lk.subscription(ctx),
            lk.sam_user(ctx),
            assignments_in_given_subscription() if given else _none(),
        )
        if isinstance(user_r, (lk.SamUserUnknown, lk.SamUserAmbiguous)):
            return lk.sam_user_undecided(self, user_r)
        if isinstance(user_r, NotFound):
            return self.failed("user-not-found", f"No user {ref} in this tenant.")
        if isinstance(sub_r, lk.SubscriptionNotFound):
            return self.failed("subscription-not-found", str(sub_r))
        if isinstance(sub_r, lk.SubscriptionAmbiguous):
            listing = "; ".join(f"{s.id} ({s.display_name})" for s in sub_r.candidates)
            return self.errored(
                "subscription-ambiguous",
                f"{len(sub_r.candidates)} subscriptions are visible: pass --subscription with the one hosting CIPP.",
                evidence=(Evidence("visible subscriptions", listing, "exactly one, or --subscription"),),
            )
        lk.reraise_unexpected(sub_r)
        lk.reraise_unexpected(user_r)
        sub = sub_r
        user = user_r.user
        state_effect = sub_state.effect_of(sub.state)
        if state_effect is not None and state_effect.blocking:
            # No role makes a read-only subscription writable: the activation's write of
            # authsettingsV2 would be refused whoever is Contributor.
            return self.failed(
                state_effect.cause, f"Subscription {sub.display_name} ({sub.id}) {state_effect.summary}.",
                evidence=(state_effect.evidence(sub.id),), messages=(state_effect.message(),),
                facts={"subscription_id": sub.id, "subscription_state": sub.state}, fix_available=False,
            )
        scope = lk_scope(sub.id)
        if isinstance(assigned_r, PermissionDenied):
            return self._cannot_read(sub, str(assigned_r))
        lk.reraise_unexpected(assigned_r)
        if assigned_r is None:
            try:
                assigned = await a.role_assignments_at(scope, user.id, sub.id)
            except PermissionDenied as exc:
                return self._cannot_read(sub, str(exc))
        else:
            assigned = assigned_r

        who = user_r.found_by
        evidence = [
            Evidence("CIPP-SAM user", f"{user.user_principal_name} ({user.id}), from {who}", identifiers=("upn", "object-id")),
            Evidence(
                "subscription", f"{sub.display_name} ({sub.id})"
                + ("" if given else ", the only one visible"), identifiers=("object-id",),
            ),
        ]
        facts = {"subscription_id": sub.id, "sam_user_id": user.id, "sam_user_upn": user.user_principal_name,
                 "sam_user_found_by": user_r.found_by}
        granting = [
            x for x in assigned
            if x.role_definition_id in ROLE_NAMES and _applies_to_subscription(x.scope, sub.id)
        ]
        if granting:
            x = granting[0]
            via = "directly" if x.principal_id == user.id else f"through {x.principal_type.lower() or 'group'} {x.principal_id}"
            where = "on the subscription" if x.scope.lower() == scope.lower() else f"inherited from {x.scope}"
            evidence.append(Evidence("Contributor or Owner", f"{ROLE_NAMES[x.role_definition_id]}, {via}, {where}", "Contributor or Owner"))
            if state_effect is not None:  # a grace period: works today
                return self.warned(
                    f"{user.user_principal_name} is {ROLE_NAMES[x.role_definition_id]} on {sub.display_name}, but the "
                    f"subscription {state_effect.summary}.",
                    cause=state_effect.cause, evidence=(*evidence, state_effect.evidence(sub.id)),
                    messages=(state_effect.message(),), facts=facts,
                )
            return self.passed(
                f"{user.user_principal_name} is {ROLE_NAMES[x.role_definition_id]} on {sub.display_name} ({via}, {where}).",
                evidence=tuple(evidence), facts=facts,
            )

        below = [x for x in assigned if x.role_definition_id in ROLE_NAMES and not _applies_to_subscription(x.scope, sub.id)]
        others = sorted({x.role_definition_id for x in assigned} - set(ROLE_NAMES))
        found = "none"
        if below:
            found = f"only below the subscription ({below[0].scope}), which does not count"
        elif others:
            found = f"other roles only ({', '.join(others)})"
        evidence.append(Evidence("Contributor or Owner", found, "Contributor or Owner at the subscription or above"))

        notes: list[Message] = []
        try:
            eligible = [
                e for e in await a.role_eligibilities_for(scope, user.id, sub.id)
                if e.role_definition_id in ROLE_NAMES and _applies_to_subscription(e.scope, sub.id)
            ]
        except (PermissionDenied, BadRequest, NotFound) as exc:
            eligible = []
            notes.append(Message("info", f"Azure PIM eligibilities could not be read: {exc}"))
        if eligible:
            e = eligible[0]
            evidence[-1] = Evidence("Contributor or Owner", f"{ROLE_NAMES[e.role_definition_id]} eligible (PIM) at {e.scope}, not active", "active")
            return self.failed(
                "contributor-eligible-only",
                f"{user.user_principal_name} is only eligible for {ROLE_NAMES[e.role_definition_id]} on {sub.display_name}.",
                evidence=tuple(evidence), facts=facts,
                messages=(Message(
                    "hint",
                    "Activate it before enabling the API: Azure portal → Privileged Identity Management → "
                    "My roles → Azure resources → Eligible assignments → Activate.",
                ),),
            )
        return self.failed(
            "no-contributor",
            f"{user.user_principal_name} is neither Contributor nor Owner on {sub.display_name}.",
            evidence=tuple(evidence), facts=facts, messages=tuple(notes),
        )

    def _cannot_read(self, sub: object, detail: str) -> CheckResult:
        return self.failed(
            "cannot-read-role-assignments",
            "The signed-in admin may not read role assignments on the subscription.",
            messages=(Message("info", detail),),
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_subscription_contributor(result, ctx)



def lk_scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


async def _none() -> None:
    return None


# --- the fix ------------------------------------------------------------------------------

def plan_subscription_contributor(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("no-contributor", "contributor-eligible-only"):
        return None
    user_id = str(fact(result, "sam_user_id"))
    subscription_id = str(fact(result, "subscription_id"))
    sub_name = result.facts.get("subscription_name")
    sub_label = f"subscription {sub_name} ({subscription_id})" if sub_name else f"subscription {subscription_id}"
    who = sam_user_label(result, ctx)
    arm_scope = f"/subscriptions/{subscription_id}"
    change = PlannedChange(
        check_id=result.check_id, action=p.CREATE_ARM_ROLE_ASSIGNMENT,
        api="Azure Resource Manager PUT /subscriptions/{id}/providers/Microsoft.Authorization/roleAssignments/{new id}",
        target=f"{who} on {sub_label}",
        before="no Contributor or Owner at or above the subscription",
        after="Contributor (b24988ac-…) assigned at the subscription, principalType User",
        admin_role_needed=ROLES_FOR_ARM_ASSIGNMENT, grants_privilege=True, reversible=True,
        params={"arm_scope": arm_scope, "role_definition_id": wellknown.CONTRIBUTOR, "principal_id": user_id,
                "principal_type": "User", "subscription_id": subscription_id},
        permission=ARM_USER_IMPERSONATION,
        notes=("Temporary elevation: cipp-setup revert removes it once the API answers.",),
    )
    if result.cause == "contributor-eligible-only":
        explanation = (
            f"Contributor on the {sub_label} is only eligible (PIM) for the {who}. That user "
            f"activates it in the Azure portal → Privileged Identity Management → My roles → "
            f"Azure resources → Activate; cipp-setup does not override your PIM policy with a "
            f"permanent assignment."
        )
        return FixPlan(result.check_id, "Activate the CIPP-SAM user's eligible Contributor role",
                       result.cause, (change,), applicable=False, explanation=explanation)
    return FixPlan(result.check_id, "Give the CIPP-SAM user Contributor on the subscription",
                   result.cause, (change,))

