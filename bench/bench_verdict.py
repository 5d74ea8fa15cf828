"""Time to verdict: a full legacy `cipp-setup check` (console script, a new process each
run, as a user runs it) with a saved sign-in, against `cipp-setup sandbox serve
--latency-ms 50` running in its own process.

Floor: what no implementation can beat — the interpreter's start (`python -c pass`, timed
interleaved with the runs) plus the round trips that must happen one after another, each
costing at least the added latency. They are counted on each run's request log (the log
omits queries and bodies) by what each request needs before it can be sent:

  level 1  identity platform discovery (openid-configuration): needs nothing
  level 2  a token request: needs the discovery document (its token endpoint)
  level +1 a Graph, ARM or CIPP request with only the run's inputs in it (the user by UPN,
           apps and service principals by appId, the subscription by id, ListLogs):
           needs whatever identity-platform request of the run came before it
  level +1 a request built from an answer (directory role assignments and eligibilities
           by the user's object id, consent grants by the service principal's id, ARM role
           assignments by the user's object id): needs a request of the previous kind

The depth is the highest level in the log. Requests that are independent but happened to
run one after another (a client that started late) do not deepen it, so a slow client
cannot raise its own floor.

Also reported: the run's peak resident set (the check process, from wait4's rusage).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, child_env, table
from _common import cli_path as _cli_path

LATENCY_MS = 50


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in child_env().items()
           if k not in ("CI", "GITHUB_ACTIONS", "NO_COLOR", "FORCE_COLOR", "PYTHONPATH")}
    env.update({"HOME": str(home / "home"), "CIPP_SETUP_STATE_DIR": str(home / "state"),
                "CIPP_SETUP_CONFIG_DIR": str(home / "config"),
                "CIPP_SETUP_ALLOW_UNENCRYPTED_TOKEN_CACHE": "1"})
    return env


def _serve(ready: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [_cli_path(), "sandbox", "serve", "--scenario", "legacy-ready", "--latency-ms", str(LATENCY_MS),
         "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the sandbox did not start")
        time.sleep(0.1)
    time.sleep(0.2)  # the file is written whole (a rename); give the servers a moment
    return server


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Wall seconds, exit code, peak RSS (MiB) of one child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, child.returncode, usage.ru_maxrss / 1024


# Requests whose URL carries an id learned from an earlier answer (see the module doc).
_FROM_AN_ANSWER = re.compile(
    r"^/v1\.0/(roleManagement/directory/(roleAssignments|roleEligibilitySchedule)|oauth2PermissionGrants)"
    r"|/providers/Microsoft\.Authorization/roleAssignments"
)


def dependent_round_trips(log: list[Any]) -> int:
    """The depth of the run's request dependencies, by the rules of the module doc."""
    idp_level = 0
    first_level = 0
    deepest = 0
    for record in sorted(log, key=lambda r: r.at):
        if record.service == "idp":
            level = 2 if record.path.endswith("/token") else 1
            idp_level = max(idp_level, level)
        elif _FROM_AN_ANSWER.search(record.path):
            level = max(first_level, idp_level + 1) + 1
        else:
            level = idp_level + 1
            first_level = max(first_level, level)
        deepest = max(deepest, level)
    return deepest


def main(runs: int = 7, before: str | None = None, python: str | None = None) -> str:
    """`before`: a folder holding another version's `cipp_setup` package (for example
    `git archive REV cipp_setup | tar -x -C DIR`), run interleaved with this one.
    `python`: the interpreter of the install to measure (default: this one's venv)."""
    interpreter = python or PYTHON
    cli = _cli_path(interpreter)

    from cipp_setup.sandbox.control import RemoteControl

    variants: dict[str, dict[str, str]] = {"this version": {}}
    if before:
        variants = {"before": {"PYTHONPATH": before}, "after": {}}
    with tempfile.TemporaryDirectory(prefix="cipp-bench-verdict-") as folder:
        home = Path(folder)
        env = _env(home)
        ready = home / "ready.json"
        server = _serve(ready, env)
        try:
            document = json.loads(ready.read_text(encoding="utf-8"))
            ids = document["identities"]
            login = subprocess.run(
                [cli, "login", "--cloud", str(ready), "--tenant", ids["tenant_id"], "--auth", "device-code"],
                capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False,
            )
            if login.returncode != 0:
                raise SystemExit(f"login failed: {login.stderr[-500:]}")
            check = [cli, "check", "--cloud", str(ready), "--tenant", ids["tenant_id"],
                     "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
                     "--subscription", ids["subscription_id"], "--api-url", ids["api_url"],
                     "--api-client-id", ids["api_client_id"], "--generation", "legacy",
                     "--non-interactive"]
            check_env = dict(env, CIPP_API_CLIENT_SECRET=ids["api_client_secret"])
            bases: list[float] = []
            samples: dict[str, dict[str, list[float]]] = {
                name: {"wall": [], "depth": [], "requests": [], "rss": []} for name in variants}
            with RemoteControl(document) as control:
                for extra in variants.values():
                    _timed(check, dict(check_env, **extra))  # warm-up, not counted
                for _ in range(runs):
                    bases.append(_timed([interpreter, "-c", "pass"], env)[0])
                    for name, extra in variants.items():
                        control.clear_request_log()
                        wall, code, peak = _timed(check, dict(check_env, **extra))
                        if code != 0:
                            raise SystemExit(f"{name}: the check did not pass (exit {code})")
                        log = control.request_log()
                        for key, value in (("wall", wall), ("depth", dependent_round_trips(log)),
                                           ("requests", len(log)), ("rss", peak)):
                            samples[name][key].append(value)
        finally:
            server.terminate()
            server.wait(timeout=30)
    base = statistics.median(bases)
    rows = []
    for name, s in samples.items():
        wall, depth = statistics.median(s["wall"]), statistics.median(s["depth"])
        floor = base + depth * LATENCY_MS / 1000
        rows.append((name, f"{wall * 1000:.0f} ms", f"{base * 1000:.0f} ms", f"{depth:g}",
                     f"{statistics.median(s['requests']):g}", f"{floor * 1000:.0f} ms", f"{wall / floor:.2f}x",
                     f"{max(s['rss']):.0f} MiB"))
    return (
        f"### Time to verdict: full legacy check, saved sign-in, served sandbox +{LATENCY_MS} ms/request"
        f" (medians of {runs}, interleaved)\n\n"
        + table(["version", "wall time", "python -c pass", "dependent round trips (log)", "requests",
                 "floor", "wall / floor", "peak RSS"], rows)
    )


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7, sys.argv[2] if len(sys.argv) > 2 else None))
