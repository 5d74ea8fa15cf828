"""The wizard and `cipp-setup demo`, end to end against the in-process sandbox.

Questions are answered through prompt_toolkit's pipe input with every key sent up front
(`create_app_session(input=create_pipe_input(), output=DummyOutput())`): the real
questionary prompts run; only the terminal is faked (streams that say they are TTYs).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from cipp_setup.cli import wizard_cmd
from cipp_setup.cli.inputs import from_namespace
from cipp_setup.cli.main import _command_module, build_parser, main
from cipp_setup.cli.options import UsageError
from cipp_setup.cli.terminal import Terminal
from cipp_setup.wizard.prompts import Option, QuestionaryPrompter, Screen

ENTER = "\r"
DOWN = "\x1b[B"
CTRL_C = "\x03"
# An Entra client secret value (three characters, a digit, "Q~", ...): must never be shown.
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{20,}")
MAIN = Path(__file__).resolve().parents[1]


class FakeTty(io.StringIO):
    """A stream that says it is a terminal (the one thing a pipe-input test cannot have)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # sandbox runs' throwaway journals
    for name in ("CI", "GITHUB_ACTIONS", "CIPP_API_CLIENT_SECRET", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def tty_terminal(environ: dict[str, str] | None = None) -> Terminal:
    env = {"NO_COLOR": "1"} if environ is None else environ
    return Terminal(stdout=io.StringIO(), stderr=FakeTty(), stdin=FakeTty(), environ=env)


def run_with_keys(argv: Sequence[str], keys: str, terminal: Terminal | None = None) -> tuple[int, str, str]:
    """Run a command on a (fake) terminal, answering its questions with `keys`."""
    terminal = terminal or tty_terminal()
    with create_pipe_input() as pipe:
        pipe.send_text(keys)
        with create_app_session(input=pipe, output=DummyOutput()):
            args = from_namespace(build_parser().parse_args(list(argv)))
            code = _command_module(args.command).run(args, terminal, prompter=QuestionaryPrompter())
    out = terminal.stdout.getvalue()  # type: ignore[attr-defined]
    err = terminal.stderr.getvalue()  # type: ignore[attr-defined]
    return code, out, err


def scenario_ids(name: str = "legacy-fresh") -> Any:
    from cipp_setup.sandbox.scenario import load_scenario

    return load_scenario(name).identities


def journal_lines(root: Path) -> list[str]:
    return [line for p in root.glob("cipp-setup-sandbox-*/journal.jsonl") for line in p.read_text().splitlines()]


# --- the branches, answered with Enter and arrow keys ------------------------------------------


def test_self_hosted_enter_at_every_prompt_reaches_list_logs(tmp_path: Path) -> None:
    # hosting, tenant, CIPP-SAM user, app, subscription, three fixes, give the rights back
    code, out, err = run_with_keys(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], ENTER * 9)
    assert code == 0, err[-2000:]
    for check_id in ("sam-user-global-admin", "sam-app-azure-management-consent", "sam-user-subscription-contributor"):
        assert f"[✗] {check_id}:" in err  # shown failing as the checks complete...
        assert f"[✓] {check_id}: was fail, fixed" in out  # ...and fixed in the summary
    assert "[✓] verified: sam-user-global-admin passes" in err
    assert "[✓] api-token:" in err and "[✓] api-list-logs:" in err
    assert "Application Secret: ********" in err
    assert "- delete-directory-role-assignment" in out and "- delete-arm-role-assignment" in out
    assert "The CIPP API answers." in out
    assert "Journal: " + str(tmp_path) in out
    assert not SECRET_SHAPE.search(out + err)
    entries = journal_lines(tmp_path)
    # four writes and two removals, each an intent and an outcome; and the admin's own
    # sign-in consent, journaled as it was given (issue 10): one more intent and outcome
    assert len(entries) == 14
    assert '"action":"record-sign-in-consent"' in entries[0]
    assert not any(SECRET_SHAPE.search(line) for line in entries)


