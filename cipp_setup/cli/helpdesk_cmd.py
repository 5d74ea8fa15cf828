"""`cipp-setup helpdesk`: the one command a hosted client runs, and what they send back.

A helpdesk walking a client through enabling the CIPP API usually asks them to run one
command and send back what it says. This prints that command — flags only, nothing that
asks a question, read-only — filled in with what the helpdesk knows (`--tenant`,
`--sam-user`), and says what comes back: `cipp-report.zip`, the `--report` bundle
(report.md to paste into the ticket, report.html to read, report.json and junit.xml for
tools). Needs no sign-in and touches no network.

Per CIPP profile (the wizard's prerequisites; hosted: only what the client's tenant provides,
the subscription and Function App are the helpdesk's):
- legacy (7.1 and older): the CIPP-SAM user's Global Administrator role and the CIPP-SAM
  app's Azure Service Management consent; both temporary: `revert` gives them back;
- 7.2-7.3 (the CIPP-SAM user writes the API clients): a role of the CIPP-SAM user that may
  create app registrations, temporary (Cloud Application Administrator when cipp-setup
  adds it: `revert` gives it back);
- 7.4+ (the CIPP-SAM app writes them): the app's Graph application permissions, which
  CIPP uses whenever clients are created or secrets reset: nothing to give back.
The client's command names the version (`--cipp-version`), so its report judges those
checks instead of calling them version-dependent.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import (
    EXIT_OK,
    PROG,
    UsageError,
    parse_cipp_version,
    parse_tenant,
    parse_user,
    validated,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
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
            "writes DIR/ and DIR.zip in the folder it runs in. Without --cipp-version the version "
            "range (7.1 and older, 7.2-7.3, 7.4+) is asked on a terminal; otherwise the commands "
            "for each range --generation leaves open are printed."
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
        help="the client's CIPP: legacy (7.1 and older) or current (7.2+, API clients; which "
        "of 7.2-7.3 or 7.4+ from --cipp-version, else asked); asked when not given on a terminal",
    )
    parser.add_argument(
        "--cipp-version", type=validated("--cipp-version", parse_cipp_version), metavar="VERSION",
        help="the client's CIPP version (e.g. 7.3.1): decides legacy, 7.2-7.3 or 7.4+ and goes into "
        "their command",
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
        "--non-interactive", action="store_true", help="never ask; print the commands for each CIPP version range the flags leave open",
    )
    return parser


GENERATION_NAMES = ("legacy", "current")
GENERATION_TITLES = {"legacy": "CIPP 7.1 and older (legacy)", "current": "CIPP 7.2 and newer (current, API clients)"}
# The helpdesk's three cases: (generation, profile). A profile stands for a version range;
# its client command carries a version of that range unless the helpdesk gave the real one.
# 7.4+ before 7.2-7.3: most instances today, and every hosted one, run 7.4 or later.
PROFILES = ("legacy", "clients-by-app", "clients-by-user")
PROFILE_TITLES = {
    "legacy": "CIPP 7.1 and older (legacy)",
    "clients-by-user": "CIPP 7.2-7.3 (API clients, created as the CIPP-SAM user)",
    "clients-by-app": "CIPP 7.4 and newer (API clients, created by the CIPP-SAM app)",
}
RANGE_VERSION = {"clients-by-user": "7.2", "clients-by-app": "7.4"}


def generation_of(profile: str) -> str:
    return "legacy" if profile == "legacy" else "current"


def hosted_check_ids(profile: str = "legacy") -> tuple[str, ...]:
    """What a hosted client's tenant must provide: the wizard's hosted prerequisites."""
    return tenant_check_ids(profile, "hosted")


def tenant_check_ids(profile: str, hosting: str) -> tuple[str, ...]:
    """The checks the client's run makes: the wizard's prerequisites for that profile
    and hosting (hosted: only what the client's tenant provides). `profile` "current"
    (no version): both current profiles' checks."""
    from cipp_setup.wizard.state import prerequisite_table

    table = prerequisite_table(generation_of(profile), None if profile == "current" else profile)
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
    cipp_version: str | None = None,
) -> list[str]:
    """The client's command line, as a list (the first item is the program). `generation`
    may be a profile (legacy, clients-by-user, clients-by-app)."""
    profile = generation if generation in PROFILES else ("legacy" if generation == "legacy" else "clients-by-app")
    argv = [PROG, "check", "--tenant", tenant or TENANT_PLACEHOLDER, "--generation", generation_of(profile)]
    if profile != "legacy":
        # The version decides the current checks: without it a 7.2-7.3 check would only
        # report that it depends on the version, and the report could pass a failing tenant.
        argv += ["--cipp-version", cipp_version or RANGE_VERSION[profile]]
    if cloud:
        argv += ["--cloud", cloud]
    if sam_user:
        argv += ["--sam-user", sam_user]
    if hosting == "hosted":
        argv += ["--only", *hosted_check_ids(profile)]
    argv += ["--report", report_dir]
    if redact_ids:
        argv.append("--redact-ids")
    return argv


