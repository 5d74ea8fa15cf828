"""The engine's plain values: what a check found, how to put it right by hand, and a
secret that cannot leak.

The leaf of the engine's vocabulary: it imports nothing of the package, so the check
context, plans and the check model can all build on it without importing each other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Generation = Literal["legacy", "current"]
ALL_GENERATIONS: frozenset[Generation] = frozenset({"legacy", "current"})

# Who writes the API's app registrations, which decides what the tenant must provide:
# legacy (CIPP 7.1 and older: the CIPP-SAM user activates one CIPP-API app), clients-by-user
# (7.2.x-7.3.x: API clients, still created with the CIPP-SAM user's delegated token),
# clients-by-app (7.4.0 and later: created by the CIPP-SAM app itself, app-only).
Profile = Literal["legacy", "clients-by-user", "clients-by-app"]
ALL_PROFILES: frozenset[Profile] = frozenset({"legacy", "clients-by-user", "clients-by-app"})
CURRENT_PROFILES: frozenset[Profile] = frozenset({"clients-by-user", "clients-by-app"})
PROFILE_LABELS: dict[str, str] = {
    "legacy": "CIPP 7.1 and older (legacy: the CIPP-SAM user activates the CIPP-API app)",
    "clients-by-user": "CIPP 7.2-7.3 (API clients written by the CIPP-SAM user)",
    "clients-by-app": "CIPP 7.4 and later (API clients written by the CIPP-SAM app)",
}


def version_numbers(text: str) -> tuple[int, int, int] | None:
    """'7.3.1', 'v7.4', '10.8.2-beta' → (major, minor, patch); None when it is not a version."""
    import re

    match = re.match(r"^\s*v?(\d{1,3})(?:\.(\d{1,3}))?(?:\.(\d{1,4}))?(?:[-+.][0-9A-Za-z.-]*)?\s*$", text or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 0), int(match.group(3) or 0)


def profile_of_version(numbers: tuple[int, int, int]) -> Profile:
    """The profile a CIPP(-API) version belongs to (facts from CIPP-API's tags 7.1.3-7.4.0)."""
    if numbers < (7, 2, 0):
        return "legacy"
    if numbers < (7, 4, 0):
        return "clients-by-user"
    return "clients-by-app"


def generation_of_profile(profile: Profile) -> Generation:
    return "legacy" if profile == "legacy" else "current"


class Status(str, enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    # An activation-time prerequisite once the API answers: what it checks was needed only
    # while the API was being activated, so its absence is no problem (engine/lifecycle.py).
    NOT_NEEDED = "not-needed"

    @property
    def is_problem(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


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
    # When CIPP needs what the check verifies: "permanently" or "during-activation"
    # (stamped by engine/lifecycle.py from the check's declaration for this run); None:
    # not stamped, the spec's declaration holds.
    needed: str | None = None

    def __post_init__(self) -> None:
        # A lone Message or Evidence passed where a tuple belongs would only fail later,
        # in a renderer; fail here, where the mistake is made.
        if not isinstance(self.messages, tuple) or not all(isinstance(m, Message) for m in self.messages):
            raise TypeError(f"{self.check_id}: messages must be a tuple of Message")
        if not isinstance(self.evidence, tuple) or not all(isinstance(e, Evidence) for e in self.evidence):
            raise TypeError(f"{self.check_id}: evidence must be a tuple of Evidence")


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


# Causes a later attempt may not see: never answered with a change to the tenant.
TRANSIENT_CAUSES = frozenset({"throttled", "service-unavailable", "network", "timeout"})


class ServiceFailure(Exception):
    """Raised by gateways when a service could not answer; carries an engine cause code.

    Gateways subclass or raise this so the runner can turn it into an `error` result
    with `throttled`, `service-unavailable`, `network` or `permission-denied`.
    """

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message

    @property
    def transient(self) -> bool:
        """A later attempt may not see it: throttling, an outage, no answer in time."""
        return self.cause in TRANSIENT_CAUSES