def test_hosted_branch_checks_what_applies_and_says_what_to_send(tmp_path: Path) -> None:
    keys = DOWN + ENTER + ENTER * 3 + ENTER * 2 + ENTER + ENTER  # hosted; tenant/user/app; 2 fixes; URL; "not yet"
    code, out, err = run_with_keys(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], keys)
    assert code == 1  # the API cannot answer until the helpdesk enables it
    assert "enabled by the CIPP helpdesk" in err
    assert "Send this to the CIPP helpdesk" in err
    assert "CIPP-SAM user: cipp-sam@contoso.example" in err
    assert re.search(r"CIPP URL: https://127\.0\.0\.1:\d+", err)
    assert "sam-user-subscription-contributor" not in err + out  # the helpdesk's Azure, not the client's
    assert "Not done yet: waiting for the CIPP helpdesk to enable the API" in out
    assert "CIPP: hosted, legacy generation" in out


def test_declined_fix_changes_nothing_for_that_check_and_stops_before_activation() -> None:
    keys = ENTER * 5 + "n" + ENTER * 2 + DOWN * 2 + ENTER  # decline fix 1; apply 2 and 3; "What now?" Stop here
    code, out, err = run_with_keys(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], keys)
    assert code == 1
    assert "Declined: nothing was changed for this check." in err
    assert "[✗] sam-user-global-admin: fail; fix declined" in out
    assert "create-directory-role-assignment" not in out.split("Changed:")[1]
    assert "+ create-arm-role-assignment" in out
    assert "Activation in CIPP would fail while these do not pass: sam-user-global-admin" in err
    assert "api-list-logs" not in out
    assert "Not done yet: a prerequisite still fails: sam-user-global-admin" in out


def test_a_way_back_to_an_earlier_answer_keeps_the_others() -> None:
    # Decline fix 1 (GA); at "What now?" change an earlier answer: the CIPP-SAM user. Only
    # that question comes again (app and subscription kept, no new sign-in); the fix that
    # is still needed is offered again, applied, and the wizard goes on to ListLogs.
    keys = (ENTER * 5 + "n" + ENTER * 2 + DOWN * 3 + ENTER  # "Change an earlier answer…"
            + DOWN * 3 + ENTER  # hosting, tenant, generation, [the CIPP-SAM user]
            + ENTER + ENTER + ENTER)  # the user (suggested), fix 1/1, give the rights back
    code, out, err = run_with_keys(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], keys)
    assert code == 0, err[-3000:]
    assert "Back to the cipp-sam user; every other answer stays." in err
    assert err.count("\nThe CIPP-SAM user\n") == 2 and err.count("\nThe CIPP-SAM application\n") == 1
    assert err.count("Waiting for the sign-in") == 1
    assert "Fix 1/1 sam-user-global-admin" in err
    assert "The CIPP API answers." in out


def test_ctrl_c_mid_way_exits_130_naming_what_changed() -> None:
    keys = ENTER * 6 + CTRL_C  # fix 1 applied, then Ctrl-C at the question for fix 2
    code, out, err = run_with_keys(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], keys)
    assert code == 130
    assert "Stopped (Ctrl-C)." in err and "error:" not in err  # a cancel is no error
    assert "Still in place, added by cipp-setup:" in err
    assert "  - Global Administrator for cipp-sam@contoso.example" in err
    summary = err.split("Still in place, added by cipp-setup:", 1)[1]
    revert = next(line for line in summary.splitlines() if line.strip().startswith("cipp-setup revert "))
    assert "--sandbox legacy-fresh" in revert and "--generation legacy" in revert
    assert "--remove-consent" not in revert  # the rights it added; the consent stays unless asked
    assert "Summary" not in out


def test_ctrl_c_before_any_change_says_nothing_changed() -> None:
    code, _, err = run_with_keys(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], CTRL_C)
    assert code == 130
    assert "Stopped (Ctrl-C): nothing was changed in the tenant." in err


# --- flags, the prompting gate ------------------------------------------------------------


