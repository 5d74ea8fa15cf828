"""Plans are data: exactly what a fix would change, before anything is changed.

The terminal, the JSON report and the wizard all render these values; the appliers in
appliers (`cipp_setup.engine.actions.ACTIONS`, one per action kind) execute them. Nothing
here talks to a service or prints.

A `FixPlan` belongs to one failing check and holds the ordered `PlannedChange`s that
would make it pass. A plan that cannot be applied by this tool (a PIM role only the
eligible user can activate, say) is still a plan: `applicable` is False and
`explanation` says who must do what.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from cipp_setup.engine.result import CheckResult, Status


class ChangeStatus(str, enum.Enum):
    """What happened to one planned change (the `status` of a JSON `changes` entry)."""

    PLANNED = "planned"  # shown only (--dry-run), or not yet applied
    APPLIED = "applied"  # this run wrote it
    ALREADY_PRESENT = "already-present"  # the tenant already had it; nothing written
    FAILED = "failed"  # the write was refused or could not be made
    SKIPPED = "skipped"  # declined by the admin, not applicable, or blocked by an earlier failure
    ALREADY_GONE = "already-gone"  # revert only: the object had already been removed


# Action names are stable kebab-case strings: the JSON report and the journal carry them.
CREATE_DIRECTORY_ROLE_ASSIGNMENT = "create-directory-role-assignment"
DELETE_DIRECTORY_ROLE_ASSIGNMENT = "delete-directory-role-assignment"
ACTIVATE_PIM_ROLE = "activate-pim-role"
CREATE_SERVICE_PRINCIPAL = "create-service-principal"
ADD_REQUIRED_RESOURCE_ACCESS = "add-required-resource-access"
CREATE_OAUTH2_PERMISSION_GRANT = "create-oauth2-permission-grant"
EXTEND_OAUTH2_PERMISSION_GRANT = "extend-oauth2-permission-grant"
CREATE_ARM_ROLE_ASSIGNMENT = "create-arm-role-assignment"
DELETE_ARM_ROLE_ASSIGNMENT = "delete-arm-role-assignment"
# Current generation (CIPP 7.2+, API clients).
ADD_REQUIRED_APP_ROLES = "add-required-app-roles"  # application permissions in the manifest
CREATE_APP_ROLE_ASSIGNMENT = "create-app-role-assignment"  # admin consent of one app role
ENABLE_MANAGED_IDENTITY = "enable-managed-identity"  # the Function App's system-assigned identity
# Not temporary (CIPP needs it to save API clients): `revert` never undoes it.
CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT = "create-managed-identity-role-assignment"
ADD_IDENTIFIER_URI = "add-identifier-uri"
ADD_CLIENT_SECRET = "add-client-secret"
UPDATE_EASY_AUTH = "update-easy-auth"  # authsettingsV2: allowed applications and audiences
# revert only: take out what the tool's own sign-in consent added (engine/signin_consent.py).
REMOVE_SIGN_IN_CONSENT = "remove-sign-in-consent"

ALL_ACTIONS: frozenset[str] = frozenset({
    CREATE_DIRECTORY_ROLE_ASSIGNMENT,
    DELETE_DIRECTORY_ROLE_ASSIGNMENT,
    ACTIVATE_PIM_ROLE,
    CREATE_SERVICE_PRINCIPAL,
    ADD_REQUIRED_RESOURCE_ACCESS,
    CREATE_OAUTH2_PERMISSION_GRANT,
    EXTEND_OAUTH2_PERMISSION_GRANT,
    CREATE_ARM_ROLE_ASSIGNMENT,
    DELETE_ARM_ROLE_ASSIGNMENT,
    ADD_REQUIRED_APP_ROLES,
    CREATE_APP_ROLE_ASSIGNMENT,
    ENABLE_MANAGED_IDENTITY,
    CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT,
    ADD_IDENTIFIER_URI,
    ADD_CLIENT_SECRET,
    UPDATE_EASY_AUTH,
    REMOVE_SIGN_IN_CONSENT,
})

# The action kinds written through Azure Resource Manager (the rest go to Microsoft Graph):
# what a replication wait is called, and which admin role a refusal names.
ARM_ACTIONS: frozenset[str] = frozenset({
    CREATE_ARM_ROLE_ASSIGNMENT,
    DELETE_ARM_ROLE_ASSIGNMENT,
    ENABLE_MANAGED_IDENTITY,
    CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT,
    UPDATE_EASY_AUTH,
})


def service_of(action: str) -> str:
    """The service an action kind's writes replicate in, as the admin knows it."""
    return "Azure Resource Manager" if action in ARM_ACTIONS else "Entra ID"


