"""`cipp-setup profile add|list|remove|use`: saved API details, and `--profile NAME`.

The secret is taken from a hidden prompt (on a terminal), `--client-secret-stdin` or
$CIPP_API_CLIENT_SECRET, never from an argument (shell history, the process list). It
goes to the OS keyring; a plain file only with `--insecure-store-secret` (or
CIPP_SETUP_INSECURE_STORE_SECRET=1) when no keyring exists, with a warning.

`apply_profile` is how every tenant command reads a profile: the profile's values fill
the flags the user left empty (flags given always win), and its saved secret is used
when no other secret was given and the API client is the profile's.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO, cast

from cipp_setup.shell import env
from cipp_setup.cli.options import (
    EXIT_OK,
    SECRET_ENV,
    UsageError,
    parse_api_url,
    parse_guid,
    parse_tenant,
    read_api_client_secret,
    validated,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.profiles import Profile

NAME = "profile"


def register(subparsers: Any) -> argparse.ArgumentParser:
    from cipp_setup.cli.options import CliParser

    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="save, list, remove and choose API details (tenant, API URL, client id, secret)",
        description=(
            "Save the CIPP API details once and use them with --profile NAME (or as the "
            "default profile). The secret goes to the OS keyring, never to the config file."
        ),
    )
    actions = parser.add_subparsers(dest="profile_command", metavar="ACTION", parser_class=CliParser)

    add = actions.add_parser(
        "add", help="save a profile",
        description="Save a profile. The secret comes from a hidden prompt on a terminal, "
        f"--client-secret-stdin, or {env(SECRET_ENV)}; never from an argument.",
    )
    add.add_argument("name", metavar="NAME", help="the profile's name (letters, digits, . _ -)")
    add.add_argument("--tenant", required=True, type=validated("--tenant", parse_tenant),
                     metavar="ID|DOMAIN", help="the tenant of the CIPP API client")
    add.add_argument("--api-url", required=True, type=validated("--api-url", parse_api_url),
                     metavar="URL", help="the CIPP Function App's https:// URL")
    add.add_argument("--api-client-id", required=True,
                     type=validated("--api-client-id", lambda v, o: parse_guid(o, v)),
                     metavar="ID", help="the CIPP API client's application (client) id")
    add.add_argument("--client-secret-stdin", action="store_true",
                     help="read the secret from stdin (one line)")
    add.add_argument("--no-secret", action="store_true",
                     help=f"save the details only; give the secret on each run ({env(SECRET_ENV)})")
    add.add_argument("--insecure-store-secret", action="store_true",
                     help="when no OS keyring exists (headless Linux), keep the secret in an "
                     "unencrypted file only your account can read")
    add.add_argument("--replace", action="store_true", help="overwrite a profile of the same name")

    listing = actions.add_parser("list", help="list saved profiles (never their secrets)")
    listing.add_argument("--json", action="store_true", help="write the list as JSON to stdout")

    remove = actions.add_parser("remove", help="remove a profile and its saved secret")
    remove.add_argument("name", metavar="NAME")

    use = actions.add_parser("use", help="make a profile the default")
    use.add_argument("name", metavar="NAME")
    return parser


def _line(text: str, style: str = "") -> tuple[tuple[str, str], ...]:
    return ((text, style),)


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup.profiles import ProfileError

    action = run_inputs.options.action
    if action is None:
        raise UsageError("missing action: expected one of add, list, remove, use (see 'cipp-setup profile --help')")
    try:
        if action == "add":
            return _add(run_inputs, terminal)
        if action == "list":
            return _list(run_inputs, terminal)
        if action == "remove":
            return _remove(run_inputs, terminal)
        return _use(run_inputs, terminal)
    except ProfileError as exc:
        raise UsageError(str(exc)) from None


def _secret_for_add(run_inputs: RunInputs, terminal: Terminal) -> str | None:
    stdin = run_inputs.connection.client_secret_stdin
    if run_inputs.options.no_secret:
        if stdin:
            raise UsageError("--no-secret and --client-secret-stdin: expected one of them, not both")
        return None
    secret = read_api_client_secret(stdin, dict(terminal.environ))
    if secret is None and terminal.can_prompt():
        import getpass

        from cipp_setup.cli.options import parse_secret

        # getpass reads from the terminal itself with echo off: the secret is never shown.
        secret = parse_secret(getpass.getpass("API client secret (input hidden): ", stream=cast("TextIO", terminal.stderr)),
                              "the secret prompt")
    if secret is None:
        raise UsageError(
            "profile add: expected the API client secret from a hidden prompt (needs a terminal), "
            f"--client-secret-stdin, or {env(SECRET_ENV)}; or pass --no-secret to save the details only"
        )
    terminal.add_secret(secret)
    return secret


def _add(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup import profiles
    from cipp_setup.cli.options import is_guid

    name = str(run_inputs.options.name)
    profiles.validate_name(name)
    secret = _secret_for_add(run_inputs, terminal)
    if secret is not None and is_guid(secret):
        terminal.status(
            "warning: the secret looks like a GUID: that is usually the secret's ID, not its Value "
            "(copy the Value shown once when the secret is created)", "bold yellow",
        )
    allow_file = run_inputs.options.insecure_store_secret or profiles.env_flag(profiles.INSECURE_STORE_ENV, terminal.environ)
    ids = run_inputs.identities
    saved = profiles.add_profile(
        profiles.Profile(name, str(ids.tenant), str(ids.api_url), str(ids.api_client_id)),
        secret, replace=run_inputs.options.replace, allow_file=allow_file,
    )
    if saved.secret_store == profiles.STORE_FILE:
        terminal.status(
            f"warning: no OS keyring is available, so the secret is stored UNENCRYPTED in "
            f"{profiles.secrets_file_path()} (readable only by your account where the OS allows). "
            "Remove it with 'cipp-setup profile remove "
            f"{saved.name}' when done.", "bold yellow",
        )
    default = profiles.load_config().default_profile == saved.name
    terminal.report([
        _line(f"Saved profile '{saved.name}': tenant {saved.tenant}, API {saved.api_url}, "
              f"client id {saved.api_client_id}.", "bold"),
        _line(f"Secret: {profiles.secret_location(saved)}."),
        _line("It is the default profile." if default else
              f"Use it with --profile {saved.name}, or make it the default: 'cipp-setup profile use {saved.name}'."),
        _line(f"Check it now: cipp-setup verify --profile {saved.name}", "dim"),
    ])
    return EXIT_OK


def _list(run_inputs: RunInputs, terminal: Terminal) -> int:
    import json

    from cipp_setup import profiles

    config = profiles.load_config()
    entries = [
        {
            "name": p.name, "default": p.name == config.default_profile, "tenant": p.tenant,
            "api_url": p.api_url, "api_client_id": p.api_client_id,
            "secret_store": p.secret_store, "secret_location": profiles.secret_location(p),
        }
        for p in sorted(config.profiles.values(), key=lambda p: p.name)
    ]
    if run_inputs.output.json:
        terminal.machine(json.dumps({"config_file": str(profiles.config_path()),
                                     "default_profile": config.default_profile,
                                     "profiles": entries}, indent=2) + "\n")
        return EXIT_OK
    if not entries:
        terminal.report([_line("No saved profiles. Add one: cipp-setup profile add NAME --tenant ID "
                               "--api-url URL --api-client-id ID")])
        return EXIT_OK
    lines = []
    for entry in entries:
        mark = "*" if entry["default"] else " "
        lines.append(_line(f"{mark} {entry['name']}", "bold"))
        lines.append(_line(f"    tenant {entry['tenant']}, API {entry['api_url']}, client id {entry['api_client_id']}"))
        lines.append(_line(f"    secret: {entry['secret_location']}", "dim"))
    lines.append(_line(f"(* the default profile; details in {profiles.config_path()})", "dim"))
    terminal.report(lines)
    return EXIT_OK


def _remove(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup import profiles

    removed = profiles.remove_profile(str(run_inputs.options.name))
    where = {"keyring": " and its secret from the OS keyring", "file": " and its secret from the secrets file"}
    terminal.report([_line(f"Removed profile '{removed.name}'{where.get(removed.secret_store, '')}.")])
    return EXIT_OK


def _use(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup import profiles

    chosen = profiles.use_profile(str(run_inputs.options.name))
    terminal.report([_line(f"'{chosen.name}' is now the default profile (tenant {chosen.tenant}).")])
    return EXIT_OK


# --- --profile on the tenant commands --------------------------------------------------------


def _validated_profile(profile: Profile) -> Profile:
    """A hand-edited config must not smuggle in what the flags would refuse."""
    from cipp_setup.profiles import Profile as ProfileType

    where = f"profile {profile.name!r}"
    return ProfileType(
        profile.name,
        parse_tenant(profile.tenant, f"{where}: tenant"),
        parse_api_url(profile.api_url, f"{where}: api_url"),
        parse_guid(f"{where}: api_client_id", profile.api_client_id),
        profile.secret_store,
    )


def selected_profile(run_inputs: RunInputs, terminal: Terminal) -> tuple[Profile | None, bool]:
    """The profile this run uses and whether it was asked for by name (--profile).

    The default profile applies only when no --profile is given, the run is not a
    sandbox (which brings its own identities) and --tenant is absent or its tenant.
    """
    from cipp_setup import profiles

    name = run_inputs.connection.profile
    try:
        if name is not None:
            return _validated_profile(profiles.get_profile(name)), True
        if run_inputs.connection.sandbox:
            return None, False
        config = profiles.load_config()
    except profiles.ProfileError as exc:
        if name is not None:
            raise UsageError(str(exc)) from None
        # Without --profile a broken config must not stop a run that does not need it.
        terminal.status(f"warning: saved profiles ignored: {exc}", "yellow")
        return None, False
    if config.default_profile is None:
        return None, False
    profile = _validated_profile(config.profiles[config.default_profile])
    tenant = run_inputs.identities.tenant
    if tenant is not None and tenant != profile.tenant:
        return None, False
    return profile, False


def apply_profile(run_inputs: RunInputs, terminal: Terminal, secret: str | None) -> tuple[RunInputs, str | None]:
    """The run's inputs with the empty flags filled from the selected profile (only the
    options this command takes), and the secret to use."""
    profile, explicit = selected_profile(run_inputs, terminal)
    if profile is None:
        return run_inputs, secret
    filled = {
        dest: value
        for dest, value in (("tenant", profile.tenant), ("api_url", profile.api_url),
                            ("api_client_id", profile.api_client_id))
        if dest in run_inputs.accepts and getattr(run_inputs.identities, dest) is None
    }
    run_inputs = run_inputs.with_identities(**filled)
    how = "" if explicit else " (the default profile; --profile NAME picks another)"
    terminal.status(f"Using profile '{profile.name}'{how}.", "dim")
    if secret is None and run_inputs.identities.api_client_id == profile.api_client_id:
        from cipp_setup.profiles import read_secret

        saved = read_secret(profile)
        if saved:
            terminal.add_secret(saved)
            secret = saved
    return run_inputs, secret


def profile_secret_problem(run_inputs: RunInputs) -> str | None:
    """Why the named profile gave no secret (for commands that need one), else None."""
    from cipp_setup import profiles

    name = run_inputs.connection.profile
    if name is None:
        return None
    try:
        profile = profiles.get_profile(name)
    except profiles.ProfileError:
        return None
    if profile.secret_store == profiles.STORE_NONE:
        return f"profile '{name}' has no saved secret"
    return f"profile '{name}' expects its secret in the {profiles.secret_location(profile)}, but it is not there"
