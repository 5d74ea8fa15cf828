"""No exit 3 on plausible input (issue 14): damaged state files, awkward output streams,
malformed URLs and cloud files, report paths and secrets each give one line and exit 2,
or a normal run where the input is legal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli.main import main

SANDBOX_CHECK = ["check", "--sandbox", "legacy-ready"]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CIPP_SETUP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("CI", "GITHUB_ACTIONS", "CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "state").mkdir()
    (tmp_path / "config").mkdir()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("cipp-setup: error: ")]
    assert len(lines) == 1, err
    assert "internal error" not in lines[0] and "Traceback" not in err
    return lines[0]


def _cli(*argv: str, stdout: Any = subprocess.PIPE, env: dict[str, str] | None = None,
         stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cipp_setup", *argv], stdout=stdout, stderr=subprocess.PIPE,
                          stdin=stdin, env=env or dict(os.environ), timeout=180, check=False)


# --- the journal -------------------------------------------------------------------------


def _journal(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.jsonl"


@pytest.mark.parametrize("content", [
    os.urandom(400),
    b'{"kind":"intent","change_id":"a","target":{}}\n\xff\xfe not utf-8\n',
    b'{"kind":"intent","change_id":"a","target":"x","tenant_id":5,"reverts":7}\n[1,2]\n'
    b'{"kind":"outcome","change_id":"a","status":[1]}\n',
    b"[" * 5000 + b"\n",
], ids=["binary", "non-utf8-line", "wrongly-typed", "nested"])
def test_revert_works_from_the_readable_part_of_a_damaged_journal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    _journal(tmp_path).write_bytes(content)
    code, out, err = _run(capsys, "revert", "--sandbox", "legacy-ready", "--yes")
    assert code == 0, err
    assert "damaged line(s), skipped" in err and "Nothing to revert" in out


def test_a_damaged_journal_keeps_the_readable_records(tmp_path: Path) -> None:
    from cipp_setup.engine.journal import Journal

    path = _journal(tmp_path)
    journal = Journal(path)
    change = journal.record_intent(tenant_id="t", check_id="c", action="add", target={"id": "1"})
    with open(path, "ab") as handle:
        handle.write(b"\xff\xfe{half a rec")  # a crash mid-write, no newline
    journal.record_outcome(change, "applied", object_id="o1")
    [entry] = Journal(path).entries()
    assert entry.outcome == "applied" and entry.object_id == "o1"


@pytest.mark.parametrize("command", [["revert", "--sandbox", "legacy-ready", "--yes"],
                                     ["fix", "--sandbox", "legacy-fresh", "--yes"]])
def test_a_journal_that_is_a_directory_is_one_line_before_any_change(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    _journal(tmp_path).mkdir()
    code, _, err = _run(capsys, *command)
    assert code == 2
    line = _one_error_line(err)
    assert str(_journal(tmp_path)) in line and "is a directory" in line
    assert "Signed in" not in err


# --- profiles, cloud files, CA files --------------------------------------------------------


@pytest.mark.parametrize("name", ["profiles.json", "profile-secrets.json"])
def test_a_binary_profiles_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    from cipp_setup import profiles

    (tmp_path / "config" / "profiles.json").write_text(json.dumps({"version": 1, "profiles": {
        "p": {"tenant": "contoso.example", "api_url": "https://cipp.example.com", "api_client_id": "x",
              "secret_store": "file"}}}))
    (tmp_path / "config" / name).write_bytes(os.urandom(300))
    with pytest.raises(profiles.ProfileError) as raised:
        profiles.read_secret(profiles.get_profile("p", profiles.load_config()))
    assert name in str(raised.value) and "fix or delete it" in str(raised.value)


@pytest.mark.parametrize(("content", "expected"), [
    (os.urandom(300), "not a text file"),
    (b'{"authority_host":"https://","graph_url":"https://g.example","arm_url":"https://a.example"}', "valid host"),
    (b'{"authority_host":"https://999.999.999.999","graph_url":"https://g.example","arm_url":"https://a.example"}', "valid host"),
    (b'{"authority_host":"https://l.example","graph_url":"https://g.example","arm_url":"https://a.example",'
     b'"ca_file":"ca.pem"}', "PEM"),
    (b"[" * 5000, "nested"),
], ids=["binary", "empty-host", "numeric-host", "non-pem-ca", "nested"])
def test_a_bad_cloud_file_is_refused_up_front(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    (tmp_path / "cloud.json").write_bytes(content)
    code, _, err = _run(capsys, "check", "--cloud", "cloud.json", "--tenant", "contoso.example", "--non-interactive")
    assert code == 2
    assert expected in _one_error_line(err)


def test_a_cloud_file_that_is_a_directory_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "cloud.json").mkdir()
    code, _, err = _run(capsys, "check", "--cloud", str(tmp_path / "cloud.json"), "--tenant", "contoso.example")
    assert code == 2 and "cloud.json" in _one_error_line(err)


# --- URLs, report folders, secrets ---------------------------------------------------------


def test_an_api_url_with_an_impossible_address_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, *SANDBOX_CHECK, "--api-url", "https://999.999.999.999")
    assert code == 2 and "999.999.999.999" in _one_error_line(err)


def test_an_unwritable_report_folder_is_refused_before_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    code, _, err = _run(capsys, *SANDBOX_CHECK, "--report", str(tmp_path / "a-file" / "reports"))
    assert code == 2 and "is a file" in _one_error_line(err)
    assert "Signed in" not in err


def test_a_report_that_cannot_be_written_after_the_run_is_not_exit_0(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cipp_setup.render.bundle as bundle

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(bundle, "write_bundle", refuse)
    code, _, err = _run(capsys, *SANDBOX_CHECK, "--report", str(tmp_path / "reports"))
    assert code == 2 and "could not write the report" in _one_error_line(err)


def test_a_secret_with_a_byte_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"abc\xff\xfe\n")
    with secret.open("rb") as stdin:
        run = _cli(*SANDBOX_CHECK, "--client-secret-stdin", stdin=stdin)
    assert run.returncode == 2, run.stderr
    assert "--client-secret-stdin" in _one_error_line(run.stderr.decode())


# --- output streams ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
def test_output_in_any_encoding(encoding: str, json_mode: bool) -> None:
    env = dict(os.environ, PYTHONIOENCODING=encoding)
    run = _cli(*SANDBOX_CHECK, *(["--json"] if json_mode else []), env=env)
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    text = run.stdout.decode(encoding)
    if json_mode:
        assert json.loads(text)["exit_code"] == 0
    else:
        assert "-> legacy" in text  # the arrow of the generation evidence, as ASCII


def test_a_reader_that_goes_away_ends_quietly_with_the_verdict() -> None:
    # `check --json | true`: the reader closes the pipe before the JSON is written.
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    assert reader.stdin is not None
    run = _cli(*SANDBOX_CHECK, "--json", stdout=reader.stdin)
    reader.stdin.close()
    reader.wait()
    assert run.returncode == 0, run.stderr.decode()
    assert b"error" not in run.stderr.lower() and b"Traceback" not in run.stderr


def test_a_closed_stdout_ends_quietly_with_the_verdict() -> None:
    code = "import os, sys, runpy; os.close(1); sys.argv = ['cipp-setup', *sys.argv[1:]]; runpy.run_module('cipp_setup', run_name='__main__')"
    run = subprocess.run([sys.executable, "-c", code, *SANDBOX_CHECK], stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, timeout=180, check=False)
    assert run.returncode == 0, run.stderr.decode()
    assert b"internal error" not in run.stderr and b"Traceback" not in run.stderr


# --- token cache and crash logs ------------------------------------------------------------


def test_the_token_cache_is_not_shared_across_state_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cipp_setup.gateways import signin_cache

    names = {}
    for place in ("one", "two"):
        monkeypatch.delenv("CIPP_SETUP_STATE_DIR", raising=False)
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / place))
        names[place] = (signin_cache.cache_name(), signin_cache.cache_files()[0])
    assert names["one"][0] != names["two"][0]
    # logout in "one" removes only its own cache file
    for _, path in names.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "one"))
    assert main(["logout"]) == 0
    assert not names["one"][1].exists() and names["two"][1].exists()


def test_crash_logs_are_capped_oldest_first(tmp_path: Path) -> None:
    from cipp_setup.cli.main import CRASH_LOG_PREFIX, MAX_CRASH_LOGS, prune_crash_logs

    for index in range(MAX_CRASH_LOGS + 3):
        log = tmp_path / f"{CRASH_LOG_PREFIX}{index:02d}.log"
        log.write_text("x")
        os.utime(log, ns=(index * 10**9, index * 10**9))
    prune_crash_logs(tmp_path)
    left = sorted(p.name for p in tmp_path.glob(f"{CRASH_LOG_PREFIX}*.log"))
    assert left == [f"{CRASH_LOG_PREFIX}{i:02d}.log" for i in range(3, MAX_CRASH_LOGS + 3)]


def test_a_ca_file_that_is_not_a_readable_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cadir").mkdir()  # a CA "file" that cannot be read as one
    (tmp_path / "cloud.json").write_text(json.dumps({
        "authority_host": "https://l.example", "graph_url": "https://g.example", "arm_url": "https://a.example",
        "ca_file": "cadir"}))
    code, _, err = _run(capsys, "check", "--cloud", "cloud.json", "--tenant", "contoso.example", "--non-interactive")
    assert code == 2
    assert "ca_file" in _one_error_line(err) and "cadir" in err


def test_closing_the_clients_survives_one_being_created_meanwhile() -> None:
    """Seen: SIGINT during the check phase ended in `RuntimeError: dictionary changed size
    during iteration` in ArmGateway.close(): a worker thread was still creating a client.
    Here closing one client creates another, deterministically."""
    import asyncio

    from cipp_setup.gateways.arm import close_clients

    clients: dict[str, Any] = {}
    closed: list[str] = []

    class Client:
        def __init__(self, name: str) -> None:
            self.name = name

        def close(self) -> None:
            closed.append(self.name)
            clients[f"late-{self.name}"] = Client(f"late-{self.name}")  # a worker thread's new client

    for index in range(3):
        clients[f"c{index}"] = Client(f"c{index}")
    asyncio.run(close_clients(clients))
    assert sorted(closed) == ["c0", "c1", "c2"]