class RecordingPrompter:
    """Answers every question with its default and remembers what was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        self.asked.append(message)
        return default or options[0].value

    async def autocomplete(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        return await self.select(message, options, default)

    async def confirm(self, message: str, default: bool = True) -> bool:
        self.asked.append(message)
        return default

    async def text(self, message: str, default: str = "", validate: Any = None) -> str:
        self.asked.append(message)
        return default

    async def secret(self, message: str, validate: Any = None) -> str:
        self.asked.append(message)
        return ""


def run_recorded(argv: Sequence[str]) -> tuple[int, list[str], str]:
    terminal = tty_terminal()
    prompter = RecordingPrompter()
    args = from_namespace(build_parser().parse_args(list(argv)))
    code = wizard_cmd.run(args, terminal, prompter=prompter)
    return code, prompter.asked, terminal.stdout.getvalue()  # type: ignore[attr-defined]


def test_flags_suppress_their_questions() -> None:
    code, asked, _ = run_recorded([
        "wizard", "--sandbox", "legacy-fresh", "--generation", "legacy", "--hosting", "self-hosted",
        "--tenant", "contoso.example", "--sam-user", "cipp-sam@contoso.example",
    ])
    assert code == 0
    assert asked == [
        "Which application is CIPP-SAM?",
        "Which subscription hosts CIPP's Function App?",
        "Apply fix 1/3 (sam-user-global-admin)?",
        "Apply fix 2/3 (sam-app-azure-management-consent)?",
        "Apply fix 3/3 (sam-user-subscription-contributor)?",
        "Remove these temporary rights now?",
    ]


def test_every_question_answered_by_flags_asks_nothing() -> None:
    ids = scenario_ids()
    code, asked, out = run_recorded([
        "wizard", "--sandbox", "legacy-fresh", "--generation", "legacy", "--hosting", "self-hosted", "--tenant", "contoso.example",
        "--sam-user", "cipp-sam@contoso.example", "--sam-app", ids.sam_app_id,
        "--subscription", ids.subscription_id, "--yes", "--keep-rights",
    ])
    assert (code, asked) == (0, [])
    assert "The temporary rights stay; remove them with: cipp-setup revert" in out


def test_no_terminal_exits_2_naming_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["wizard", "--tenant", "contoso.example"])  # pytest's stdin is not a terminal
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot ask questions here" in err
    for flag in ("--hosting", "--sam-user", "--sam-app", "--subscription", "--yes", "--api-client-id",
                 "--api-url", "$CIPP_API_CLIENT_SECRET"):
        assert flag in err
    assert "--tenant" not in err.split("pass ", 1)[1].split(" — ")[0]


def test_no_command_without_a_terminal_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "missing command" in capsys.readouterr().err


@pytest.mark.parametrize("environ", [{"NO_COLOR": "1", "CI": "true"}, {"NO_COLOR": "1", "GITHUB_ACTIONS": "true"}])
def test_ci_variables_or_non_interactive_keep_the_wizard_from_starting(environ: dict[str, str]) -> None:
    for argv, env in ((["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"], environ),
                      (["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy", "--non-interactive"], {"NO_COLOR": "1"})):
        args = from_namespace(build_parser().parse_args(argv))
        with pytest.raises(UsageError, match="--hosting"):
            wizard_cmd.run(args, tty_terminal(env), prompter=RecordingPrompter())


def test_git_bash_without_a_console_buffer_gets_a_one_line_hint() -> None:
    no_console = wizard_cmd._no_console_error()

    class MinttyPrompter(RecordingPrompter):
        async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
            raise no_console("No Windows console found. Are you running cmd.exe?")

    terminal = tty_terminal()
    args = from_namespace(build_parser().parse_args(["wizard", "--sandbox", "legacy-fresh", "--generation", "legacy"]))
    assert wizard_cmd.run(args, terminal, prompter=MinttyPrompter()) == 2
    assert "Windows Terminal" in terminal.stderr.getvalue()  # type: ignore[attr-defined]


# --- the prompt machinery -------------------------------------------------------------------


def test_autocomplete_accepts_only_listed_choices() -> None:
    options = [Option(f"id-{i}", f"Subscription {i:02d}", f"sub {i}") for i in range(1, 15)]
    with create_pipe_input() as pipe:
        # "bogus" is refused (the prompt stays), Ctrl-U clears it, then a listed entry.
        pipe.send_text("bogus" + ENTER + "\x15" + "subscription 07 (sub 7)" + ENTER)
        with create_app_session(input=pipe, output=DummyOutput()):
            screen = Screen(tty_terminal(), QuestionaryPrompter())
            answer = asyncio.run(screen.select("Which subscription?", options))
    assert answer == "id-7"


def test_the_spinner_stops_before_every_question() -> None:
    terminal = tty_terminal({"FORCE_COLOR": "1", "TERM": "xterm"})
    seen: list[bool] = []

    class Probe(RecordingPrompter):
        async def confirm(self, message: str, default: bool = True) -> bool:
            seen.append(screen._spinner is None and not handle.active)
            return default

    screen = Screen(terminal, Probe())

    async def ask_inside_a_wait() -> bool:
        return await screen.confirm("Apply?")

    with screen.busy("Working…") as handle:
        assert handle.active
        assert asyncio.run(ask_inside_a_wait()) is True
    assert seen == [True]


# --- demo -----------------------------------------------------------------------------------------


def test_demo_yes_runs_unattended_without_stdin_and_in_ci(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CIPP_API_CLIENT_SECRET",)}
    env.update({"CI": "true", "NO_COLOR": "1", "TMPDIR": str(tmp_path), "CIPP_SETUP_STATE_DIR": str(tmp_path / "s")})
    proc = subprocess.run(
        [sys.executable, "-m", "cipp_setup", "demo", "--yes"], check=False, cwd=MAIN, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "The CIPP API answers." in proc.stdout
    assert "[✓] api-list-logs:" in proc.stdout
    assert "waiting for Entra ID to replicate… 1/12" in proc.stderr  # the demo shows replication
    assert not SECRET_SHAPE.search(proc.stdout + proc.stderr)
    assert list(tmp_path.glob("cipp-setup-sandbox-*/journal.jsonl"))  # a throwaway journal
    assert not (tmp_path / "s").exists()  # the real journal is untouched


def test_demo_yes_non_interactive_works_as_its_help_says(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--yes", "--non-interactive"]) == 0
    out = capsys.readouterr().out
    assert "[✓] api-list-logs:" in out
    assert "For your tenant: cipp-setup wizard; to watch it again: cipp-setup demo" in out


def test_demo_without_yes_and_without_a_terminal_names_yes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 2
    assert "demo --yes" in capsys.readouterr().err


# --- the pickers' look-ups ----------------------------------------------------------------


def test_lookups_search_by_prefix_and_suggest_the_cipp_names(sandbox_factory: Any) -> None:
    from cipp_setup.cloud import cloud_from_document
    from cipp_setup.gateways.auth import sign_in
    from cipp_setup.gateways.services import open_lookups

    sandbox = sandbox_factory("legacy-fresh")
    cloud = cloud_from_document(sandbox.cloud_document(), "sandbox")
    session = sign_in(cloud=cloud, tenant="contoso.example", auth="device-code", interactive=True,
                      device_code_callback=lambda message: None)

    async def look() -> tuple[Any, Any, Any, Any]:
        lookups = open_lookups(session)
        try:
            return (await lookups.sam_user_candidates(session.admin), await lookups.search_users("Alex"),
                    await lookups.sam_app_candidates(), await lookups.subscription_candidates())
        finally:
            await lookups.close()

    users, alex, apps, subs = asyncio.run(look())
    assert users.default == "cipp-sam@contoso.example" and users.why == "named like CIPP's SAM account"
    assert "admin@contoso.example" in [c.value for c in users.items]  # the signed-in admin is offered too
    assert [c.value for c in alex.items] == ["alex.wilber@contoso.example"]
    assert apps.default == scenario_ids().sam_app_id and "CIPP-SAM" in apps.why
    assert subs.default == scenario_ids().subscription_id and subs.items[0].hint == subs.default
    user_reads = [r.path for r in sandbox.control.request_log() if r.service == "graph" and r.path.startswith("/v1.0/users")]
    assert user_reads == ["/v1.0/users", "/v1.0/users"]  # two filtered queries; never a user-by-user walk