def _quote(argv: list[str], shell: str = "posix") -> str:
    # The placeholder stays as written, for the helpdesk to replace; it is not quoted so
    # that pasting it unfilled fails in the shell (a redirection) instead of signing in.
    from cipp_setup.cli.suggested import quote

    return " ".join(a if a == TENANT_PLACEHOLDER else quote(a, shell) for a in argv)  # type: ignore[arg-type]


def _ask_profile(terminal: Terminal, generation: str | None) -> str:
    import asyncio

    import questionary
    from prompt_toolkit.output import create_output

    output = create_output(stdout=terminal.stderr, always_prefer_tty=True)  # type: ignore[arg-type]
    wanted = PROFILES if generation is None else tuple(p for p in PROFILES if generation_of(p) == generation)
    choices = [questionary.Choice(PROFILE_TITLES[p], value=p) for p in wanted]
    answer = asyncio.run(questionary.select(
        "Which CIPP does the client run? (CIPP shows its version at the bottom of its menu)",
        choices=choices, output=output,
    ).unsafe_ask_async())
    return str(answer)


def _requirement_lines(profile: str, hosting: str) -> list[Any]:
    from cipp_setup.checks import REGISTRY

    titles = {c.spec.id: c.spec.title for c in REGISTRY}
    lines: list[Any] = [(("The client's tenant must provide", "bold"), (f" ({PROFILE_TITLES[profile]}, {hosting}):", ""))]
    lines += [((f"    - {titles.get(cid, cid)} ", ""), (f"[{cid}]", "dim")) for cid in tenant_check_ids(profile, hosting)]
    return lines


# What the client gives back once the helpdesk has enabled the API, per profile.
GIVE_BACK = {
    "legacy": "the client gives the temporary rights back (Global Administrator for the CIPP-SAM user):",
    "clients-by-user": ("the client gives the temporary rights back (the role cipp-setup gave the CIPP-SAM user to "
                        "create app registrations); new API clients need it again:"),
}
KEEP = {
    "clients-by-app": ("nothing temporary to give back: CIPP uses the CIPP-SAM app's Graph application permissions "
                       "whenever API clients are created or their secrets reset."),
}


