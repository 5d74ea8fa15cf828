"""The command table: which module under `cipp_setup.cli` implements each command.

Its own module so that what reports say about commands (`fix_command`) does not reach
back into the entry point: `main` imports this, and so do the report writers.
"""

from __future__ import annotations

from cipp_setup.cli.options import PROG

# command name -> module under cipp_setup.cli. Later issues add fix, revert, wizard, demo,
# verify, profile, login, logout, helpdesk: one line here and one module each.
COMMANDS: dict[str, str] = {
    "check": "check_cmd",
    "explain": "explain_cmd",
    "sandbox": "sandbox_cmd",
    "fix": "fix_cmd",
    "revert": "revert_cmd",
    "wizard": "wizard_cmd",
    "demo": "demo_cmd",
    "verify": "verify_cmd",
    "profile": "profile_cmd",
    "login": "login_cmd",
    "logout": "logout_cmd",
    "helpdesk": "helpdesk_cmd",
}


def fix_command() -> str | None:
    """How reports should offer automatic fixes, or None while no `fix` command exists."""
    return f"{PROG} fix" if "fix" in COMMANDS else None
