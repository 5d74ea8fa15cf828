"""The versioned JSON envelope every command's `--json` writes (schema: schemas/check-report.schema.json).

One result object feeds every report (Maester, pipx): this module only reshapes engine
results. Secrets never reach it by design (CheckResult and Evidence hold none, `facts`
are never rendered); as a second line of defence, every string value is scrubbed of the
run's known secret values before it is serialised.

Contract (schema_version 1): consumers must ignore fields they do not know; fields are
only ever added in a minor change, never renamed or retyped without a new major version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cipp_setup import __version__
from cipp_setup.engine.model import CheckResult, CheckSpec

SCHEMA_VERSION = "1.3"  # 1.1: generation_evidence; 1.2: profile, profile_evidence, profile_dependent;
# 1.3: status not-needed, each check's needed, sam_user
REDACTED = "********"

# status of the whole run, tied to the exit code
RUN_PASSED = "passed"  # exit 0: every required check passed (warnings allowed)
RUN_FAILED = "failed"  # exit 1: a required check failed or errored
RUN_ERROR = "error"  # exit 2/3/4/130: the run could not complete; see "error"


@dataclass(frozen=True)
class RunError:
    """Why a run produced no (or partial) results: usage, sign-in, internal, interrupted."""

    code: str  # usage-error | sign-in-required | sign-in-failed | internal-error | interrupted
    message: str


def _check_entry(result: CheckResult, spec: CheckSpec | None, required: bool) -> dict[str, Any]:
    return {
        "id": result.check_id,
        "title": spec.title if spec else result.check_id,
        "status": result.status.value,
        "severity": spec.severity.value if spec else "info",
        "required": required,
        "summary": result.summary,
        "cause": result.cause,
        "ignored": result.ignored,
        "evidence": [
            {"setting": e.setting, "found": e.found, "expected": e.expected} for e in result.evidence
        ],
        "messages": [
            {"kind": m.kind, "text": m.text, "url": m.url} for m in result.messages
        ],
        "remediation": _remediation(result, spec),
        "fix_available": result.fix_available,
        "duration_ms": round(result.duration_ms, 1),
        "needed": result.needed or (spec.lifecycle.needed if spec else "permanently"),
    }


def _remediation(result: CheckResult, spec: CheckSpec | None) -> dict[str, str] | None:
    from cipp_setup.render.text import result_remediation

    if not (result.status.is_problem or result.cause):
        return None
    r = result_remediation(result, spec)
    if r is None:
        return None
    return {"portal": r.portal, "cli": r.cli, "powershell": r.powershell, "steps": r.steps}


def sam_user_entry(results: Sequence[CheckResult], signed_in: str | None = None) -> dict[str, Any] | None:
    """Which CIPP-SAM user the checks tested, and why (the first result that says so)."""
    for result in results:
        upn = result.facts.get("sam_user_upn")
        if upn:
            return {
                "upn": str(upn),
                "object_id": str(result.facts.get("sam_user_id") or ""),
                "found_by": str(result.facts.get("sam_user_found_by") or ""),
                "signed_in_admin": bool(result.facts.get("sam_user_is_admin"))
                or bool(signed_in and str(upn).lower() == signed_in.lower()),
            }
    return None


def _scrub(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return value


def build_envelope(
    *,
    command: str,
    exit_code: int,
    results: Sequence[CheckResult] = (),
    specs: Mapping[str, CheckSpec] | None = None,
    required: frozenset[str] = frozenset(),
    tenant_id: str | None = None,
    generation: str | None = None,
    generation_evidence: Sequence[str] = (),
    profile: str | None = None,
    profile_evidence: Sequence[str] = (),
    profile_dependent: Sequence[str] = (),
    signed_in: str | None = None,
    cloud: str | None = None,
    error: RunError | None = None,
    secrets: Iterable[str] = (),
    sam_user: Mapping[str, Any] | None | str = "from-results",
) -> dict[str, Any]:
    """The envelope as a dict (validated by tests against the JSON Schema). `sam_user`:
    who the checks tested (`sam_user_entry`); by default read from the results."""
    specs = specs or {}
    if error is not None:
        status = RUN_ERROR
    else:
        status = RUN_PASSED if exit_code == 0 else RUN_FAILED
    envelope: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "cipp-setup", "version": __version__},
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "tenant_id": tenant_id,
        "generation": generation,
        "generation_evidence": list(generation_evidence),
        "signed_in": signed_in,
        "sam_user": sam_user_entry(results, signed_in) if isinstance(sam_user, str) else (
            dict(sam_user) if sam_user is not None else None),
        "cloud": cloud,
        "checks": [
            _check_entry(r, specs.get(r.check_id), r.check_id in required) for r in results
        ],
        "error": {"code": error.code, "message": error.message} if error else None,
    }
    if profile is not None or profile_evidence or profile_dependent:
        # Current generation: who writes the API clients (clients-by-user 7.2-7.3,
        # clients-by-app 7.4+), why, and the checks that depend on it while it is unknown.
        envelope["profile"] = profile
        envelope["profile_evidence"] = list(profile_evidence)
        envelope["profile_dependent"] = list(profile_dependent)
    return _scrub(envelope, [s for s in secrets if s])  # type: ignore[no-any-return]


def dumps(envelope: Mapping[str, Any]) -> str:
    return json.dumps(envelope, indent=2, ensure_ascii=False) + "\n"
