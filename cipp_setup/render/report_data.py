"""The one object every report file is rendered from (Maester's rule: one result object
feeds every report).

`ReportData` gathers what a run produced — the check results in catalogue order, the
specs that explain them, the changes a fix or the wizard made, and the run's metadata —
without any presentation. `report.json`, `report.md`, `report.html` and `junit.xml` are
all rendered from the same (already redacted) instance, so they can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cipp_setup.engine.model import COMMON_CAUSES, CheckResult, CheckSpec, Status
from cipp_setup.render import json_report


@dataclass(frozen=True)
class ReportData:
    command: str  # check | fix | wizard
    exit_code: int
    results: tuple[CheckResult, ...] = ()  # catalogue order
    specs: Mapping[str, CheckSpec] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    tenant_id: str | None = None
    generation: str | None = None
    generation_evidence: tuple[str, ...] = ()  # why this generation (given, or what auto found)
    signed_in: str | None = None
    cloud: str | None = None
    error: json_report.RunError | None = None
    # fix / wizard: what was changed, as `render.plans.change_entries` shapes it.
    changes: tuple[Mapping[str, Any], ...] | None = None
    journal: str | None = None
    generated_at: str = ""  # ISO 8601, UTC; tests pin it for golden files
    # How reports offer automatic fixes ("cipp-setup fix"), None when no fix command exists.
    fix_command: str | None = "cipp-setup fix"
    # Checks cipp-setup has an automatic fix for (the engine's planners), beside any
    # result's own `fix_available`.
    notes: tuple[str, ...] = ()  # run-level remarks, e.g. why the wizard stopped
    # The command line that produced the report (secrets never travel on argv).
    command_line: str = ""
    # The command that gives the temporary rights back, with the run's options.
    revert_command: str = "cipp-setup revert"
    ids_redacted: bool = False  # set by the redactor under --redact-ids
    # Which CIPP-SAM user the checks tested and why (json_report.sam_user_entry); read
    # from the results' facts here, before redaction drops the facts.
    sam_user: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.sam_user is None:
            object.__setattr__(self, "sam_user", json_report.sam_user_entry(self.results, self.signed_in))

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed_required

    @property
    def failed_required(self) -> list[CheckResult]:
        return [r for r in self.results if r.check_id in self.required and r.status.is_problem]

    def spec(self, check_id: str) -> CheckSpec | None:
        return self.specs.get(check_id)


def fix_for(data: ReportData, result: CheckResult) -> str | None:
    """`cipp-setup fix --only ID` for a failure cipp-setup can fix, else None."""
    if data.fix_command is None or result.status is not Status.FAIL or result.ignored:
        return None
    if not result.fix_available:
        return None
    return f"{data.fix_command} --only {result.check_id}"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def run_status(data: ReportData) -> str:
    """The envelope's run status word: passed / failed / error."""
    if data.error is not None:
        return json_report.RUN_ERROR
    return json_report.RUN_PASSED if data.exit_code == 0 else json_report.RUN_FAILED


def cause_meaning(spec: CheckSpec | None, code: str | None) -> str:
    if not code:
        return ""
    if spec is not None:
        try:
            return spec.cause(code).meaning
        except KeyError:
            pass
    return next((c.meaning for c in COMMON_CAUSES if c.code == code), "")


# How the reports count results, in order (the terminal's closing line uses the same words).
COUNT_WORDS: tuple[tuple[Status, str], ...] = (
    (Status.PASS, "passed"), (Status.WARN, "warned"), (Status.FAIL, "failed"),
    (Status.ERROR, "could not run"), (Status.SKIP, "skipped"), (Status.NOT_NEEDED, "not needed any more"),
)


def count_phrase(results: Sequence[CheckResult]) -> str:
    counts = status_counts(results)
    return ", ".join(f"{counts[s]} {w}" for s, w in COUNT_WORDS if counts[s]) or "no checks ran"


def status_counts(results: Sequence[CheckResult]) -> dict[Status, int]:
    counts = {status: 0 for status in Status}
    for result in results:
        counts[result.status] += 1
    return counts


def verdict(data: ReportData) -> str:
    """One sentence on the whole run, the same words as the terminal's closing line."""
    if data.error is not None:
        return f"The run did not complete: {data.error.message}"
    failed = data.failed_required
    if failed:
        noun = "check" if len(failed) == 1 else "checks"
        return f"{len(failed)} required {noun} did not pass."
    if not data.results:
        return "No checks ran."
    after = (" or is not needed any more (the API answers)"
             if any(r.status is Status.NOT_NEEDED for r in data.results) else "")
    if any(r.status is Status.WARN for r in data.results):
        return f"Every required check passed{after} (with warnings)."
    return f"Every required check passed{after}."


def envelope(data: ReportData) -> dict[str, Any]:
    """report.json: the same versioned envelope `--json` prints (fix's `changes` and
    `journal` before `checks`, as `cipp-setup fix --json` orders them)."""
    # Only passed when there is some, so this module works with envelopes before 1.1.
    evidence: dict[str, Any] = (
        {"generation_evidence": data.generation_evidence} if data.generation_evidence else {}
    )
    built = json_report.build_envelope(
        command=data.command, exit_code=data.exit_code, results=data.results, specs=data.specs,
        required=data.required, tenant_id=data.tenant_id, generation=data.generation,
        signed_in=data.signed_in, cloud=data.cloud, error=data.error, sam_user=data.sam_user, **evidence,
    )
    if data.command_line:
        built["command_line"] = data.command_line
    if data.changes is None:
        return built
    ordered: dict[str, Any] = {}
    for key, value in built.items():
        if key == "checks":
            ordered["changes"] = [dict(c) for c in data.changes]
            if data.journal:
                ordered["journal"] = data.journal
        ordered[key] = value
    return ordered
