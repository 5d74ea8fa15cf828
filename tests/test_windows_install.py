"""Windows install, checked on any OS: the long-path probe install.ps1 runs before pip (the
registry stood in for at its edge, the `winreg` calls), its message, the order of the
script's steps, and the README's and helpdesk's Windows commands as PowerShell.

PowerShell itself cannot run here; docs/windows.md lists what stays unverified until it does.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PREFLIGHT_PATH = REPO / "tools" / "windows_preflight.py"


def _load_preflight() -> ModuleType:
    spec = importlib.util.spec_from_file_location("windows_preflight", PREFLIGHT_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


preflight = _load_preflight()


class FakeWinreg:
    """The part of `winreg` the probe uses, answering as Windows does: OpenKey and
    QueryValueEx raise FileNotFoundError (an OSError) for what does not exist."""

    HKEY_LOCAL_MACHINE = 0x80000002
    REG_SZ = 1
    REG_DWORD = 4

    def __init__(self, values: dict[str, tuple[Any, int]] | None, *, open_error: type[OSError] = FileNotFoundError):
        self.values = values  # None: the key itself is missing
        self.open_error = open_error
        self.opened: list[tuple[int, str]] = []
        self.closed = 0

    def OpenKey(self, hive: int, path: str) -> str:
        if self.values is None or hive != self.HKEY_LOCAL_MACHINE:
            raise self.open_error(2, "The system cannot find the file specified")
        self.opened.append((hive, path))
        return path

    def QueryValueEx(self, key: str, name: str) -> tuple[Any, int]:
        assert self.values is not None
        if name not in self.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return self.values[name]

    def CloseKey(self, key: str) -> None:
        self.closed += 1


def _run(registry: FakeWinreg, version: tuple[int, ...] = (3, 12, 1), platform: str = "win32") -> tuple[int, list[str]]:
    written: list[str] = []
    code = preflight.preflight(version, platform, registry, written.append, executable=r"C:\Python312\python.exe")
    return code, written


def test_long_paths_on_lets_the_install_go_ahead_silently() -> None:
    registry = FakeWinreg({"LongPathsEnabled": (1, FakeWinreg.REG_DWORD)})
    assert _run(registry) == (preflight.READY, [])
    assert registry.opened == [(FakeWinreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\FileSystem")]
    assert registry.closed == 1


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"LongPathsEnabled": (0, FakeWinreg.REG_DWORD)}, "Windows' default"),
        ({}, "value never set"),
        (None, "key missing"),
        ({"LongPathsEnabled": ("1", FakeWinreg.REG_SZ)}, "a string, which Windows ignores"),
        ({"LongPathsEnabled": (2, FakeWinreg.REG_DWORD)}, "not 1"),
    ],
)
def test_long_paths_off_stops_before_pip_with_one_paragraph(values: dict[str, tuple[Any, int]] | None, why: str) -> None:
    registry = FakeWinreg(values)
    code, written = _run(registry)
    assert code == preflight.LONG_PATHS_OFF, why
    assert written == [preflight.long_paths_message()]
    if values is not None:
        assert registry.closed == 1  # the key is closed on every path


def test_a_registry_that_refuses_to_open_the_key_counts_as_off() -> None:
    assert _run(FakeWinreg({}, open_error=PermissionError))[0] == preflight.LONG_PATHS_OFF
    assert _run(FakeWinreg(None, open_error=PermissionError))[0] == preflight.LONG_PATHS_OFF


def test_the_message_says_what_to_do_in_one_paragraph() -> None:
    message = preflight.long_paths_message()
    assert "Traceback" not in message and "Errno" not in message
    assert "long-path support is off" in message and "was not installed" in message
    assert str(preflight.LONGEST_INSTALLED_PATH) in message and "260" in message
    # The one elevated command, exactly as PowerShell takes it, on its own line...
    assert "open PowerShell as Administrator" in message
    command_lines = [line.strip() for line in message.splitlines() if line.strip().startswith("New-ItemProperty")]
    assert command_lines == [(
        "New-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem' "
        "-Name LongPathsEnabled -Value 1 -PropertyType DWORD -Force"
    )]
    assert_powershell_statement(command_lines[0])
    # ...or the group policy, and what to do after.
    assert "Enable Win32 long paths" in message and "group policy" in message
    assert "new PowerShell window" in message and "install again" in message
    prose = [block for block in message.split("\n\n") if not block.startswith("    ")]
    assert len(prose) == 2  # one paragraph, broken only around the command


def test_an_old_python_is_named_before_the_registry_is_read() -> None:
    registry = FakeWinreg({"LongPathsEnabled": (0, FakeWinreg.REG_DWORD)})
    code, written = _run(registry, version=(3, 8, 10))
    assert code == preflight.PYTHON_TOO_OLD
    assert len(written) == 1 and "3.10 or newer" in written[0] and "3.8.10" in written[0]
    assert r"C:\Python312\python.exe" in written[0] and "winget install" in written[0]
    assert registry.opened == []


def test_off_windows_there_is_nothing_to_read() -> None:
    assert preflight.preflight((3, 11, 0), "linux", None, pytest.fail) == preflight.READY


def test_the_script_runs_as_install_ps1_runs_it() -> None:
    run = subprocess.run([sys.executable, str(PREFLIGHT_PATH)], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")  # not Windows: ready, silent


def test_the_stated_longest_path_is_what_msgraph_installs_here() -> None:
    # The figure in the message and the README is a measurement (bench/bench_install.py);
    # this venv's msgraph-sdk must still be past Windows' limit for the check to matter.
    site = Path(sysconfig.get_paths()["purelib"])
    longest = max(len(str(p.relative_to(site))) for p in (site / "msgraph").rglob("*.py"))
    assert longest > preflight.WINDOWS_PATH_LIMIT - len(r"C:\Users\me\cipp-setup\.venv\Lib\site-packages" + "\\")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"{preflight.LONGEST_INSTALLED_PATH} characters" in readme


# --- install.ps1 ----------------------------------------------------------------------------

INSTALL_PS1 = (REPO / "install.ps1").read_text(encoding="utf-8")


def _code_lines(script: str) -> list[str]:
    lines, in_block_comment = [], False
    for raw in script.splitlines():
        line = raw.strip()
        if line.startswith("<#"):
            in_block_comment = True
        if in_block_comment:
            in_block_comment = "#>" not in line
            continue
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_install_ps1_probes_before_pip_and_stops_on_its_answer() -> None:
    code = _code_lines(INSTALL_PS1)
    probe = next(i for i, line in enumerate(code) if "windows_preflight.py" in line)
    assert code[probe + 1] == "if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }"
    venv = next(i for i, line in enumerate(code) if "-m venv" in line)
    pip = next(i for i, line in enumerate(code) if "-m pip install" in line)
    assert probe < venv < pip  # nothing is created or installed before the probe
    assert r"tools\windows_preflight.py" in code[probe] and PREFLIGHT_PATH.is_file()


def test_install_ps1_is_windows_powershell_5_1_syntax() -> None:
    for line in _code_lines(INSTALL_PS1):
        assert_powershell_statement(line, allow_script=True)
    assert "[CmdletBinding()]" not in INSTALL_PS1  # arguments like --yes must reach cipp-setup
    assert "py', '-3'" in INSTALL_PS1 and r"\WindowsApps\*" in INSTALL_PS1


# --- PowerShell commands as written for users --------------------------------------------


def powershell_tokens(line: str) -> list[str]:
    """PowerShell argument-mode tokens: quoted strings kept whole ('' and "" quoting), `;` a
    token of its own. Enough to see separators and paths, not a full parser."""
    tokens: list[str] = []
    current = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if ch in "'\"":
            end = line.find(ch, i + 1)
            assert end != -1, f"unterminated string in: {line}"
            current += line[i:end + 1]
            i = end + 1
            continue
        if ch in " \t;":
            if current:
                tokens.append(current)
            current = ""
            if ch == ";":
                tokens.append(";")
        else:
            current += ch
        i += 1
    if current:
        tokens.append(current)
    return tokens


PROGRAMS = {"py", "powershell", "pwsh", "pipx", "uv", "git", "cd", "Set-Location", "New-ItemProperty"}


def assert_powershell_statement(line: str, *, allow_script: bool = False) -> None:
    """What Windows PowerShell 5.1 accepts, and what a Windows user's machine has."""
    tokens = powershell_tokens(line)
    assert "&&" not in tokens and "||" not in tokens, f"no && or || in Windows PowerShell 5.1: {line}"
    assert not any(t in ("python3", "python3.exe") for t in tokens), f"python3 is not on Windows: {line}"
    bare = [t for t in tokens if t[:1] not in "'\""]
    assert not any(".venv/" in t or t.startswith("./") for t in bare), f"Windows paths use backslashes: {line}"
    if allow_script:
        return
    statements: list[list[str]] = [[]]
    for token in tokens:
        if token == ";":
            statements.append([])
        else:
            statements[-1].append(token)
    for statement in statements:
        assert statement, f"empty statement in: {line}"
        program = statement[0]
        assert program in PROGRAMS or program.startswith((".venv\\Scripts\\", ".\\")), (
            f"{program!r} is not a program a Windows user has: {line}")