# The params that identify a change's object (journal `target`); the rest are values.
TARGET_PARAMS: frozenset[str] = frozenset({
    "principal_id", "role_definition_id", "directory_scope_id", "app_id",
    "application_object_id", "client_id", "resource_id", "consent_type", "arm_scope",
    "subscription_id", "permission_id", "resource_app_id", "assignment_id",
    "app_role_id", "site_id", "identifier_uri", "grant_id",
})

# Plain values only: these parameters go to the journal and the JSON report verbatim.
PlainValue = Any  # str | int | bool | None | list[PlainValue] | dict[str, PlainValue]


@dataclass(frozen=True)
class PlannedChange:
    """One write: which API, which object, what it looks like before and after.

    `before` / `after` are short human-readable descriptions ("no assignment" → "Global
    Administrator at /"). `params` holds the machine parameters the applier needs (object
    ids, role ids, scopes): plain values, never a secret, never rendered as prose.
    `permission` is the delegated permission the write is made with (the sign-in asks
    for it only when the change is about to be applied).
    """

    check_id: str
    action: str
    api: str  # e.g. "Microsoft Graph POST /roleManagement/directory/roleAssignments"
    target: str  # the object, readable: "CIPP-SAM user admin@contoso.com"
    before: str
    after: str
    admin_role_needed: str
    grants_privilege: bool
    reversible: bool
    notes: tuple[str, ...] = ()
    params: Mapping[str, PlainValue] = field(default_factory=dict)
    permission: str = ""
    # A name for this step within its plan, and the params that are filled from the
    # object id an earlier step produced (the grant needs the service principal the step
    # before it creates): {"resource_id": "azure-management-sp"}.
    step: str = ""
    inputs_from: Mapping[str, str] = field(default_factory=dict)

    def journal_target(self) -> dict[str, PlainValue]:
        """The ids that name the object this change writes (stable across runs)."""
        return {k: v for k, v in sorted(self.params.items()) if k in TARGET_PARAMS}

    def __post_init__(self) -> None:
        if self.action not in ALL_ACTIONS:
            raise ValueError(f"unknown fix action {self.action!r}")


@dataclass(frozen=True)
class FixPlan:
    """Everything one failing check needs, in the order it must be applied."""

    check_id: str
    title: str  # "Make the CIPP-SAM user a Global Administrator"
    cause: str | None  # the check's cause code the plan answers
    changes: tuple[PlannedChange, ...]
    applicable: bool = True
    # Why the tool cannot apply it itself, and what a person has to do instead.
    explanation: str | None = None

    @property
    def grants_privilege(self) -> bool:
        return any(c.grants_privilege for c in self.changes)

    @property
    def admin_roles_needed(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.changes:
            seen.setdefault(c.admin_role_needed, None)
        return tuple(seen)

    @property
    def permissions_needed(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.changes:
            if c.permission:
                seen.setdefault(c.permission, None)
        return tuple(seen)


@dataclass(frozen=True)
class ChangeOutcome:
    change: PlannedChange
    status: ChangeStatus
    detail: str = ""  # one line for the admin: what happened
    cause: str | None = None  # stable code for a failure (permission-denied, throttled, ...)
    object_id: str | None = None  # the object created or changed
    journal_id: str | None = None  # the journal entry that records it

    @property
    def changed_tenant(self) -> bool:
        return self.status is ChangeStatus.APPLIED


@dataclass(frozen=True)
class PlanOutcome:
    """A plan after applying (or deciding not to): per change, and the re-verification."""

    plan: FixPlan
    changes: tuple[ChangeOutcome, ...]
    verified: CheckResult | None = None  # the check as re-run after applying
    verify_attempts: int = 0
    declined: bool = False

    @property
    def failed(self) -> bool:
        return any(c.status is ChangeStatus.FAILED for c in self.changes)

    @property
    def applied(self) -> tuple[ChangeOutcome, ...]:
        return tuple(c for c in self.changes if c.status is ChangeStatus.APPLIED)

    @property
    def not_applied(self) -> tuple[ChangeOutcome, ...]:
        return tuple(
            c for c in self.changes
            if c.status in (ChangeStatus.FAILED, ChangeStatus.SKIPPED, ChangeStatus.PLANNED)
        )

    @property
    def passes(self) -> bool:
        return self.verified is not None and self.verified.status in (Status.PASS, Status.WARN)


def planned_outcome(plan: FixPlan) -> PlanOutcome:
    """The outcome of a plan that was only shown (--dry-run)."""
    status = ChangeStatus.PLANNED if plan.applicable else ChangeStatus.SKIPPED
    detail = "" if plan.applicable else (plan.explanation or "cannot be applied automatically")
    return PlanOutcome(plan, tuple(ChangeOutcome(c, status, detail) for c in plan.changes))


def declined_outcome(plan: FixPlan, reason: str = "declined") -> PlanOutcome:
    return PlanOutcome(
        plan,
        tuple(ChangeOutcome(c, ChangeStatus.SKIPPED, reason) for c in plan.changes),
        declined=True,
    )
