"""A 401 on a cached token is a stale sign-in, never the admin's Azure role (issue 14).

Seen: a saved sign-in against one served sandbox handed ARM a cached token from an
earlier sandbox with the same tenant id; ARM answered 401 InvalidAuthenticationToken and
the check blamed the admin's role (`permission-denied`). Reproduced here as it happened:
`login` against sandbox A, then A stops and sandbox B (same scenario, so the same tenant
id, and the same ports, so the same authority and token scopes) starts with its own
signing key. The commands run as processes, like the user's.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli.terminal import CI_VARIABLES
from cipp_setup.gateways import signin_cache
from cipp_setup.sandbox import scenario
from cipp_setup.sandbox.runtime import Sandbox

LOGIN_OPT_IN = [] if signin_cache.encryption_available() else ["--allow-unencrypted-token-cache"]
CHECKS = ["sam-user-global-admin", "sam-user-subscription-contributor"]


def _start_on_free_ports() -> tuple[Sandbox, int]:
    for _ in range(20):
        base = random.randrange(20000, 60000, 8)
        try:
            return Sandbox(scenario.load_scenario("legacy-ready"), port=base).start(), base
        except OSError:
            continue
    pytest.skip("no six free consecutive ports")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = dict(os.environ)
    for name in (*CI_VARIABLES, "CIPP_API_CLIENT_SECRET", signin_cache.UNENCRYPTED_ENV):
        values.pop(name, None)
    values.update({"HOME": str(tmp_path / "home"), "CIPP_SETUP_STATE_DIR": str(tmp_path / "state"),
                   "CIPP_SETUP_CONFIG_DIR": str(tmp_path / "config")})
    return values


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cipp_setup", *argv], check=False, capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL, timeout=240)


def _check(env: dict[str, str], ready: Path, ids: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli(env, "check", "--cloud", str(ready), "--tenant", ids["tenant_id"],
                "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
                "--subscription", ids["subscription_id"], "--generation", "legacy",
                "--auth", "device-code", "--json", "--only", *CHECKS, *extra)


@pytest.fixture
def signed_in_to_an_earlier_sandbox(env: dict[str, str], tmp_path: Path) -> Any:
    """`login` against sandbox A; then A is gone and B answers on the same ports."""
    first, base = _start_on_free_ports()
    try:
        ids = first.identities_document()
        ready = first.write_ready_file(tmp_path / "ready-a.json")
        login = _cli(env, "login", "--cloud", str(ready), "--tenant", ids["tenant_id"],
                     "--auth", "device-code", *LOGIN_OPT_IN)
        assert login.returncode == 0, login.stdout + login.stderr
        # The saved sign-in works against A: ARM accepts its cached token.
        before = _check(env, ready, ids, "--non-interactive")
        assert before.returncode == 0, before.stdout + before.stderr
    finally:
        first.stop()
    second = Sandbox(scenario.load_scenario("legacy-ready"), port=base).start()
    try:
        assert second.identities_document()["tenant_id"] == ids["tenant_id"]
        yield second, second.write_ready_file(tmp_path / "ready-b.json"), ids
    finally:
        second.stop()


def _results(run: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, str | None]]:
    report = json.loads(run.stdout)
    return {r["id"]: (r["status"], r.get("cause")) for r in report["checks"]}


def test_a_refused_cached_token_is_sign_in_again_never_a_missing_role(
    signed_in_to_an_earlier_sandbox: Any, env: dict[str, str],
) -> None:
    sandbox, ready, ids = signed_in_to_an_earlier_sandbox
    run = _check(env, ready, ids, "--non-interactive")
    text = run.stdout + run.stderr
    assert "Traceback" not in text and "permission-denied" not in text, text
    # The earlier sandbox's token was offered and refused: the service said so.
    statuses = [r.status for r in sandbox.control.request_log() if r.service in ("graph", "arm")]
    assert 401 in statuses, statuses
    results = _results(run)
    assert results and all(cause == "sign-in-expired" for _, cause in results.values()), (results, run.stdout)
    assert "Sign in again" in text
    # A fresh token was asked for (msal tries the family and the app refresh token), not in a loop.
    token_requests = [r for r in sandbox.control.request_log() if r.service == "idp" and r.path.endswith("/token")]
    assert 1 <= len(token_requests) <= 4, [r.path for r in token_requests]


def test_a_refused_cached_token_is_replaced_by_a_fresh_sign_in_when_the_run_may_ask(
    signed_in_to_an_earlier_sandbox: Any, env: dict[str, str],
) -> None:
    sandbox, ready, ids = signed_in_to_an_earlier_sandbox
    run = _check(env, ready, ids)  # interactive: the sandbox approves its own device codes
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(status == "pass" for status, _ in _results(run).values()), run.stdout
    statuses = [r.status for r in sandbox.control.request_log() if r.service in ("graph", "arm")]
    assert 401 in statuses  # the stale token was offered first, then a fresh one worked
