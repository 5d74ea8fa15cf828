"""The wizard in a real pseudo-terminal (pexpect) against a served sandbox: each mistake a
new user makes is recovered from without restarting, and ends with ListLogs answering and
the temporary rights given back; Ctrl-C at that step names what is still in place and a
command that, run as printed, gives it back.

The test plays the admin: it answers the prompts, and does the admin's click in CIPP
(activating the legacy API) through the sandbox's control interface, as a person would
in CIPP's own page, then types what CIPP showed.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_printed_commands import _env, printed, run_in_terminal, serve  # noqa: F401 - serve is a fixture

from cipp_setup.engine.journal import Journal
from cipp_setup.sandbox.control import RemoteControl

pexpect = pytest.importorskip("pexpect")

URL_PROMPT = r"API URL \(the Function App's https:// address"
RETRY_URL_PROMPT = r"API URL \(the Function App's https:// address, not the CIPP front end\)"
SECRET_PROMPT = r"Application secret \(hidden"
WHAT_NOW = r"What now\?"


def _wizard(sb: dict[str, Any], tmp_path: Path) -> Any:
    ids = sb["identities"]
    argv = ["-m", "cipp_setup", "wizard", "--cloud", sb["ready"], "--tenant", ids["tenant_id"],
            "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"], "--subscription",
            ids["subscription_id"], "--generation", "legacy", "--hosting", "self-hosted", "--revert"]
    child = pexpect.spawn(sys.executable, argv, env=_env(tmp_path), encoding="utf-8", timeout=180,
                          dimensions=(40, 160), cwd=str(tmp_path))
    child.logfile_read = io.StringIO()
    return child


def _to_activation(child: Any, sb: dict[str, Any]) -> dict[str, Any]:
    for _ in range(3):
        child.expect(r"Apply fix \d/3")
        child.send("y")
    child.expect("Have you activated it and copied the three values")
    with RemoteControl(json.loads(Path(sb["ready"]).read_text(encoding="utf-8"))) as control:
        shown: dict[str, Any] = control.activate_legacy_api()  # the admin's click in CIPP
    child.send("y")
    return shown


def _output(child: Any) -> str:
    return str(child.logfile_read.getvalue()).replace("\r", "")


MISTAKES = {
    # name: (what is typed first for (client id, secret, url), the answer at "What now?")
    "front-end-url": ("frontend_url", "url"),
    "processor-app-url": ("processor_url", "url"),
    "invalid-secret": ("wrong-secret", "secret"),
    "secret-id-pasted": ("secret-id", "secret"),
}


def _type_details(child: Any, shown: dict[str, Any], sb: dict[str, Any], mistake: str) -> None:
    ids = sb["identities"]
    child.expect(r"Application \(client\) id")
    child.sendline(str(shown["client_id"]))
    child.expect(SECRET_PROMPT)
    if mistake == "invalid-secret":
        child.sendline("Wr0ngQ~" + "x" * 33)
    elif mistake == "secret-id-pasted":
        child.sendline("0b5a3c1e-1111-4222-8333-944455556666")  # the Secret ID column
        child.expect(r"Use it anyway\?")
        child.send("y")  # the warning is overridden: the API check then names the cause
    else:
        child.sendline(str(shown["client_secret"]))
    child.expect(URL_PROMPT)
    if mistake in ("front-end-url", "processor-app-url"):
        child.sendline(ids[MISTAKES[mistake][0]])
    else:
        child.sendline(str(shown["api_url"]))


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_the_wizard_recovers_from_the_mistake_and_ends_with_the_api_answering(
        mistake: str, serve: Callable[[str], dict[str, Any]], tmp_path: Path) -> None:  # noqa: F811
    sb = serve("legacy-fresh")
    child = _wizard(sb, tmp_path)
    try:
        shown = _to_activation(child, sb)
        _type_details(child, shown, sb, mistake)
        child.expect(WHAT_NOW)
        child.send("\r")  # the default points at the answer at fault
        if MISTAKES[mistake][1] == "url":
            child.expect(RETRY_URL_PROMPT)
            child.sendline(str(shown["api_url"]))
        else:
            child.expect(SECRET_PROMPT)
            child.sendline(str(shown["client_secret"]))
        child.expect(r"Save the API URL, client id and secret \(in the OS keyring\) as a profile\?")
        child.send("n")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    out = _output(child)
    assert child.exitstatus == 0, out
    assert f"Cause: {mistake}" in out  # said, then recovered
    assert "Why: " in out and "What fixes it: " in out
    assert "[✓] api-list-logs" in out
    actions = [e.action for e in Journal(tmp_path / "state" / "journal.jsonl").entries()]
    assert "delete-directory-role-assignment" in actions and "delete-arm-role-assignment" in actions
    assert str(shown["client_secret"]) not in out


def test_ctrl_c_at_the_failed_step_names_what_is_in_place_and_the_command_gives_it_back(
        serve: Callable[[str], dict[str, Any]], tmp_path: Path) -> None:  # noqa: F811
    sb = serve("legacy-fresh")
    child = _wizard(sb, tmp_path)
    try:
        shown = _to_activation(child, sb)
        _type_details(child, shown, sb, "front-end-url")
        child.expect(WHAT_NOW)
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    out = _output(child)
    assert child.exitstatus == 130, out
    upn = sb["identities"]["sam_user_upn"]
    assert f"Global Administrator for {upn}" in out
    assert f"Contributor for {upn} on /subscriptions/" in out
    assert "error:" not in out  # a cancel is not an error
    revert = [c for c in printed(out) if c.startswith("cipp-setup revert")]
    assert len(revert) == 1, out
    code, revert_out = run_in_terminal(revert[0], tmp_path)
    assert code == 0, revert_out
    assert "Done: the temporary rights are gone." in revert_out
