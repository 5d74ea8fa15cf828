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
            "Print the one command a client should run (no questions, read-only) for their CIPP "
            "generation, what their tenant must provide, and what to send back: a zip of the "
            "report files, secrets never included. No sign-in needed."
        ),
        epilog=(
            "The client's run signs in to their tenant (a device code or a browser window) and "
            "writes DIR/ and DIR.zip in the folder it runs in. Without --generation the "
            "generation is asked on a terminal; otherwise the commands for both are printed."
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
        "--generation", choices=GENERATION_NAMES, default=None,
        help="the client's CIPP: legacy (7.1 and older) or current (7.2+, API clients); "
        "asked when not given on a terminal",
    )
    parser.add_argument(
        "--hosting", choices=("hosted", "self-hosted"), default="hosted",
        help="hosted (default): check only what the client's tenant provides; self-hosted: every check",
    )
    parser.add_argument(
        "--cloud", metavar="NAME|FILE", default=None,
        help="the client's cloud, repeated in their command (usgov, china, or a cloud file)",
    )
    parser.add_argument(
        "--redact-ids", action="store_true",
        help="have the client's report replace tenant ids, user names and object ids by placeholders",
    )
    parser.add_argument(
        "--report-dir", default=DEFAULT_REPORT_DIR, metavar="NAME",
        help=f"the report directory the client's run writes (default: {DEFAULT_REPORT_DIR})",
    )
    parser.add_argument(
        "--non-interactive", action="store_true", help="never ask; print the commands for both generations",
    )
    return parser


GENERATION_NAMES = ("legacy", "current")
GENERATION_TITLES = {"legacy": "CIPP 7.1 and older (legacy)", "current": "CIPP 7.2 and newer (current, API clients)"}


def hosted_check_ids(generation: str = "legacy") -> tuple[str, ...]:
    """What a hosted client's tenant must provide: the wizard's hosted prerequisites."""
    return tenant_check_ids(generation, "hosted")


def tenant_check_ids(generation: str, hosting: str) -> tuple[str, ...]:
    """The checks the client's run makes: the wizard's prerequisites for that generation
    and hosting (hosted: only what the client's tenant provides)."""
    from cipp_setup.wizard.state import CURRENT_PREREQUISITES, PREREQUISITES

    table = CURRENT_PREREQUISITES if generation == "current" else PREREQUISITES
    return tuple(table[hosting])


def client_argv(
    *,
    tenant: str | None,
    sam_user: str | None,
    generation: str = "legacy",
    hosting: str = "hosted",
    redact_ids: bool = False,
    report_dir: str = DEFAULT_REPORT_DIR,
    cloud: str | None = None,
) -> list[str]:
    """The client's command line, as a list (the first item is the program)."""
    argv = [PROG, "check", "--tenant", tenant or TENANT_PLACEHOLDER, "--generation", generation]
    if cloud:
        argv += ["--cloud", cloud]
    if sam_user:
        argv += ["--sam-user", sam_user]
    if hosting == "hosted":
        argv += ["--only", *hosted_check_ids(generation)]
    argv += ["--report", report_dir]
    if redact_ids:
        argv.append("--redact-ids")
    return argv


def _quote(argv: list[str], shell: str = "posix") -> str:
    # The placeholder stays as written, for the helpdesk to replace; it is not quoted so
    # that pasting it unfilled fails in the shell (a redirection) instead of signing in.
    from cipp_setup.cli.suggested import quote

    return " ".join(a if a == TENANT_PLACEHOLDER else quote(a, shell) for a in argv)  # type: ignore[arg-type]


def _ask_generation(terminal: Terminal) -> str:
    import asyncio

    import questionary
    from prompt_toolkit.output import create_output

    output = create_output(stdout=terminal.stderr, always_prefer_tty=True)  # type: ignore[arg-type]
    choices = [questionary.Choice(GENERATION_TITLES[g], value=g) for g in GENERATION_NAMES]
    answer = asyncio.run(questionary.select(
        "Which CIPP does the client run? (CIPP → Settings shows the version)", choices=choices, output=output,
    ).unsafe_ask_async())
    return str(answer)


