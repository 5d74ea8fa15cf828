"""`cipp-setup helpdesk`: the one command a hosted client runs, and what they send back.

A helpdesk walking a client through enabling the CIPP API usually asks them to run one
command and send back what it says. This prints that command — flags only, nothing that
asks a question, read-only — filled in with what the helpdesk knows (`--tenant`,
`--sam-user`), and says what comes back: `cipp-report.zip`, the `--report` bundle
(report.md to paste into the ticket, report.html to read, report.json and junit.xml for
tools). Needs no sign-in and touches no network.

Hosted CIPP (the default): the client's tenant must provide the CIPP-SAM user's Global
Administrator role and the CIPP-SAM app's consent; the subscription belongs to the
helpdesk, so the command checks only those (the wizard's hosted prerequisites).
"""

from __future__ import annotations

import argparse
import shlex
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import EXIT_OK, PROG, parse_tenant, parse_user, validated

if TYPE_CHECKING:
    from cipp_setup.cli.terminal import Terminal

NAME = "helpdesk"
DEFAULT_REPORT_DIR = "cipp-report"
TENANT_PLACEHOLDER = "<tenant-domain>"

# What a client runs to install cipp-setup, one command per platform (the README's Quick
# start, without the demo). install.ps1 checks Python and long-path support before pip.
INSTALL_COMMANDS = (
    ("Windows PowerShell 5.1 or 7", r"powershell -ExecutionPolicy Bypass -File .\install.ps1"),
    ("macOS / Linux", "python3 -m venv .venv && .venv/bin/pip install ."),
)


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="for helpdesks: the one command a client runs, and the report bundle to send back",
        description=(
            "Print the one command a client should run (no questions, read-only) and what to "
            "send back: a zip of the report files, secrets never included. No sign-in needed."
        ),
        epilog=(
            "The client's run signs in to their tenant (a device code or a browser window) and "
            "writes DIR/ and DIR.zip in the folder it runs in."
        ),
    )
    parser.add_argument(
        "--tenant", type=validated("--tenant", parse_tenant), metavar="ID|DOMAIN",
        help=f"the client's tenant (default: a {TENANT_PLACEHOLDER} placeholder to fill in)",
    )
    parser.add_argument(
        "--sam-user", type=validated("--sam-user", parse_user), metavar="UPN|ID",
        help="the client's CIPP-SAM user (default: the admin who signs in)",
    )
    parser.add_argument(
        "--hosting", choices=("hosted", "self-hosted"), default="hosted",
        help="hosted (default): check only what the client's tenant provides; self-hosted: every check",
    )
    parser.add_argument(
        "--redact-ids", action="store_true",
        help="have the client's report replace tenant ids, user names and object ids by placeholders",
    )
    parser.add_argument(
        "--report-dir", default=DEFAULT_REPORT_DIR, metavar="NAME",
        help=f"the report directory the client's run writes (default: {DEFAULT_REPORT_DIR})",
    )
    return parser


def hosted_check_ids() -> tuple[str, ...]:
    """What a hosted client's tenant must provide: the wizard's hosted prerequisites."""
    from cipp_setup.wizard.flow import HOSTED, PREREQUISITES

    return tuple(PREREQUISITES[HOSTED])


def client_argv(
    *,
    tenant: str | None,
    sam_user: str | None,
    hosting: str = "hosted",
    redact_ids: bool = False,
    report_dir: str = DEFAULT_REPORT_DIR,
) -> list[str]:
    """The client's command line, as a list (the first item is the program)."""
    argv = [PROG, "check", "--tenant", tenant or TENANT_PLACEHOLDER]
    if sam_user:
        argv += ["--sam-user", sam_user]
    if hosting == "hosted":
        argv += ["--only", *hosted_check_ids()]
    argv += ["--report", report_dir]
    if redact_ids:
        argv.append("--redact-ids")
    return argv


def _quote(argv: list[str]) -> str:
    # The placeholder stays as written, for the helpdesk to replace; it is not quoted so
    # that pasting it unfilled fails in the shell (a redirection) instead of signing in.
    return " ".join(a if a == TENANT_PLACEHOLDER else shlex.quote(a) for a in argv)


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    argv = client_argv(
        tenant=args.tenant, sam_user=args.sam_user, hosting=args.hosting,
        redact_ids=args.redact_ids, report_dir=args.report_dir,
    )
    zip_name = args.report_dir.rstrip("/\\") + ".zip"  # a trailing \ too, as Windows users type it
    lines: list[Any] = [
        (("Ask the client to run this one command", "bold"),
         (" (read-only: it changes nothing and asks no question):", ""),),
        (),
        (("    " + _quote(argv), "bold cyan"),),
        (),
    ]
    if args.tenant is None:
        lines.append((((f"Replace {TENANT_PLACEHOLDER} with the client's tenant domain "
                       "(contoso.onmicrosoft.com) or tenant id, or pass --tenant here."), "yellow"),))
    if args.sam_user is None:
        lines.append(((("The CIPP-SAM user defaults to the admin who signs in; add --sam-user UPN "
                       "if that is someone else."), "dim"),))
    lines += [
        (("Before it: ", "bold"),
         (("the client installs cipp-setup (Python 3.10+) with one command, in a copy of its "
           "source folder:"), ""),),
        *((("    " + platform + ": ", "bold"), (command, "cyan")) for platform, command in INSTALL_COMMANDS),
        ((("Either puts it in .venv: the client then runs the command above as "
           r".venv\Scripts\cipp-setup (Windows) or .venv/bin/cipp-setup. The run signs in to "
           "the client's tenant with a device code or a browser window, as an admin who can "
           "read directory roles (Global Reader or Global Administrator)."), ""),),
        (("Send back: ", "bold"),
         (f"the file {zip_name}, written in the folder the command ran in. It holds "
          "report.md (paste into the ticket), report.html (open in any browser, works offline), "
          "report.json and junit.xml. No secret or token is ever written to it"
          + ("; tenant ids, user names and object ids are replaced by placeholders." if args.redact_ids
             else "; it does name the tenant and its users (add --redact-ids to hide them)."), ""),),
        (("Then: ", "bold"),
         (("the report's action plan lists what to do next, in order, each step with the portal path, "
          "the command line, and 'cipp-setup fix --only ID' where cipp-setup can do it."), ""),),
    ]
    terminal.report(lines)
    return EXIT_OK
