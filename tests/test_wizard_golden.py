"""Golden wizard screens at 80×24 and 120×40, in a real pseudo-terminal of that size.

The demo (the wizard on the sandbox tenant `legacy-fresh`, every question answered as
Enter would) is run in a pty of each size; what the screen shows is compared with
tests/golden/wizard-WxH.txt after the values that change between runs (ports, random
client ids, timings, temporary paths) are replaced by fixed words. Text wraps at spaces
to the width (never mid-word), and each fix's question stays on one 24-row screen with
its plan. `UPDATE_GOLDEN=1` rewrites the files; review the diff.
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

GOLDEN = Path(__file__).parent / "golden"
_VOLATILE = (
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "GUID"),
    (re.compile(r"\b\d+ ms\b"), "N ms"),
    # How many log entries the sandbox's CIPP holds when ListLogs is called depends on
    # timing (1 or 2 seen across runs); that it answers is what the screen shows.
    (re.compile(r"answered \d+ entr(?:y|ies)"), "answered N entries"),
    (re.compile(r"/tmp/\S*?cipp-setup-sandbox-[A-Za-z0-9_]+"), "TMP"),
    (re.compile(r"enter the code \w+"), "enter the code CODE"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z?"), "TIME"),
)


def _screen(rows: int, columns: int, tmp_path: Path) -> str:
    env = {**os.environ, "CIPP_SETUP_STATE_DIR": str(tmp_path / "state"), "PROMPT_TOOLKIT_NO_CPR": "1",
           "NO_COLOR": "1", "TERM": "xterm", "TMPDIR": "/tmp"}
    for name in ("CI", "GITHUB_ACTIONS", "COLUMNS", "LINES", "CIPP_API_CLIENT_SECRET"):
        env.pop(name, None)
    child = pexpect.spawn(sys.executable, ["-m", "cipp_setup", "demo", "--yes"], env=env, encoding="utf-8",
                          timeout=240, dimensions=(rows, columns), cwd=str(tmp_path))
    seen = io.StringIO()
    child.logfile_read = seen
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, seen.getvalue()
    text = seen.getvalue().replace("\r\n", "\n").replace("\r", "")
    for pattern, word in _VOLATILE:
        text = pattern.sub(word, text)
    return _replication_waits_removed(_completion_order_removed(text))


def _replication_waits_removed(text: str) -> str:
    """How many times a fix is verified before replication catches up depends on how fast
    this machine is against the sandbox's lag: the waiting lines and the try count vary
    from run to run, the rest of the screen does not."""
    text = re.sub(r"(?m)^waiting for [^\n]*? to replicate… \d+/\d+\n", "", text)
    return re.sub(r" \(after \d+ tries\)", "", text)


def _completion_order_removed(text: str) -> str:
    """Checks run concurrently and are shown as they finish: sort each run of result
    blocks (a `[✓]`/`[✗]` line and the indented lines under it) by its text."""
    out: list[str] = []
    blocks: list[list[str]] = []
    for line in text.split("\n"):
        if re.match(r"\[[✓✗!E+x-]\] ", line):
            blocks.append([line])
        elif blocks and line.startswith("    ") and not re.match(r"\s*\[", line):
            blocks[-1].append(line)
        else:
            out += [ln for block in sorted(blocks) for ln in block]
            blocks = []
            out.append(line)
    out += [ln for block in sorted(blocks) for ln in block]
    return "\n".join(out)


@pytest.mark.parametrize(("rows", "columns"), [(24, 80), (40, 120)])
def test_the_wizard_screens_match_golden(rows: int, columns: int, tmp_path: Path) -> None:
    screen = _screen(rows, columns, tmp_path)
    path = GOLDEN / f"wizard-{columns}x{rows}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(screen, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 once and review it"
    assert screen == _replication_waits_removed(path.read_text(encoding="utf-8"))


def test_at_80_columns_text_wraps_at_spaces_and_each_plan_fits_a_24_row_screen(tmp_path: Path) -> None:
    screen = _screen(24, 80, tmp_path)
    lines = screen.splitlines()
    commands = [line for line in lines if "cipp-setup " in line and len(line) > 80]
    # Only a command is ever longer than the width: the terminal soft-wraps it, whole.
    assert all(len(line) <= 80 for line in lines if line not in commands), [l for l in lines if len(l) > 80 and l not in commands]
    prose = " ".join(line.strip() for line in lines)
    for word in ("Administrator", "subscription", "prerequisites", "consent"):
        assert word in prose  # words arrive whole, not cut at the margin
    # Each fix: from its heading to its outcome, one screen.
    starts = [i for i, line in enumerate(lines) if re.match(r"Fix \d/\d ", line)]
    assert starts, screen
    for start in starts:
        end = next(i for i in range(start + 1, len(lines)) if "applied:" in lines[i] or "verified:" in lines[i])
        assert end - start < 24, "\n".join(lines[start:end + 1])