def _requirement_lines(generation: str, hosting: str) -> list[Any]:
    from cipp_setup.checks import REGISTRY

    titles = {c.spec.id: c.spec.title for c in REGISTRY}
    lines: list[Any] = [(("The client's tenant must provide", "bold"), (f" ({GENERATION_TITLES[generation]}, {hosting}):", ""))]
    lines += [((f"    - {titles.get(cid, cid)} ", ""), (f"[{cid}]", "dim")) for cid in tenant_check_ids(generation, hosting)]
    return lines


def _generation_lines(args: argparse.Namespace, generation: str, *, label: bool) -> list[Any]:
    from cipp_setup.cli.suggested import RunOptions
    from cipp_setup.shell import user_shell

    shell = user_shell()
    argv = client_argv(
        tenant=args.tenant, sam_user=args.sam_user, generation=generation, hosting=args.hosting,
        redact_ids=args.redact_ids, report_dir=args.report_dir, cloud=args.cloud,
    )
    lines: list[Any] = []
    if label:
        lines += [((GENERATION_TITLES[generation] + ":", "bold underline"),)]
    lines += [
        (("Ask the client to run this one command", "bold"),
         (" (read-only: it changes nothing and asks no question):", ""),),
        (),
        (("    " + _quote(argv, shell), "bold cyan nowrap"),),
        (),
        *_requirement_lines(generation, args.hosting),
    ]
    if args.hosting == "hosted":
        values = {"--tenant": args.tenant or TENANT_PLACEHOLDER, "--generation": generation}
        if args.cloud:
            values["--cloud"] = args.cloud
        if args.sam_user:
            values["--sam-user"] = args.sam_user
        options = RunOptions(values, shell)
        ids = tenant_check_ids(generation, "hosted")
        fix = options.command("fix", "--only", *ids).replace(quote_placeholder(shell), TENANT_PLACEHOLDER)
        revert = options.command("revert").replace(quote_placeholder(shell), TENANT_PLACEHOLDER)
        lines += [
            (("If the report fails: ", "bold"), ("the client gives those rights with (it shows each change and asks):", "")),
            (("    " + fix, "cyan nowrap"),),
        ]
        if generation == "legacy":
            lines += [
                (("Once you have enabled the API: ", "bold"),
                 ("the client gives the temporary rights back (Global Administrator for the CIPP-SAM user):", "")),
                (("    " + revert, "cyan nowrap"),),
            ]
        else:
            lines += [
                (("Once you have enabled the API: ", "bold"),
                 ("nothing temporary to give back: CIPP keeps using the Graph permissions to save API clients.", "")),
            ]
    lines.append(())
    return lines


def quote_placeholder(shell: str) -> str:
    from cipp_setup.cli.suggested import quote

    return quote(TENANT_PLACEHOLDER, shell)  # type: ignore[arg-type]


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    generations: tuple[str, ...]
    if args.generation:
        generations = (args.generation,)
    elif terminal.can_prompt() and not args.non_interactive:
        generations = (_ask_generation(terminal),)
    else:
        generations = GENERATION_NAMES
    zip_name = args.report_dir.rstrip("/\\") + ".zip"  # a trailing \ too, as Windows users type it
    lines: list[Any] = []
    for generation in generations:
        lines += _generation_lines(args, generation, label=len(generations) > 1)
    if args.tenant is None:
        lines.append((((f"Replace {TENANT_PLACEHOLDER} with the client's tenant domain "
                       "(contoso.onmicrosoft.com) or tenant id, or pass --tenant here."), "yellow"),))
    if args.sam_user is None:
        lines.append(((("Without --sam-user the run finds the CIPP-SAM user in the tenant (named like "
                       "CIPP's service account, the CIPP-SAM app's owner, a per-user consent to it) and "
                       "names the one it tested; if several fit, it lists them and stops (exit 2): add "
                       "--sam-user UPN here to settle it in one go."), "dim"),))
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
          "the Azure CLI and PowerShell commands, and the cipp-setup fix command where cipp-setup can do it."), ""),),
    ]
    terminal.report(lines)
    return EXIT_OK
