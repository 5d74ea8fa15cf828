"""The user's shell, for the commands the tool prints: PowerShell on Windows, POSIX elsewhere.

Most CIPP admins run Windows PowerShell; a `$NAME` or `export` shown to them does not run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Literal

Shell = Literal["powershell", "posix"]


def user_shell(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Shell:
    """PowerShell on Windows (cmd users are few, and PowerShell is the default terminal);
    POSIX elsewhere, unless PowerShell is running there (pwsh sets PSModulePath)."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if plat.startswith("win"):
        return "powershell"
    if env.get("CIPP_SETUP_SHELL") in ("powershell", "posix"):
        return env["CIPP_SETUP_SHELL"]  # type: ignore[return-value]
    return "posix"


def env_ref(name: str, shell: Shell) -> str:
    """How a command refers to environment variable `name`."""
    return f"$env:{name}" if shell == "powershell" else f"${name}"


def set_env_hidden(name: str, shell: Shell) -> str:
    """A command that reads a value without echoing it and puts it in `name`."""
    if shell == "powershell":
        return f"${env_ref(name, shell)[1:]} = [Net.NetworkCredential]::new('', (Read-Host -AsSecureString 'Secret')).Password"
    return f"read -rs {name} && export {name}"


def env(name: str) -> str:
    """`name` as the user's shell writes it ($env:NAME in PowerShell, $NAME in POSIX shells)."""
    return env_ref(name, user_shell())
