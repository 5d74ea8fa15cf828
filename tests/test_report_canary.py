"""The canary test: every command runs against the sandbox with a canary API client
secret and a canary token in the environment, and neither — nor any token or secret the
sandbox issues during the run — appears in any output, report, journal or log.

Searched: every command's stdout and stderr, and every file the runs leave under a
temporary root that is the state directory (journal, sign-in records), the config
directory (saved profiles), HOME, the report directories (and their zips, unpacked), and
the temporary directory (sandbox journals, crash logs).
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cipp_setup.cli.main import COMMANDS, main
from cipp_setup.render.redact import secret_shaped

# An Entra ID-shaped client secret value and a JWT-shaped access token.
CANARY_SECRET = "Cnr7Q~canary.api-client_secret~value.X9"
CANARY_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJjYW5hcnkiOiJ0b2tlbiIsImF1ZCI6ImNhbmFyeSJ9."
    "Q2FuYXJ5VG9rZW5TaWduYXR1cmVUaGF0TXVzdE5ldmVyTGVhaw"
)
CANARY_ADMIN_CLIENT_ID = "0c0c0c0c-0000-4000-8000-00000000c0c0"


def _runs(root: Path) -> dict[str, list[list[str]]]:
    """Per command, the runs that exercise it (each argv without the program name)."""
    report = lambda name: ["--report", str(root / "reports" / name)]
    return {
        "check": [
            ["check", "--sandbox", "legacy-ready", "-v"],
            ["check", "--sandbox", "legacy-ready", "--json", *report("check")],
            ["check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--json", "--redact-ids", *report("check-redacted")],
            # the admin's client secret is the canary token: sign-in with it fails
            ["check", "--sandbox", "legacy-ready", "--auth", "client-secret", "--json", *report("check-auth")],
        ],
        "fix": [
            ["fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--dry-run", "-v", *report("fix-dry-run")],
            ["fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--yes", "--json", *report("fix-yes")],
        ],
        "revert": [["revert", "--sandbox", "legacy-fresh", "--dry-run"]],
        "explain": [["explain"], ["explain", "api-token"]],
        "sandbox": [["sandbox", "list"]],
        "wizard": [[
            "wizard", "--sandbox", "legacy-fresh", "--generation", "legacy", "--hosting", "self-hosted", "--yes",
            "--tenant", "contoso.example", *_scenario_flags(), *report("wizard"),
        ]],
        "demo": [["demo", "--yes"]],
        "helpdesk": [["helpdesk", "--tenant", "contoso.onmicrosoft.com"]],
        # Saved profiles and sign-in (issue 6). No keyring here: saving the secret is refused
        # (the refusal must not echo it); a profile without its secret is saved and listed.
        "profile": [
            ["profile", "add", "canary", *_api_flags()],
            ["profile", "add", "details-only", *_api_flags(), "--no-secret"],
            ["profile", "list"],
            ["profile", "remove", "details-only"],
        ],
        "verify": [["verify", "--sandbox", "legacy-ready", "--json"], ["verify", "--sandbox", "legacy-ready", "-v"]],
        # Without the unencrypted-cache opt-in, headless login is refused before any cache is written.
        "login": [["login", "--sandbox", "legacy-ready", "--non-interactive"]],
        "logout": [["logout"]],
    }


def _api_flags() -> list[str]:
    return ["--tenant", "contoso.example", "--api-url", "https://cippcanary.azurewebsites.net",
            "--api-client-id", "0a0a0a0a-0000-4000-8000-0000000000a0"]


def _scenario_flags() -> list[str]:
    from cipp_setup.sandbox.scenario import load_scenario

    ids = load_scenario("legacy-fresh").identities
    return ["--sam-user", "cipp-sam@contoso.example", "--sam-app", str(ids.sam_app_id),
            "--subscription", str(ids.subscription_id)]


def _files(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as bundle:
                for name in bundle.namelist():
                    yield f"{path}!{name}", bundle.read(name).decode("utf-8", "replace")
            continue
        yield str(path), path.read_bytes().decode("utf-8", "replace")


def _without_certificates(text: str) -> str:
    return re.sub(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", "", text, flags=re.DOTALL)


def test_every_command_is_covered() -> None:
    missing = set(COMMANDS) - set(_runs(Path("/unused")))
    assert not missing, f"add a canary run for {sorted(missing)} in tests/test_report_canary.py"


def test_no_canary_secret_or_token_in_any_output_report_journal_or_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    (root / "tmp").mkdir(parents=True)
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(root / "state"))
    monkeypatch.setenv("CIPP_SETUP_CONFIG_DIR", str(root / "config"))  # saved profiles
    monkeypatch.setenv("HOME", str(root / "home"))  # anything a library keeps under ~
    monkeypatch.setattr(tempfile, "tempdir", str(root / "tmp"))  # sandbox journals, crash logs
    monkeypatch.chdir(root)
    for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", CANARY_SECRET)
    monkeypatch.setenv("AZURE_CLIENT_ID", CANARY_ADMIN_CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", CANARY_TOKEN)
    monkeypatch.setenv("CIPP_SETUP_CANARY_TOKEN", CANARY_TOKEN)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    outputs: list[tuple[str, str]] = []
    codes: dict[str, int] = {}
    for command, runs in _runs(root).items():
        if command not in COMMANDS:
            continue
        for argv in runs:
            code = main(argv)
            captured = capsys.readouterr()
            label = " ".join(argv)
            codes[label] = code
            outputs += [(f"{label} (stdout)", captured.out), (f"{label} (stderr)", captured.err)]
            assert code != 3, f"{label} crashed: {captured.err}"

    files = list(_files(root))
    # The runs did what they are for: reports written, a journal kept, the wizard finished.
    names = {Path(label.split("!")[0]).name for label, _ in files}
    assert {"report.json", "report.md", "report.html", "junit.xml", "journal.jsonl"} <= names
    assert any(label.endswith(".zip!wizard/report.md") for label, _ in files)
    assert codes[" ".join(_runs(root)["wizard"][0])] in (0, 1)

    leaks = []
    for label, text in outputs + files:
        for canary in (CANARY_SECRET, CANARY_TOKEN):
            if canary in text:
                leaks.append(f"{label}: canary {canary[:8]}…")
        # Tokens and secrets the sandbox itself issued during the runs are secrets too.
        # (Certificates are public: the trust bundles for the sandbox's CA are not scanned.)
        leaks += [f"{label}: secret-shaped {found[:12]}…" for found in secret_shaped(_without_certificates(text))]
    assert not leaks, "\n".join(leaks)
