"""Bad input never gets a traceback: one line on stderr naming the option, exit 2.

Most cases run the real entry point in process (fast); a few run `python -m cipp_setup`
in a subprocess to prove the console sees exactly one line. No case reaches the network:
validation happens before any sign-in.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cipp_setup.cli import options
from cipp_setup.cli.main import main

GUID = "11111111-2222-3333-4444-555555555555"


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cipp-setup: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CIPP_API_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


# --- every option value that is checked, with what the message must name --------------

BAD_VALUES = [
    (["check", "--tenant", "not a tenant"], ["--tenant", "tenant id (GUID) or a domain", "'not a tenant'"]),
    (["check", "--tenant", "contoso"], ["--tenant", "domain"]),
    (["check", "--tenant", "1111-2222"], ["--tenant"]),
    (["check", "--tenant", GUID + "0"], ["--tenant"]),
    (["check", "--sam-app", "CIPP-SAM"], ["--sam-app", "GUID", "'CIPP-SAM'"]),
    (["check", "--subscription", "my-sub"], ["--subscription", "GUID"]),
    (["check", "--api-client-id", "12345"], ["--api-client-id", "GUID"]),
    (["check", "--sam-user", "bob"], ["--sam-user", "user principal name"]),
    (["check", "--sam-user", "bob@"], ["--sam-user", "user principal name"]),
    (["check", "--sam-user", "bob smith@contoso.com"], ["--sam-user"]),
    (["check", "--sam-user", "bob@localhost"], ["--sam-user"]),
    (["check", "--api-url", "http://cipp.azurewebsites.net"], ["--api-url", "https://", "clear"]),
    (["check", "--api-url", "cipp.azurewebsites.net"], ["--api-url", "https:// URL"]),
    (["check", "--api-url", "https://"], ["--api-url"]),
    (["check", "--api-url", "https://cipp.azurewebsites.net/api/ListLogs"], ["--api-url"]),
    (["check", "--api-url", "https://cipp.azurewebsites.net/?code=x"], ["--api-url", "query"]),
    (["check", "--api-url", "https://exa mple.com"], ["--api-url"]),
    (["check", "--api-url", "https://host:port"], ["--api-url"]),
    (["check", "--api-url", "ftp://cipp.azurewebsites.net"], ["--api-url"]),
    (["check", "--auth", "password"], ["--auth", "device-code", "'password'"]),
    (["check", "--generation", "v7"], ["--generation", "legacy"]),
    (["check", "--function-app", "cipp app"], ["--function-app", "Function App name", "resource id"]),
    (["check", "--function-app", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Web/sites/a"], ["--function-app"]),
    (["check", "--tenant"], ["--tenant", "expected a value"]),
    (["check", "--only"], ["--only", "at least one"]),
    (["check", "--json=yes"], ["--json", "takes no value"]),
    (["check", "--bogus"], ["unknown option --bogus", "cipp-setup check --help"]),
    (["check", "--ten", GUID], ["unknown option --ten"]),  # no silent abbreviations
    (["check", "surplus"], ["unexpected argument 'surplus'"]),
    (["bogus"], ["unknown command 'bogus'", "check"]),
    ([], ["missing command", "check"]),
    (["--bogus"], ["unknown option --bogus"]),
    (["sandbox"], ["sandbox", "serve, list"]),
    (["sandbox", "serve"], ["--scenario"]),
    (["sandbox", "nope"], ["unknown command 'nope'", "serve"]),
    (["sandbox", "serve", "--scenario", "legacy-ready", "--port", "http"], ["--port", "'http'"]),
    (["sandbox", "serve", "--scenario", "legacy-ready", "--port", "70000"], ["--port"]),
    (["sandbox", "serve", "--scenario", "legacy-ready", "--latency-ms", "-5"], ["--latency-ms"]),
    (["sandbox", "serve", "--scenario", "legacy-ready", "--fault", "explode:graph"], ["--fault", "explode"]),
    (["sandbox", "serve", "--scenario", "legacy-ready", "--fault", ""], ["--fault"]),
]


@pytest.mark.parametrize(("argv", "needles"), BAD_VALUES, ids=[" ".join(a) or "(none)" for a, _ in BAD_VALUES])
def test_bad_value_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]) -> None:
    _assert_usage_error(*_run(capsys, argv), *needles)


# --- cloud and sandbox seams -----------------------------------------------------------


def test_unknown_cloud_name(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--cloud", "mars"]),
                        "--cloud", "unknown cloud 'mars'", "public")


def test_unreadable_cloud_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--cloud", str(missing)]),
                        "--cloud", "cannot read cloud file", str(missing))


def test_cloud_file_that_is_not_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "cloud.json"
    bad.write_text("{not json", encoding="utf-8")
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--cloud", str(bad)]), "--cloud", "not valid JSON")


def test_cloud_file_with_http_endpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "cloud.json"
    bad.write_text(json.dumps({"authority_host": "http://127.0.0.1:1", "graph_url": "https://127.0.0.1:2",
                               "arm_url": "https://127.0.0.1:3"}), encoding="utf-8")
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--cloud", str(bad)]),
                        "authority_host", "https://")


def test_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["check", "--sandbox", "no-such-scenario"]), "--sandbox", "no-such-scenario")


def test_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "tenant.yaml"
    _assert_usage_error(*_run(capsys, ["check", "--sandbox", str(missing)]), "--sandbox", "tenant.yaml")


def test_invalid_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "tenant.yaml"
    bad.write_text("name: broken\nusers: 42\n", encoding="utf-8")
    _assert_usage_error(*_run(capsys, ["check", "--sandbox", str(bad)]), "--sandbox", "tenant.yaml")


def test_sandbox_serve_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["sandbox", "serve", "--scenario", "no-such-scenario"]),
                        "--scenario", "no-such-scenario")


def test_sandbox_and_cloud_together(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["check", "--sandbox", "legacy-ready", "--cloud", "public"]),
                        "--sandbox and --cloud")


def test_tenant_is_required_outside_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["check"]), "--tenant", "required")


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_secret_in_the_environment(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                         value: str) -> None:
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", value)
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID]), "CIPP_API_CLIENT_SECRET", "empty")


def test_empty_secret_on_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--client-secret-stdin"]),
                        "--client-secret-stdin", "empty")


def test_secret_is_never_an_argument(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--client-secret", "hunter2"]),
                        "unknown option --client-secret")


def test_client_secret_sign_in_needs_its_environment(capsys: pytest.CaptureFixture[str]) -> None:
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, "--auth", "client-secret"]),
                        "--auth client-secret", "AZURE_CLIENT_ID")


# --- unknown check ids (need the check registry) ---------------------------------------


@pytest.mark.parametrize("option", ["--only", "--ignore"])
def test_unknown_check_id(capsys: pytest.CaptureFixture[str], option: str) -> None:
    pytest.importorskip("cipp_setup.checks")
    _assert_usage_error(*_run(capsys, ["check", "--tenant", GUID, option, "no-such-check"]),
                        option, "'no-such-check'", "sam-user-global-admin")


def test_explain_unknown_check_id(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cipp_setup.checks")
    _assert_usage_error(*_run(capsys, ["explain", "no-such-check"]), "'no-such-check'", "sam-user-global-admin")


# --- validators, directly ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("https://cipp123.azurewebsites.net", "https://cipp123.azurewebsites.net"),
        ("https://cipp123.azurewebsites.net/", "https://cipp123.azurewebsites.net"),
        ("https://cipp123.azurewebsites.net/api", "https://cipp123.azurewebsites.net"),
        ("https://CIPP123.azurewebsites.net/api/", "https://cipp123.azurewebsites.net"),
        ("  https://127.0.0.1:8443/api  ", "https://127.0.0.1:8443"),
        ("https://localhost:9000", "https://localhost:9000"),
    ],
)
def test_api_url_is_normalised(raw: str, normalised: str) -> None:
    assert options.parse_api_url(raw) == normalised


def test_accepted_identifiers_are_normalised() -> None:
    assert options.parse_tenant(GUID.upper()) == GUID
    assert options.parse_tenant("Contoso.OnMicrosoft.com") == "contoso.onmicrosoft.com"
    assert options.parse_user("CIPP-SAM@contoso.com") == "CIPP-SAM@contoso.com"
    assert options.parse_user(GUID.upper()) == GUID
    assert options.parse_check_ids(["a,b", "c"], "--only", ["a", "b", "c"]) == frozenset({"a", "b", "c"})


# --- the console really sees one line, and --help stays light -------------------------

HEAVY = ("msal", "azure", "msgraph", "kiota_abstractions", "questionary", "httpx", "rich")


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"], ["sandbox", "serve", "--help"]])
def test_help_imports_no_sdk(argv: list[str]) -> None:
    script = (
        "import sys, io, contextlib\n"
        "from cipp_setup.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    code = main({argv!r})\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(" + repr(HEAVY) + "))\n"
        "print(code, heavy, 'usage:' in buf.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 [] True"


def test_subprocess_bad_input_prints_exactly_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cipp_setup", "check", "--tenant", "no way", "--api-url", "http://x"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("cipp-setup: error: --tenant:")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, ["--version"])
    assert code == 0 and out.startswith("cipp-setup ")


# --- only the invoked command's parser is built ----------------------------------------


def _summaries_registered() -> dict[str, str]:
    import argparse

    from cipp_setup.cli.main import build_parser

    (subparsers,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {action.dest: str(action.help) for action in subparsers._choices_actions}


def test_each_summary_is_the_help_its_command_registers() -> None:
    from cipp_setup.cli.commands import COMMANDS, SUMMARIES

    assert set(SUMMARIES) == set(COMMANDS)
    assert _summaries_registered() == SUMMARIES


def test_the_lazy_parser_prints_the_same_help(capsys: pytest.CaptureFixture[str]) -> None:
    from cipp_setup.cli.commands import COMMANDS
    from cipp_setup.cli.main import build_parser, main

    assert build_parser(full=()).format_help() == build_parser().format_help()
    for name in COMMANDS:
        assert main([name, "--help"]) == 0
        lazy = capsys.readouterr().out
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, "--help"])
        assert lazy == capsys.readouterr().out, name


@pytest.mark.parametrize(("argv", "imported"), [(["--help"], set()), (["check", "--help"], {"check_cmd"})])
def test_help_imports_only_the_command_it_shows(argv: list[str], imported: set[str]) -> None:
    script = (
        "import sys, io, contextlib\n"
        "from cipp_setup.cli.commands import COMMANDS\n"
        "from cipp_setup.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({argv!r})\n"
        "print(sorted(m for m in COMMANDS.values() if 'cipp_setup.cli.' + m in sys.modules))\n"
        # dataclasses imports inspect and ast: a tenth of a bare start (bench/RESULTS.md)
        "print('dataclasses' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [repr(sorted(imported)), "False"]
