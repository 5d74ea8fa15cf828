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
from typing import Any, Callable, ClassVar, Mapping

from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.plan import FixPlan
from cipp_setup.engine.result import (
    ALL_GENERATIONS,
    CheckResult,
    Evidence,
    Generation,
    Message,
    MessageKind,
    Remediation,
    Secret,
    Status,
    TRANSIENT_CAUSES,
)

__all__ = [
    "ALL_GENERATIONS", "COMMON_CAUSES", "Cause", "Check", "CheckResult", "CheckSpec", "Evidence",
    "FixableCheck", "Generation", "Message", "MessageKind", "Planner", "Remediation", "Secret",
    "Severity", "Status", "TRANSIENT_CAUSES", "with_remediations",
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
        "internal-error", "cipp-setup itself failed; please report it with the -v output.",
        Remediation(steps="Run the same command again with -v and report the output (it holds no secret)."),
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
    timeout_s: float = 120.0
    # Derived, never declared in a check's file: True exactly for a `FixableCheck`
    # (renderers read it from the spec, e.g. `explain` offers `cipp-setup fix --only`).
    fixable: bool = False
    # Which gateways `run` talks to: "graph", "arm", "api". The admin signs in only when a
    # selected check needs "graph" or "arm" (API-only runs need no admin sign-in).
    services: frozenset[str] = frozenset()

    def cause(self, code: str) -> Cause:
        for c in self.causes + COMMON_CAUSES:
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
