"""Before pip runs on Windows: is this Python new enough, and can Windows create the long
paths that msgraph-sdk installs? install.ps1 runs this with the Python it found.

Standard library only (nothing is installed yet) and importable by any Python 3.7+, so an
old interpreter gets the version message rather than a syntax error. The registry is read
through a `winreg`-shaped object passed in by the caller, so tests stand in for it on Linux
with exactly the calls Windows answers (OpenKey, QueryValueEx, CloseKey).

Exit codes: 0 ready, 3 long paths are off, 4 this Python is too old.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

READY = 0
LONG_PATHS_OFF = 3
PYTHON_TOO_OLD = 4

MINIMUM_PYTHON = (3, 10)

# The longest file path msgraph-sdk 1.65 installs, counted from site-packages (a compiled
# request builder under msgraph/generated/identity/authentication_events_flows/...;
# bench/bench_install.py measures it). Without long paths Windows allows 260 characters for
# the whole path, the venv's own folder included, so no install folder is short enough.
LONGEST_INSTALLED_PATH = 349
WINDOWS_PATH_LIMIT = 260

FILESYSTEM_KEY = r"SYSTEM\CurrentControlSet\Control\FileSystem"
LONG_PATHS_VALUE = "LongPathsEnabled"
ENABLE_COMMAND = (
    "New-ItemProperty -Path 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem' "
    "-Name LongPathsEnabled -Value 1 -PropertyType DWORD -Force"
)
GROUP_POLICY = (
    "Computer Configuration > Administrative Templates > System > Filesystem > "
    "Enable Win32 long paths"
)


def long_paths_enabled(registry: Any) -> bool:
    """LongPathsEnabled under HKLM\\...\\FileSystem is a DWORD 1. A missing key or value,
    another type or any other number means off (Windows' own default is 0)."""
    try:
        key = registry.OpenKey(registry.HKEY_LOCAL_MACHINE, FILESYSTEM_KEY)
    except OSError:
        return False
    try:
        value, kind = registry.QueryValueEx(key, LONG_PATHS_VALUE)
    except OSError:
        return False
    finally:
        registry.CloseKey(key)
    return bool(kind == registry.REG_DWORD and value == 1)


def long_paths_message() -> str:
    """One paragraph: what is wrong, why it matters, the one elevated command, the policy."""
    return (
        "cipp-setup was not installed: Windows long-path support is off on this computer. "
        f"The Microsoft Graph SDK that cipp-setup needs installs files whose paths reach "
        f"{LONGEST_INSTALLED_PATH} characters inside site-packages, and without long-path "
        f"support Windows allows {WINDOWS_PATH_LIMIT} for the whole path, so pip would stop "
        "half-way with 'No such file or directory'. To turn it on, open PowerShell as "
        f"Administrator and run:\n\n    {ENABLE_COMMAND}\n\n(where a group policy manages "
        f"it, an administrator sets \"{GROUP_POLICY}\" to Enabled instead). Then open a new "
        "PowerShell window and run the install again."
    )


def python_too_old_message(version: Sequence[Any], executable: str) -> str:
    need = ".".join(map(str, MINIMUM_PYTHON))
    have = ".".join(map(str, version[:3]))
    return (
        f"cipp-setup was not installed: it needs Python {need} or newer, and the Python "
        f"found is {have} ({executable}). Install a newer one (winget install "
        "Python.Python.3.12, or from python.org), then run the install again."
    )


def preflight(version: Sequence[Any], platform: str, registry: Any,
              write: Callable[[str], object], executable: str = "") -> int:
    """The checks, in the order a user must fix them; `write` gets the message, if any."""
    if tuple(version[:2]) < MINIMUM_PYTHON:
        write(python_too_old_message(version, executable or sys.executable))
        return PYTHON_TOO_OLD
    if platform.startswith("win") and not long_paths_enabled(registry):
        write(long_paths_message())
        return LONG_PATHS_OFF
    return READY


def main() -> int:
    registry: Any = None
    if sys.platform.startswith("win"):
        import winreg

        registry = winreg
    return preflight(tuple(sys.version_info), sys.platform, registry,
                     lambda text: sys.stderr.write(text + "\n"))


if __name__ == "__main__":
    sys.exit(main())