def _readme_blocks(language: str) -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", readme, flags=re.DOTALL)


def test_the_readmes_windows_commands_are_powershell() -> None:
    blocks = _readme_blocks("powershell")
    assert len(blocks) >= 4
    for block in blocks:
        for line in block.splitlines():
            if line.strip():
                assert_powershell_statement(line.strip())
    commands = [b.strip() for b in blocks]
    # The Quick start: install + wizard on the sandbox, install + tests, each one command.
    assert commands[:2] == [r"powershell -ExecutionPolicy Bypass -File .\install.ps1 demo",
                            r"powershell -ExecutionPolicy Bypass -File .\install.ps1 -Tests"]
    by_hand = next(c for c in commands if c.startswith("py -m venv"))
    assert powershell_tokens(by_hand).count(";") == 2 and r".venv\Scripts\python" in by_hand


def test_the_quick_start_has_two_commands_per_platform() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = readme[readme.index("## Quick start"):readme.index("### Windows: long paths")]
    assert len(re.findall(r"```powershell\n", quick)) == 2
    assert len(re.findall(r"```sh\n", quick)) == 2
    assert "cipp-setup demo" in quick and "pytest" in quick and "install.ps1 demo" in quick


def test_the_rejects_are_rejected() -> None:
    for bad in ("py -m venv .venv && .venv\\Scripts\\pip install .",
                "python3 -m venv .venv",
                "py -m venv .venv; .venv/bin/pip install .",
                "py -m venv .venv;; py -V",
                "source .venv\\Scripts\\activate"):
        with pytest.raises(AssertionError):
            assert_powershell_statement(bad)


def test_the_helpdesk_install_commands_are_one_per_platform() -> None:
    from cipp_setup.cli.helpdesk_cmd import INSTALL_COMMANDS

    platforms = dict(INSTALL_COMMANDS)
    windows = platforms["Windows PowerShell 5.1 or 7"]
    assert_powershell_statement(windows)
    assert powershell_tokens(windows).count(";") == 0  # one command
    assert windows in _readme_blocks("powershell")[0]  # the Quick start's, without the demo
    assert platforms["macOS / Linux"] in _readme_blocks("sh")[0]


def test_the_helpdesk_prints_them(capsys: pytest.CaptureFixture[str]) -> None:
    from cipp_setup.cli.helpdesk_cmd import INSTALL_COMMANDS
    from cipp_setup.cli.main import main

    assert main(["helpdesk", "--tenant", "contoso.onmicrosoft.com"]) == 0
    out = capsys.readouterr().out
    assert "see its README" not in out
    for platform, command in INSTALL_COMMANDS:
        assert f"{platform}: {command}" in out
