"""`cipp-setup demo` in a real pseudo-terminal: press Enter at every question.

The real entry point, the real questionary prompts on a real TTY (colour, spinner and
all), the in-process sandbox behind it. Each question must appear on the screen (a
prompt hidden under a spinner would never match), and Enter must lead forward until the
API is verified. On a terminal the demo pastes the API's details into the prompts itself,
as a person would, the secret's ID once by mistake: the wizard catches it, and the value
pasted next is taken.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

MAIN = Path(__file__).resolve().parents[1]
QUESTIONS = (
    "How is your CIPP hosted?",
    r"Your partner tenant \(tenant id or domain\):",
    "Which CIPP do you run?",  # legacy-fresh shows no sign of either generation: asked
    "Which user is the CIPP-SAM user?",
    "Which application is CIPP-SAM?",
    "Which subscription hosts CIPP's Function App?",
    r"Apply fix 1/3 \(sam-user-global-admin\)\?",
    r"Apply fix 2/3 \(sam-app-azure-management-consent\)\?",
    r"Apply fix 3/3 \(sam-user-subscription-contributor\)\?",
    "Remove these temporary rights now?",
)


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect.spawn needs a POSIX pseudo-terminal")
def test_demo_in_a_pty_pressing_enter_at_every_prompt(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "NO_COLOR")}
    env.update({
        "PROMPT_TOOLKIT_NO_CPR": "1",  # or every prompt waits ~1 s for a cursor-position reply
        "TERM": "xterm-256color",
        "TMPDIR": str(tmp_path),
        "CIPP_SETUP_STATE_DIR": str(tmp_path / "state"),
    })
    child = pexpect.spawn(
        sys.executable, ["-m", "cipp_setup", "demo"], cwd=str(MAIN), env=env,
        encoding="utf-8", timeout=60, dimensions=(50, 220),
    )
    try:
        for question in QUESTIONS[:-1]:
            child.expect(question)
            child.send("\r")
        # What CIPP showed, then pasted by the demo at the prompts (nobody presses a key).
        child.expect(r"Application ID: (?:\x1b\[[\d;]*m)*([0-9a-f-]{36})")  # bold on a colour terminal
        client_id = child.match.group(1)
        child.expect(r"Application \(client\) id:")
        child.expect(client_id)  # visible at its prompt
        child.expect(r"Application secret \(hidden")
        child.expect("That looks like the secret's ID")  # the pasted Secret ID, caught
        child.expect(r"Use it anyway\? .*No")
        child.expect(r"Application secret \(hidden")
        child.expect(r"API URL \(the Function App's https:// address\): (?:\x1b\[[\d;]*m)*https://127\.0\.0\.1:\d+")
        child.expect(r"api-list-logs(?:\x1b\[[\d;]*m)*: ListLogs answered")
        child.expect(QUESTIONS[-1])
        child.send("\r")
        child.expect("The CIPP API answers")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    # Its closing lines point at what works once the sandbox is gone.
    seen = str(child.before)
    assert "cipp-setup wizard" in seen and "cipp-setup demo" in seen
