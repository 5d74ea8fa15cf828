"""The engine's vocabulary: checks, their metadata, and the results they produce.

Everything here is plain data. Renderers (terminal, JSON, reports) and front ends (the
CLI, the wizard) consume it; nothing here prints, prompts or talks to a service.

A check is one class in one file of `checks/`: its `CheckSpec`, its `run`, and — when
cipp-setup can put a failure right — its planner (`FixableCheck.plan`: pure, a result
and the run's context in, a `FixPlan` out). A check is fixable exactly when it has a
planner; `CheckSpec.fixable` is filled in from that, never declared.

The values a check produces (`CheckResult`, `Evidence`, `Message`, `Status`, `Secret`)
live in `cipp_setup.engine.result` and are re-exported here.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Callable, ClassVar, Literal, Mapping

from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.plan import FixPlan
from cipp_setup.engine.result import (
    ALL_GENERATIONS,
    ALL_PROFILES,
    CheckResult,
    Evidence,
    Generation,
    Message,
    MessageKind,
    Profile,
    Remediation,
    Secret,
    Status,
    TRANSIENT_CAUSES,
)

__all__ = [
    "ALL_GENERATIONS", "COMMON_CAUSES", "Cause", "Check", "CheckResult", "CheckSpec", "Evidence",
    "FixableCheck", "Generation", "LIFECYCLE_CAUSES", "Lifecycle", "Message", "MessageKind", "Needed",
    "Planner", "Profile", "Remediation", "Secret", "Severity", "Status", "TRANSIENT_CAUSES", "with_remediations",
]


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class Cause:
    """A stable, machine-readable reason for a `fail`, `warn` or `error`: what it means and
    what puts it right (each cause its own: the meta-tests insist)."""

    code: str
    meaning: str
    remediation: Remediation | None = None


def with_remediations(table: Mapping[str, Remediation], causes: tuple[Cause, ...]) -> tuple[Cause, ...]:
    """`causes`, each carrying its remediation from `table` (keyed by cause code)."""
    return tuple(
        c if c.remediation is not None or c.code not in table else Cause(c.code, c.meaning, table[c.code])
        for c in causes
    )


# Transient causes are never answered with a change to the tenant: the tenant may be fine.
_RETRY = (
    "Nothing in the tenant needs to change: run the same command again in a minute. If it "
    "keeps failing, check this computer's connection, its proxy (HTTPS_PROXY, NO_PROXY) and, "
    "behind TLS inspection, pass the proxy's CA with --ca-bundle."
)


# Causes any check can end with: the engine produces them when a service cannot answer.
COMMON_CAUSES: tuple[Cause, ...] = (
    Cause(
        "throttled", "The service kept answering 429 Too Many Requests beyond the retry budget.",
        Remediation(steps="The service is throttling this tenant for now. " + _RETRY),
    ),
    Cause(
        "service-unavailable", "The service kept answering 503/504 beyond the retry budget.",
        Remediation(steps="The service is unavailable for now (see status.azure.com). " + _RETRY),
    ),
    Cause(
        "network", "The service could not be reached or dropped the connection (DNS, refused, reset, proxy).",
        Remediation(steps="The host named above could not be reached. " + _RETRY),
    ),
    Cause(
        "tls", "The service's TLS certificate could not be verified, or the TLS handshake failed.",
        Remediation(
            steps=(
                "Nothing in the tenant needs to change. If a proxy inspects TLS on this network, pass "
                "its CA certificate with --ca-bundle FILE (TLS verification is never turned off); "
                "otherwise check that the address is the service's own."
            ),
        ),
    ),
    Cause(
        "timeout", "The service did not answer in time, or the check did not finish within its time limit.",
        Remediation(steps="No answer in time (a cold Function App can take a minute once). " + _RETRY),
    ),
    Cause(
        "permission-denied", "The signed-in admin lacks a permission the check needs to read.",
        Remediation(
            steps=(
                "Sign in as an admin who may read this: Global Reader (or Global Administrator) in "
                "Entra ID, and Reader on the subscription for Azure checks. Nothing needs to change."
            ),
            cli="az login --tenant {tenant}",
            powershell="Connect-MgGraph -TenantId {tenant} -Scopes Directory.Read.All",
        ),
    ),
    Cause(
        "cipp-version-unknown",
        "The check applies to some CIPP versions only, and neither the tenant nor the run says which "
        "version this instance runs: its result is shown, not counted.",
        Remediation(
            steps=(
                "Read the version in CIPP (the version shown at the bottom of CIPP's menu, or Settings → "
                "Updates) and run the same command again with --cipp-version VERSION (for example "
                "--cipp-version 7.3.1). Nothing in the tenant needs to change for this."
            ),
        ),
    ),
    Cause(
        "sign-in-expired", "The service refused the sign-in's token, and a fresh one did not help: the sign-in is stale.",
        Remediation(
            steps=(
                "Sign in again (the saved sign-in may come from another tenant instance, or was revoked): "
                "run cipp-setup login, or az login with --auth azure-cli, then the same command. "
                "Nothing in the tenant needs to change."
            ),
        ),
    ),
    Cause(
        "internal-error", "cipp-setup itself failed; please report it with the -v output.",
        Remediation(steps="Run the same command again with -v and report the output (it holds no secret)."),
    ),
)


# When CIPP needs what a check verifies.
#   "permanently": every day (the managed identity's role, the API client's secret).
#   "during-activation": only while the API is activated (legacy) or API clients are
#     created and saved (current): once the API answers, its absence is no problem.
Needed = Literal["permanently", "during-activation"]


@dataclass(frozen=True)
class Lifecycle:
    """A check's declaration of when its prerequisite is needed (engine/lifecycle.py acts on it).

    `give_back`: the prerequisite is a temporary privilege (a role for the CIPP-SAM user)
    that should not outlive the activation: once the API answers, still holding it is a
    warning naming `cipp-setup revert`. False for what is harmless to keep (a consent).
    `what` names the right in a sentence: "Global Administrator for the CIPP-SAM user";
    `remove` says how to give it back by hand (a template, filled like a remediation).
    """

    needed: Needed = "permanently"
    give_back: bool = False
    what: str = ""
    remove: Remediation | None = None

    def __post_init__(self) -> None:
        if self.give_back and self.needed != "during-activation":
            raise ValueError("only a right needed during activation can be given back afterwards")

    @property
    def activation_only(self) -> bool:
        return self.needed == "during-activation"


PERMANENT = Lifecycle()

# The causes the lifecycle gives an activation-time prerequisite once the API answers
# (engine/lifecycle.py); every check that declares `needed="during-activation"` can end
# with them, so `spec.cause()` knows them like the common causes.
LIFECYCLE_CAUSES: tuple[Cause, ...] = (
    Cause(
        "not-needed-after-activation",
        "The API is activated and answers; this right was needed only during the activation.",
        Remediation(steps="Nothing to do: the API answers without it. Do not grant it again for the API's sake."),
    ),
    Cause(
        "given-back-after-activation",
        "The API answers, and cipp-setup revert gave this temporary right back after the activation.",
        Remediation(steps="Nothing to do: the temporary right was given back as intended, and the API answers."),
    ),
    Cause(
        "activation-rights-still-held",
        "The API answers, but a temporary right needed only during the activation is still in place.",
        Remediation(
            steps=(
                "Give the temporary right back: cipp-setup revert removes what cipp-setup granted "
                "(run it where the fix ran; its journal is there). A right granted some other way is "
                "removed by hand."
            ),
        ),
    ),
)


@dataclass(frozen=True)
class CheckSpec:
    """Everything about a check except how it runs."""

    id: str  # stable kebab-case; other tools and scripts rely on it
    title: str  # states the expected state, e.g. "CIPP-SAM user is Global Administrator"
    severity: Severity
    required: bool
    remediation: Remediation
    docs: str
    causes: tuple[Cause, ...]
    depends_on: tuple[str, ...] = ()
    generations: frozenset[Generation] = ALL_GENERATIONS
    # The CIPP profiles (who writes the API's app registrations) the check applies to. A
    # current-generation check limited to one of the two current profiles is
    # "profile-dependent": while the version is unknown its failure is reported, not counted.
    profiles: frozenset[Profile] = ALL_PROFILES
    timeout_s: float = 120.0
    # Derived, never declared in a check's file: True exactly for a `FixableCheck`
    # (renderers read it from the spec, e.g. `explain` offers `cipp-setup fix --only`).
    fixable: bool = False
    # Which gateways `run` talks to: "graph", "arm", "api". The admin signs in only when a
    # selected check needs "graph" or "arm" (API-only runs need no admin sign-in).
    services: frozenset[str] = frozenset()
    # When CIPP needs what this check verifies (the default: permanently). A check whose
    # answer depends on the CIPP version overrides `Check.lifecycle` instead.
    lifecycle: Lifecycle = PERMANENT
    # True for the check whose pass proves the API is activated and answers
    # (api-list-logs): only then do activation-time prerequisites read "not needed".
    proves_activation: bool = False

    def cause(self, code: str) -> Cause:
        # The lifecycle's causes are known to every spec: whether a check's right is needed
        # only during activation can depend on the run's CIPP version (Check.lifecycle).
        for c in self.causes + COMMON_CAUSES + LIFECYCLE_CAUSES:
            if c.code == code:
                return c
        raise KeyError(f"check {self.id} has no cause {code!r}")

    def remediation_for(self, code: str | None) -> Remediation:
        """The cause's own remediation (a template), else the check's overview."""
        if code is not None:
            try:
                own = self.cause(code).remediation
            except KeyError:
                own = None
            if own is not None:
                return own
        return self.remediation


class Check(ABC):
    """A read-only check. `run` returns a result; the runner catches what it raises."""

    spec: ClassVar[CheckSpec]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if isinstance(spec, CheckSpec):
            fixable = issubclass(cls, FixableCheck)
            if spec.fixable and not fixable:
                raise TypeError(f"check {spec.id}: fixable comes from having a planner (FixableCheck), "
                                "not from the spec")
            cls.spec = replace(spec, fixable=fixable)

    @property
    def fixable(self) -> bool:
        return self.spec.fixable

    def lifecycle(self, ctx: CheckContext) -> Lifecycle:
        """When CIPP needs this check's prerequisite, in this run (the spec's declaration).
        A check whose answer depends on the CIPP version (7.2–7.3 vs 7.4+) overrides this
        and reads the run's profile from `ctx`; the lifecycle calls it after every check ran."""
        return self.spec.lifecycle

    @abstractmethod
    async def run(self, ctx: CheckContext) -> CheckResult: ...

    # Result helpers: they validate the cause against the spec so a typo fails loudly in
    # the registry tests instead of reaching a user.

    def passed(
        self,
        summary: str,
        *,
        evidence: tuple[Evidence, ...] = (),
        messages: tuple[Message, ...] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        return CheckResult(
            self.spec.id, Status.PASS, summary, evidence=evidence, messages=messages,
            facts=dict(facts or {}),
        )

    def warned(
        self,
        summary: str,
        *,
        cause: str | None = None,
        evidence: tuple[Evidence, ...] = (),
        messages: tuple[Message, ...] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        if cause is not None:
            self.spec.cause(cause)
        return CheckResult(
            self.spec.id, Status.WARN, summary, cause=cause, evidence=evidence,
            messages=messages, facts=dict(facts or {}),
        )

    def failed(
        self,
        cause: str,
        summary: str,
        *,
        evidence: tuple[Evidence, ...] = (),
        messages: tuple[Message, ...] = (),
        facts: Mapping[str, Any] | None = None,
        fix_available: bool | None = None,
    ) -> CheckResult:
        self.spec.cause(cause)
        return CheckResult(
            self.spec.id, Status.FAIL, summary, cause=cause, evidence=evidence,
            messages=messages, facts=dict(facts or {}),
            fix_available=self.spec.fixable if fix_available is None else fix_available,
        )

    def errored(
        self,
        cause: str,
        summary: str,
        *,
        evidence: tuple[Evidence, ...] = (),
        messages: tuple[Message, ...] = (),
    ) -> CheckResult:
        self.spec.cause(cause)
        return CheckResult(
            self.spec.id, Status.ERROR, summary, cause=cause, evidence=evidence, messages=messages
        )

    def skipped(self, summary: str) -> CheckResult:
        return CheckResult(self.spec.id, Status.SKIP, summary)

Planner = Callable[[CheckResult, CheckContext], "FixPlan | None"]


class FixableCheck(Check):
    """A check cipp-setup can put right: it plans its own fix.

    `plan` is pure: it reads the failing result's `facts` and the run's context and
    returns the changes that would make the check pass (or None: this failure is not one
    a tool should fix, a user that does not exist, say). No service is called while
    planning, so a plan can be shown (--dry-run, the wizard) before any write token is
    asked for. The changes name action kinds of `cipp_setup.engine.actions.ACTIONS`;
    `fix_actions` lists every kind this planner can emit (the meta-tests hold it to that).
    """

    fix_actions: ClassVar[frozenset[str]]

    @abstractmethod
    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None: ...

    def opted_in(self, plan: FixPlan) -> FixPlan:
        """The plan when the admin opted in (`--write-easy-auth`) to a write this check
        otherwise leaves to a person; most checks have none."""
        return plan
