"""The code paths that differ on Windows, exercised on Linux where that is honest: the
branch's own logic runs with `sys.platform` (or the console's code page) as Windows has
it, and the part only Windows has (DPAPI, the console) stays out. docs/windows.md lists
each path, which test covers it, and what stays unverified until it runs on Windows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.gateways import auth, signin_cache


def test_the_windows_token_cache_is_the_dpapi_file_azure_identity_writes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`logout` removes cache_files(); on Windows azure-identity keeps the cache in a DPAPI-
    encrypted file under %LOCALAPPDATA%. Its own platform branch decides the file: run it
    with Windows' sys.platform and record where it would put it (DPAPI itself is Windows')."""
    import msal_extensions
    from azure.identity import _persistent_cache

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "AppData" / "Local"))
    locations: list[str] = []

    class RecordingDataProtection:
        is_encrypted = True  # what DPAPI's persistence says of itself

        def __init__(self, location: str, *args: Any, **kwargs: Any) -> None:
            self.location = location
            locations.append(location)

        def get_location(self) -> str:
            return self.location

    monkeypatch.setattr(msal_extensions, "FilePersistenceWithDataProtection", RecordingDataProtection)
    for is_cae in (False, True):
        _persistent_cache._load_persistent_cache(signin_cache.persistence_options(False), is_cae=is_cae)

    assert len(locations) == 2
    ours = {str(p) for p in signin_cache.cache_files()}
    assert set(locations) <= ours
    assert {loc + ".lockfile" for loc in locations} <= ours  # msal-extensions' lock beside it
    assert all(loc.startswith(str(tmp_path / "AppData" / "Local" / ".IdentityService")) for loc in locations)
    assert signin_cache.encryption_available()  # DPAPI: no opt-in to plain files needed


def test_windows_signs_in_with_a_browser_unless_over_ssh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    for name in ("SSH_CONNECTION", "SSH_TTY", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert auth.default_interactive_mode() == "browser"  # no DISPLAY on Windows, and none needed
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 50000 10.0.0.2 22")  # Windows' OpenSSH server
    assert auth.default_interactive_mode() == "device-code"


@pytest.mark.parametrize("code_page", ["cp1252", "cp437"])  # ANSI and OEM
def test_a_report_redirected_in_a_windows_code_page_prints_without_an_encoding_error(
    code_page: str, tmp_path: Path
) -> None:
    """Windows gives a redirected stdout/stderr (`> report.txt`, a pipe) the ANSI or OEM code
    page, which has no ✓ ✗ →. The whole human report must still print, in ASCII marks."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE")}
    env["PYTHONIOENCODING"] = code_page
    run = subprocess.run(
        [sys.executable, "-m", "cipp_setup", "check", "--sandbox", "legacy-fresh"],
        capture_output=True, env=env, cwd=tmp_path, check=False, timeout=120,
    )
    out, err = run.stdout.decode(code_page), run.stderr.decode(code_page)
    assert run.returncode == 1, err  # legacy-fresh fails its checks: a verdict, not a crash
    assert "UnicodeEncodeError" not in err and "Traceback" not in err
    assert "[x] sam-user-global-admin" in out and "[✗]" not in out
    assert "Result" in out or "required" in out


def test_config_and_state_go_where_windows_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our platformdirs arguments under its Windows implementation (the folder lookup, a
    Win32 call, answered as Windows answers it from the user's profile)."""
    import platformdirs
    import platformdirs.windows

    from cipp_setup import profiles
    from cipp_setup.engine import journal

    known = {"CSIDL_APPDATA": r"C:\Users\me\AppData\Roaming", "CSIDL_LOCAL_APPDATA": r"C:\Users\me\AppData\Local"}
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", known.__getitem__)
    monkeypatch.setattr(platformdirs, "PlatformDirs", platformdirs.windows.Windows)
    monkeypatch.delenv(profiles.CONFIG_DIR_ENV, raising=False)
    monkeypatch.delenv(journal.STATE_DIR_ENV, raising=False)
    # The details roam with the user (like az's config); the journal and sign-in stay local.
    assert str(profiles.config_dir()).startswith(known["CSIDL_APPDATA"])
    assert str(journal.state_dir()).startswith(known["CSIDL_LOCAL_APPDATA"])
    assert "cipp-setup" in str(profiles.config_dir()) and "cipp-setup" in str(journal.state_dir())


def test_a_windows_report_folder_with_a_trailing_backslash_names_its_zip(capsys: pytest.CaptureFixture[str]) -> None:
    from cipp_setup.cli.main import main

    assert main(["helpdesk", "--report-dir", "cipp-report\\"]) == 0
    out = capsys.readouterr().out
    assert "the file cipp-report.zip" in out and "cipp-report\\.zip" not in out