def _generation_lines(run_inputs: RunInputs, profile: str, *, label: bool) -> list[Any]:
    from cipp_setup.cli.suggested import RunOptions
    from cipp_setup.shell import user_shell

    shell = user_shell()
    tenant, sam_user = run_inputs.identities.tenant, run_inputs.identities.sam_user
    hosting, cloud = str(run_inputs.options.hosting), run_inputs.connection.cloud
    generation = generation_of(profile)
    version = run_inputs.cipp_version or RANGE_VERSION.get(profile)
    argv = client_argv(
        tenant=tenant, sam_user=sam_user, generation=profile, hosting=hosting,
        redact_ids=run_inputs.output.redact_ids, report_dir=str(run_inputs.options.report_dir), cloud=cloud,
        cipp_version=version,
    )
    lines: list[Any] = []
    if label:
        lines += [((PROFILE_TITLES[profile] + ":", "bold underline"),)]
    lines += [
        (("Ask the client to run this one command", "bold"),
         (" (read-only: it changes nothing and asks no question):", ""),),
        (),
        (("    " + _quote(argv, shell), "bold cyan nowrap"),),
        (),
        *_requirement_lines(profile, hosting),
    ]
    if hosting == "hosted":
        values = {"--tenant": tenant or TENANT_PLACEHOLDER, "--generation": generation}
        if version and generation == "current":
            values["--cipp-version"] = version
        if cloud:
            values["--cloud"] = cloud
        if sam_user:
            values["--sam-user"] = sam_user
        options = RunOptions(values, shell)
        ids = tenant_check_ids(profile, "hosted")
        fix = options.command("fix", "--only", *ids).replace(quote_placeholder(shell), TENANT_PLACEHOLDER)
        revert = options.command("revert").replace(quote_placeholder(shell), TENANT_PLACEHOLDER)
        lines += [
            (("If the report fails: ", "bold"), ("the client gives those rights with (it shows each change and asks):", "")),
            (("    " + fix, "cyan nowrap"),),
        ]
        if profile in GIVE_BACK:
            lines += [
                (("Once you have enabled the API: ", "bold"), (GIVE_BACK[profile], "")),
                (("    " + revert, "cyan nowrap"),),
            ]
        else:
            lines += [(("Once you have enabled the API: ", "bold"), (KEEP[profile], ""))]
    lines.append(())
    return lines


def quote_placeholder(shell: str) -> str:
    from cipp_setup.cli.suggested import quote

    return quote(TENANT_PLACEHOLDER, shell)  # type: ignore[arg-type]


def _profiles(run_inputs: RunInputs, terminal: Terminal) -> tuple[str, ...]:
    """The profiles to print: the version's, else the generation's (asked on a terminal when
    it has two), else asked, else all three."""
    from cipp_setup.engine.result import profile_of_version, version_numbers

    version, generation = run_inputs.cipp_version, run_inputs.generation
    if version:
        numbers = version_numbers(version)
        assert numbers is not None  # validated by the option's type
        profile = profile_of_version(numbers)
        if generation and generation_of(profile) != generation:
            raise UsageError(f"--cipp-version {version} is a {generation_of(profile)} version, but "
                             f"--generation {generation} was given: pass one of them")
        return (profile,)
    if generation == "legacy":
        return ("legacy",)
    candidates = PROFILES if generation is None else ("clients-by-app", "clients-by-user")
    if terminal.can_prompt() and not run_inputs.connection.non_interactive:
        return (_ask_profile(terminal, generation),)
    return candidates


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    profiles = _profiles(run_inputs, terminal)
    zip_name = str(run_inputs.options.report_dir).rstrip("/\\") + ".zip"  # a trailing \ too, as Windows users type it
    lines: list[Any] = []
    for profile in profiles:
        lines += _generation_lines(run_inputs, profile, label=len(profiles) > 1)
    if run_inputs.identities.tenant is None:
        lines.append((((f"Replace {TENANT_PLACEHOLDER} with the client's tenant domain "
                       "(contoso.onmicrosoft.com) or tenant id, or pass --tenant here."), "yellow"),))
    if run_inputs.identities.sam_user is None:
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
          + ("; tenant ids, user names and object ids are replaced by placeholders." if run_inputs.output.redact_ids
             else "; it does name the tenant and its users (add --redact-ids to hide them)."), ""),),
        (("Then: ", "bold"),
         (("the report's action plan lists what to do next, in order, each step with the portal path, "
          "the Azure CLI and PowerShell commands, and the cipp-setup fix command where cipp-setup can do it."), ""),),
    ]
    terminal.report(lines)
    return EXIT_OK
