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


# The line each command shows in `cipp-setup --help`. It is here, not only in the
# command's module, so that `--help` (and any one command) starts without importing the
# other eleven modules and building their parsers; tests/test_cli_usage.py keeps each
# line identical to the `help=` its module registers.
SUMMARIES: dict[str, str] = {
    "check": "check the tenant's CIPP API prerequisites and the API itself (read-only)",
    "explain": "explain a check: what it verifies, why it can fail, and how to fix it",
    "sandbox": "run or list sandbox tenants (an offline stand-in for Entra ID, Graph, ARM and CIPP)",
    "fix": "fix failing checks: show each change, ask, apply, re-verify (journaled)",
    "revert": "remove the temporary Global Administrator and Contributor rights cipp-setup added",
    "wizard": "guided setup: check, fix, activate and verify the CIPP API step by step",
    "demo": "try the wizard on an offline sandbox tenant (nothing real is touched)",
    "verify": "check that a saved CIPP API client still gets a token and reads ListLogs",
    "profile": "save, list, remove and choose API details (tenant, API URL, client id, secret)",
    "login": "sign in once; later runs (non-interactive ones too) sign in silently",
    "logout": "forget the saved sign-in (account records and the token cache)",
    "helpdesk": "for helpdesks: the one command a client runs, and the report bundle to send back",
}


def fix_command() -> str | None:
    """How reports should offer automatic fixes, or None while no `fix` command exists."""
    return f"{PROG} fix" if "fix" in COMMANDS else None
