"""The engine's vocabulary: checks, their metadata, and the results they produce.

Everything here is plain data. Renderers (terminal, JSON, reports) and front ends (the
CLI, the wizard) consume it; nothing here prints, prompts or talks to a service.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Mapping

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext

Generation = Literal["legacy", "current"]
ALL_GENERATIONS: frozenset[Generation] = frozenset({"legacy", "current"})


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    @property
    def is_problem(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True)
class Remediation:
    """How to put a failure right, by hand.

    `steps` is what to do in a sentence (for causes no portal page fixes: retry, check
    the proxy, pick the other URL); `portal` a portal path; `cli` an Azure CLI command;
    `powershell` a Microsoft Graph / Az PowerShell command. A cause's texts are templates:
    `{tenant}`, `{sam_user_id}`, `{client_id}`... are filled with what the run found
    (engine/remediation.py); a value the run did not find stays a visible `<placeholder>`.
    """

    portal: str = ""
    cli: str = ""
    powershell: str = ""
    steps: str = ""

    @property
    def empty(self) -> bool:
        return not (self.portal or self.cli or self.powershell or self.steps)


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

TRANSIENT_CAUSES = frozenset({"throttled", "service-unavailable", "network", "timeout"})

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
        "network", "The service could not be reached (DNS, TLS, proxy or connection failure).",
        Remediation(steps="The host named above could not be reached. " + _RETRY),
    ),
    Cause(
        "timeout", "The check did not finish within its time limit.",
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
class Evidence:
    """One observed fact: which setting, what was found, what was expected.

    `identifiers` lists kinds of identifiers present in the values ("tenant", "upn",
    "object-id") so a redacting renderer knows what to hide without parsing prose.
    """

    setting: str
    found: str
    expected: str = ""
    identifiers: tuple[str, ...] = ()


MessageKind = Literal["error", "hint", "info"]


@dataclass(frozen=True)
class Message:
    kind: MessageKind
    text: str
    url: str | None = None


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    status: Status
    summary: str
    cause: str | None = None
    messages: tuple[Message, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    # Machine facts for dependent checks and fix planners (e.g. resolved object ids).
    # Never rendered as text; never holds a secret.
    facts: Mapping[str, Any] = field(default_factory=dict)
    fix_available: bool = False
    duration_ms: float = 0.0
    ignored: bool = False  # a failure demoted to a warning by --ignore
    # The cause's remediation, filled with what this run found (set by the runner).
    remediation: Remediation | None = None

    def __post_init__(self) -> None:
        # A lone Message or Evidence passed where a tuple belongs would only fail later,
        # in a renderer; fail here, where the mistake is made.
        if not isinstance(self.messages, tuple) or not all(isinstance(m, Message) for m in self.messages):
            raise TypeError(f"{self.check_id}: messages must be a tuple of Message")
        if not isinstance(self.evidence, tuple) or not all(isinstance(e, Evidence) for e in self.evidence):
            raise TypeError(f"{self.check_id}: evidence must be a tuple of Evidence")


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


class Secret:
    """A secret value that cannot leak through str(), repr(), f-strings or logging."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)
