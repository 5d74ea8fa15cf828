"""The --json envelope: validates against its schema, pinned fields, and no secret ever in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from typing import Any

import jsonschema
import pytest

from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    Message,
    Remediation,
    Severity,
    Status,
)
from cipp_setup.render import json_report

CANARY = "canary-S3cr3t~value.Do-Not-Leak-0123456789"


def _schema() -> dict[str, Any]:
    text = resources.files("cipp_setup").joinpath("schemas/check-report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _validate(envelope: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(_schema()).validate(envelope)


SPEC = CheckSpec(
    id="api-token",
    title="A token for the CIPP API is issued to the API client",
    severity=Severity.CRITICAL,
    required=True,
    remediation=Remediation(portal="CIPP → Settings → Integrations → CIPP-API", cli="cipp-setup check -v"),
    docs="Asks the identity platform for a client-credentials token.",
    causes=(Cause("invalid-secret", "The secret is wrong."),),
)
RESULTS = (
    CheckResult(
        "api-token", Status.FAIL, "The identity platform refused the secret (AADSTS7000215).",
        cause="invalid-secret",
        evidence=(Evidence("client id", "22222222-2222-2222-2222-222222222222", "an app in the tenant"),),
        messages=(Message("hint", "Copy the secret's value, not its id.", "https://example.invalid/doc"),),
        facts={"token": "must-never-be-rendered"},
        duration_ms=12.345,
    ),
    CheckResult("api-list-logs", Status.SKIP, "Skipped: depends on api-token, which did not pass."),
)

ENVELOPE_FIELDS = {
    "schema_version", "tool", "command", "status", "exit_code", "tenant_id", "generation",
    "generation_evidence", "signed_in", "sam_user", "cloud", "checks", "error",
}
CHECK_FIELDS = {
    "id", "title", "status", "severity", "required", "summary", "cause", "ignored", "evidence",
    "messages", "remediation", "fix_available", "duration_ms", "needed",
}


def _envelope(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "command": "check", "exit_code": 1, "results": RESULTS, "specs": {"api-token": SPEC},
        "required": frozenset({"api-token"}), "tenant_id": "11111111-2222-3333-4444-555555555555",
        "generation": "legacy", "signed_in": "admin@contoso.onmicrosoft.com", "cloud": "public",
    }
    kwargs.update(overrides)
    return json_report.build_envelope(**kwargs)


def test_a_current_envelope_says_the_profile_and_what_depends_on_it() -> None:
    envelope = json.loads(json_report.dumps(_envelope(
        generation="current", profile=None, profile_evidence=["Nothing shows it."],
        profile_dependent=["sam-user-app-registration", "sam-app-graph-application-permissions"],
    )))
    _validate(envelope)
    assert set(envelope) == ENVELOPE_FIELDS | {"profile", "profile_evidence", "profile_dependent"}
    assert envelope["profile"] is None and envelope["profile_dependent"][0] == "sam-user-app-registration"
    decided = json.loads(json_report.dumps(_envelope(generation="current", profile="clients-by-user")))
    _validate(decided)
    assert decided["profile"] == "clients-by-user" and decided["profile_dependent"] == []


def test_envelope_validates_and_pins_its_fields() -> None:
    envelope = json.loads(json_report.dumps(_envelope()))
    _validate(envelope)
    assert set(envelope) == ENVELOPE_FIELDS
    # 1.1 added generation_evidence; 1.2 the current profile (issue 11: three CIPP profiles),
    # present only when a run considered one, so a legacy envelope keeps its fields.
    # 1.3 the status not-needed, each check's `needed`, `sam_user` (issue 11: the lifecycle).
    assert envelope["schema_version"] == "1.3"
    assert envelope["generation_evidence"] == []
    assert envelope["command"] == "check"
    assert envelope["status"] == "failed" and envelope["exit_code"] == 1
    assert envelope["signed_in"] == "admin@contoso.onmicrosoft.com"
    first, second = envelope["checks"]
    assert set(first) == CHECK_FIELDS
    assert first == {
        "id": "api-token",
        "title": SPEC.title,
        "status": "fail",
        "severity": "critical",
        "required": True,
        "summary": "The identity platform refused the secret (AADSTS7000215).",
        "cause": "invalid-secret",
        "ignored": False,
        "evidence": [{"setting": "client id", "found": "22222222-2222-2222-2222-222222222222",
                      "expected": "an app in the tenant"}],
        "messages": [{"kind": "hint", "text": "Copy the secret's value, not its id.",
                      "url": "https://example.invalid/doc"}],
        "remediation": {"portal": SPEC.remediation.portal, "cli": SPEC.remediation.cli, "powershell": "", "steps": ""},
        "fix_available": False,
        "duration_ms": 12.3,
        "needed": "permanently",
    }
    # A check without a known spec still renders, with its own id as the title.
    assert second["status"] == "skip" and second["remediation"] is None and second["required"] is False
    assert "must-never-be-rendered" not in json_report.dumps(envelope)  # facts stay internal


def test_passed_and_error_envelopes_validate() -> None:
    _validate(_envelope(exit_code=0, results=(CheckResult("api-token", Status.PASS, "ok"),)))
    error = _envelope(exit_code=4, results=(), signed_in=None,
                      error=json_report.RunError("sign-in-required", "sign-in required"))
    _validate(error)
    assert error["status"] == "error" and error["error"]["code"] == "sign-in-required"


def test_schema_rejects_broken_envelopes() -> None:
    envelope = _envelope()
    for broken in (
        {**envelope, "status": "ok"},
        {**envelope, "exit_code": 0},  # "failed" must carry exit code 1
        {**envelope, "checks": [{**envelope["checks"][0], "cause": None}]},  # a fail needs a cause
        {**envelope, "checks": [{**envelope["checks"][0], "token": "x"}]},  # no surprise fields
    ):
        with pytest.raises(jsonschema.ValidationError):
            _validate(broken)


def test_known_secrets_are_scrubbed_from_every_string() -> None:
    leaky = CheckResult("api-token", Status.FAIL, f"secret {CANARY} was refused", cause="invalid-secret",
                        evidence=(Evidence("secret", CANARY),))
    text = json_report.dumps(_envelope(results=(leaky,), secrets=[CANARY]))
    assert CANARY not in text
    assert json_report.REDACTED in text


# --- end to end, against the sandbox -------------------------------------------------------




def _cli(*argv: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "cipp_setup", *argv], check=False, capture_output=True, text=True,
                          env=environ, input=stdin, timeout=180)


@pytest.mark.parametrize("via", ["env", "stdin"])
def test_canary_secret_never_appears_in_any_output(via: str) -> None:
    argv = ["check", "--sandbox", "legacy-ready", "--json", "-v"]
    if via == "env":
        done = _cli(*argv, env={"CIPP_API_CLIENT_SECRET": CANARY})
    else:
        done = _cli(*argv, "--client-secret-stdin", stdin=CANARY + "\n")
    assert done.returncode in (0, 1), done.stderr
    assert CANARY not in done.stdout
    assert CANARY not in done.stderr
    envelope = json.loads(done.stdout)
    _validate(envelope)
    # The canary is the wrong secret for the scenario's API client: the token check says so.
    token = next(c for c in envelope["checks"] if c["id"] == "api-token")
    assert token["status"] == "fail" and token["cause"] == "invalid-secret"


def test_sandbox_run_envelope_validates() -> None:
    done = _cli("check", "--sandbox", "legacy-ready", "--json")
    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    _validate(envelope)
    assert envelope["status"] == "passed" and envelope["generation"] == "legacy"
    assert envelope["signed_in"] and envelope["tenant_id"]
    # --sandbox used the scenario's own API client secret: it must appear nowhere.
    from cipp_setup.sandbox.scenario import load_scenario

    scenario_secret = load_scenario("legacy-ready").identities.api_client_secret
    assert scenario_secret and next(c for c in envelope["checks"] if c["id"] == "api-token")["status"] == "pass"
    assert scenario_secret not in done.stdout and scenario_secret not in done.stderr
