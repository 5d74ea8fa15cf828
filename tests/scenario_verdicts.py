"""The verdicts a built-in scenario documents in its own comment header: the lines
`#   <check-id>  <status>  [<cause>]` and `# Exit code: N`. Tests compare against these
instead of restating them, so the scenario file stays the one place that says what a
tenant in that state should get (tests/test_lifecycle_scenarios.py proves each header
against `check --json`)."""

from __future__ import annotations

import re
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[1] / "cipp_setup" / "sandbox" / "scenarios"

_VERDICT = re.compile(r"^#\s+([a-z0-9]+(?:-[a-z0-9]+)+)\s+(pass|warn|fail|skip|error|not-needed)(?:\s+([a-z0-9-]+))?")
_EXIT = re.compile(r"^# Exit code: (\d+)")


def documented(name: str) -> tuple[dict[str, tuple[str, str | None]], int]:
    """(check id -> (status, cause)) and the exit code that `name`.yaml documents."""
    verdicts: dict[str, tuple[str, str | None]] = {}
    exit_code = -1
    for line in (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if (m := _VERDICT.match(line)) is not None:
            verdicts[m.group(1)] = (m.group(2), m.group(3))
        elif (e := _EXIT.match(line)) is not None:
            exit_code = int(e.group(1))
    assert verdicts and exit_code >= 0, f"{name}.yaml documents no verdicts or exit code"
    return verdicts, exit_code


def documented_statuses(name: str) -> dict[str, str]:
    """check id -> status only (for tests that look at statuses, not causes)."""
    return {check_id: status for check_id, (status, _cause) in documented(name)[0].items()}
