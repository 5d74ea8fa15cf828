"""The wizard in a real pseudo-terminal (pexpect) against a served sandbox: each mistake a
new user makes is recovered from without restarting, and ends with ListLogs answering and
the temporary rights given back; Ctrl-C at that step names what is still in place and a
command that, run as printed, gives it back (the tenant is checked afterwards).

The mistakes: the CIPP front-end URL pasted, the processor app's URL pasted, a wrong
secret, the secret's ID pasted instead of its value, an unknown CIPP-SAM app id, and a fix
declined and then applied by hand.

The test plays the admin: it answers the prompts, does the admin's click in CIPP
(activating the legacy API) and the admin's clicks in the Entra admin center (adding and
consenting a permission by hand) through the sandbox's control interface, as a person
would on those pages, then types what CIPP showed.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_printed_commands import _env, _statuses, printed, run_in_terminal, run_plain, serve  # noqa: F401 - serve is a fixture

from cipp_setup import wellknown
from cipp_setup.engine.journal import Journal
from cipp_setup.sandbox.control import RemoteControl

pexpect = pytest.importorskip("pexpect")

URL_PROMPT = r"API URL \(the Function App's https:// address"
RETRY_URL_PROMPT = r"API URL \(the Function App's https:// address, not the CIPP front end\)"
SECRET_PROMPT = r"Application secret \(hidden"
WHAT_NOW = r"What now\?"
PICK_APP = r"Which application is CIPP-SAM\?"
SECRET_ID = "0b5a3c1e-1111-4222-8333-944455556666"  # what the Secret ID column shows
CONSENT = "sam-app-azure-management-consent"

# Where each mistake is made, and the question it leads to (where Ctrl-C is pressed).
MISTAKES = ("front-end-url", "processor-app-url", "invalid-secret", "secret-id-pasted", "unknown-app", "fix-declined")


def _control(sb: dict[str, Any]) -> RemoteControl:
    return RemoteControl(json.loads(Path(sb["ready"]).read_text(encoding="utf-8")))


def _wizard(sb: dict[str, Any], tmp_path: Path, *, sam_app: str | None = None) -> Any:
    ids = sb["identities"]
    argv = ["-m", "cipp_setup", "wizard", "--cloud", sb["ready"], "--tenant", ids["tenant_id"],
            "--sam-user", ids["sam_user_upn"], "--sam-app", sam_app or ids["sam_app_id"], "--subscription",
            ids["subscription_id"], "--generation", "legacy", "--hosting", "self-hosted", "--revert"]
    child = pexpect.spawn(sys.executable, argv, env=_env(tmp_path), encoding="utf-8", timeout=180,
                          dimensions=(40, 160), cwd=str(tmp_path))
    child.logfile_read = io.StringIO()
    return child


def _fixes(child: Any, *, decline: str | None = None) -> None:
    for _ in range(3):
        child.expect(r"Apply fix \d/3 \(([\w-]+)\)\? (?:\x1b\[[\d;]*m)*\(Y/n\)")  # asked, not its echo
        child.send("n" if child.match.group(1) == decline else "y")


def _activate(child: Any, sb: dict[str, Any]) -> dict[str, Any]:
    child.expect("Have you activated it and copied the three values")
    with _control(sb) as control:
        shown: dict[str, Any] = control.activate_legacy_api()  # the admin's click in CIPP
    child.send("y")
    return shown


def _type_details(child: Any, shown: dict[str, Any], *, secret: str | None = None, url: str | None = None) -> None:
    child.expect(r"Application \(client\) id")
    child.sendline(str(shown["client_id"]))
    child.expect(SECRET_PROMPT)
    child.sendline(secret or str(shown["client_secret"]))
    child.expect(URL_PROMPT)
    child.sendline(url or str(shown["api_url"]))


def _drive(child: Any, sb: dict[str, Any], mistake: str, *, interrupt: bool) -> dict[str, Any] | None:
    """Make `mistake`, then either recover from it or press Ctrl-C at the question it leads to.
    Returns what CIPP showed (None when the run was stopped before the activation)."""
    ids = sb["identities"]

    def at(question: str) -> bool:
        child.expect(question)
        if interrupt:
            child.sendintr()
        return interrupt

    if mistake == "unknown-app":
        if at(WHAT_NOW):  # after the checks: "Pick the CIPP-SAM app again" is the default
            return None
        child.send("\r")
        child.expect(PICK_APP)
        child.send("\r")  # the app named CIPP-SAM, suggested by the tenant
        _fixes(child)
        shown = _activate(child, sb)
        _type_details(child, shown)
        return shown
    if mistake == "fix-declined":
        _fixes(child, decline=CONSENT)
        if at(WHAT_NOW):  # before the activation: the consent does not pass
            return None
        with _control(sb) as control:  # by hand, in the Entra admin center
            control.add_and_consent_permission(
                client_app_id=ids["sam_app_id"], resource_app_id=wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
                scope="user_impersonation")
        child.send("\r")  # "Check again" is the default
        child.expect(f"\\[✓\\] {CONSENT}")
        shown = _activate(child, sb)
        _type_details(child, shown)
        return shown
    _fixes(child)
    shown = _activate(child, sb)
    if mistake == "secret-id-pasted":
        child.expect(r"Application \(client\) id")
        child.sendline(str(shown["client_id"]))
        child.expect(SECRET_PROMPT)
        child.sendline(SECRET_ID)
        child.expect("That looks like the secret's ID")
        if at(r"Use it anyway\?"):
            return shown
        child.send("y")  # the warning overridden: the API check then names the cause
        child.expect(URL_PROMPT)
        child.sendline(str(shown["api_url"]))
        child.expect(WHAT_NOW)
        child.send("\r")  # "Re-paste the secret" is the default
        child.expect(SECRET_PROMPT)
        child.sendline(str(shown["client_secret"]))
        return shown
    wrong = {"front-end-url": {"url": ids["frontend_url"]}, "processor-app-url": {"url": ids["processor_url"]},
             "invalid-secret": {"secret": "Wr0ngQ~" + "x" * 33}}[mistake]
    _type_details(child, shown, **wrong)
    if mistake != "processor-app-url":
        child.expect(WHAT_NOW)
    elif at(WHAT_NOW):  # Ctrl-C at the menu itself
        return shown
    child.send("\r")  # the default points at the answer at fault
    if "url" in wrong:
        if at(RETRY_URL_PROMPT):
            return shown
        child.sendline(str(shown["api_url"]))
    else:
        if at(SECRET_PROMPT):
            return shown
        child.sendline(str(shown["client_secret"]))
    return shown


def _output(child: Any) -> str:
    return str(child.logfile_read.getvalue()).replace("\r", "")


@pytest.mark.parametrize("mistake", MISTAKES)
def test_the_wizard_recovers_from_the_mistake_and_ends_with_the_api_answering(
        mistake: str, serve: Callable[[str], dict[str, Any]], tmp_path: Path) -> None:  # noqa: F811
    sb = serve("legacy-fresh")
    child = _wizard(sb, tmp_path, sam_app=str(uuid.uuid4()) if mistake == "unknown-app" else None)
    try:
        shown = _drive(child, sb, mistake, interrupt=False)
        assert shown is not None
        child.expect(r"Save the API URL, client id and secret \(in the OS keyring\) as a profile\?")
        child.send("n")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    out = _output(child)
    assert child.exitstatus == 0, out
    cause = {"unknown-app": "app-not-found", "fix-declined": None}.get(mistake, mistake)
    if cause:
        assert f"Cause: {cause}" in out  # said, then recovered
        assert "Why: " in out and "What fixes it: " in out
    if mistake == "secret-id-pasted":
        assert "That looks like the secret's ID" in out
    if mistake == "fix-declined":
        assert "Declined: nothing was changed for this check." in out
    assert "[✓] api-list-logs" in out
    actions = [e.action for e in Journal(tmp_path / "state" / "journal.jsonl").entries()]
    assert "delete-directory-role-assignment" in actions and "delete-arm-role-assignment" in actions
    assert str(shown["client_secret"]) not in out


@pytest.mark.parametrize("mistake", MISTAKES)
def test_ctrl_c_at_the_step_names_what_is_in_place_and_the_command_gives_it_back(
        mistake: str, serve: Callable[[str], dict[str, Any]], tmp_path: Path) -> None:  # noqa: F811
    sb = serve("legacy-fresh")
    ids = sb["identities"]
    child = _wizard(sb, tmp_path, sam_app=str(uuid.uuid4()) if mistake == "unknown-app" else None)
    try:
        shown = _drive(child, sb, mistake, interrupt=True)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    out = _output(child)
    assert child.exitstatus == 130, out
    assert "error:" not in out  # a cancel is not an error
    upn = ids["sam_user_upn"]
    check = (f"cipp-setup check --cloud {sb['ready']} --tenant {ids['tenant_id']} --sam-user {upn} "
             f"--subscription {ids['subscription_id']} --generation legacy --report {tmp_path / 'after'}")
    if mistake == "unknown-app":  # stopped before any fix: no temporary right to give back
        assert "Stopped (Ctrl-C)" in out
        assert "Still in place, added by cipp-setup:" not in out and "Global Administrator for" not in out
    else:
        assert f"Global Administrator for {upn}" in out
        assert f"Contributor for {upn} on /subscriptions/" in out
        revert = [c for c in printed(out.split("Still in place, added by cipp-setup:")[-1])
                  if c.startswith("cipp-setup revert")]
        assert len(revert) == 1, out
        code, revert_out = run_in_terminal(revert[0], tmp_path)
        assert code == 0, revert_out
        assert "Done: the temporary rights are gone." in revert_out
    # The tenant afterwards: neither temporary right is held (a consent is no elevation and stays).
    code, check_out = run_plain(check, tmp_path)
    statuses = _statuses(tmp_path / "after" / "report.json")
    assert statuses["sam-user-global-admin"] == "fail", check_out
    assert statuses["sam-user-subscription-contributor"] == "fail", check_out
    if mistake == "processor-app-url":
        _resumes(sb, tmp_path, shown)


def _resumes(sb: dict[str, Any], tmp_path: Path, shown: dict[str, Any] | None) -> None:
    """Run again: the wizard says it is resuming and from where (the progress it kept holds
    no secret)."""
    assert shown is not None
    progress = (tmp_path / "state" / "wizard-progress.json").read_text(encoding="utf-8")
    assert str(shown["client_secret"]) not in progress and str(shown["client_id"]) in progress
    child = _wizard(sb, tmp_path)
    try:
        child.expect(r"Resuming the run of [^\n]*: it stopped at verifying the API")
        child.expect(r"Carry on from there\?")
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 130, _output(child)
