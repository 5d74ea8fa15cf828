"""The run's inputs: the command line, parsed once, as one typed frozen value.

`main` parses the words with argparse and turns the Namespace into a `RunInputs` here,
once; every command module (and everything it calls in `cli/`) takes that value, never
the Namespace. What a run learns later — a profile's API details, a sandbox scenario's
identities, the options the journal remembers for `revert` — gives a new value
(`with_identities`), so what the user typed and what the run filled stay tellable apart.

Not imported by `--help`: dataclasses brings inspect and ast to every start
(tests/test_cli_usage.py), so the command modules name these types under TYPE_CHECKING
and `main` imports this module only once the words have parsed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cipp_setup.engine.catalogue import Catalogue


@dataclass(frozen=True)
class Identities:
    """Which tenant, and what in it is CIPP's (validated and normalised by the parser).

    The field names are the argparse dests, so `--sam-app` is `sam_app`."""

    tenant: str | None = None
    sam_user: str | None = None
    sam_app: str | None = None
    subscription: str | None = None
    function_app: str | None = None
    api_url: str | None = None
    api_client_id: str | None = None


@dataclass(frozen=True)
class Connection:
    """Where the traffic goes and how the admin signs in."""

    auth: str | None = None
    cloud: str | None = None
    sandbox: str | None = None
    sandbox_cloud: str | None = None
    ca_bundle: str | None = None
    non_interactive: bool = False
    profile: str | None = None
    client_secret_stdin: bool = False


@dataclass(frozen=True)
class Output:
    """What the run writes besides the terminal report."""

    json: bool = False
    verbose: bool = False
    report: str | None = None  # --report DIR
    redact_ids: bool = False


@dataclass(frozen=True)
class Applying:
    """fix / revert / wizard / demo: whether to ask, apply or only show."""

    yes: bool = False
    dry_run: bool = False
    write_easy_auth: bool = False
    revert: bool | None = None  # wizard --revert (None: not given)
    keep_rights: bool = False
    remove_consent: bool = False  # revert --remove-consent: the tool's own sign-in consent too


@dataclass(frozen=True)
class CommandOptions:
    """The options only one command has (its own words, with its parser's defaults)."""

    action: str | None = None  # profile / sandbox: add, list, serve…
    name: str | None = None  # profile add / remove / use NAME
    check_id: str | None = None  # explain ID
    only: tuple[str, ...] | None = None  # --only, as typed (validated against the catalogue later)
    ignore: tuple[str, ...] | None = None
    hosting: str | None = None  # wizard / helpdesk --hosting
    cipp_url: str | None = None  # wizard --cipp-url
    scenario: str | None = None  # demo / sandbox serve --scenario
    port: int = 0
    latency_ms: int = 0
    pose_as: str | None = None
    ready_file: str | None = None
    faults: tuple[str, ...] = ()
    replace: bool = False  # profile add
    no_secret: bool = False
    insecure_store_secret: bool = False
    allow_unencrypted_token_cache: bool = False  # login
    login_for: str = "check"
    report_dir: str | None = None  # helpdesk
    type_details: bool | None = None  # demo --type / --no-type (None: type on a terminal)


@dataclass(frozen=True)
class RunInputs:
    """Everything the command line asked for, as one value."""

    command: str
    argv: tuple[str, ...] = ()  # the words, for the report's command line
    identities: Identities = field(default_factory=Identities)
    generation: str | None = None  # legacy, current, auto (None: the command has no --generation)
    cipp_version: str | None = None  # --cipp-version, normalised (7.3.1)
    connection: Connection = field(default_factory=Connection)
    output: Output = field(default_factory=Output)
    applying: Applying = field(default_factory=Applying)
    options: CommandOptions = field(default_factory=CommandOptions)
    # The argparse dests this command has: a profile or a scenario fills only options the
    # command takes (login has --tenant but no --api-client-id).
    accepts: frozenset[str] = frozenset()
    # The checks this run knows; None: the built-in catalogue (cipp_setup.checks).
    catalogue: Catalogue | None = None

    def with_identities(self, **changes: str | None) -> RunInputs:
        return replace(self, identities=replace(self.identities, **changes))

    def with_generation(self, generation: str | None) -> RunInputs:
        return replace(self, generation=generation)

    def value(self, dest: str) -> Any:
        """An identity (or --generation) by its argparse dest, as the printed commands name them."""
        if dest == "generation":
            return self.generation
        if dest == "cipp_version":
            return self.cipp_version
        for group in (self.identities, self.connection):
            if dest in _FIELDS[type(group)]:
                return getattr(group, dest)
        raise KeyError(dest)

    def checks(self) -> Catalogue:
        """The catalogue this run checks with (the built-in one unless a test passed one)."""
        from cipp_setup.engine.builtin import builtin_catalogue

        return builtin_catalogue(self.catalogue)


_FIELDS: dict[type, frozenset[str]] = {
    kind: frozenset(f.name for f in fields(kind)) for kind in (Identities, Connection, Output, Applying)
}

# CommandOptions field -> the argparse dest it comes from, where the two names differ.
_OPTION_DESTS = {
    "action": ("profile_command", "sandbox_command"),
    "faults": ("fault",),
}


def _pick(namespace: argparse.Namespace, kind: type, renames: dict[str, tuple[str, ...]] | None = None) -> Any:
    values: dict[str, Any] = {}
    for f in fields(kind):
        for dest in (renames or {}).get(f.name, (f.name,)):
            value = getattr(namespace, dest, None)
            if value is not None:
                values[f.name] = tuple(value) if isinstance(value, list) else value
                break
    return kind(**values)


def from_namespace(
    namespace: argparse.Namespace,
    argv: Sequence[str] = (),
    *,
    catalogue: Catalogue | None = None,
) -> RunInputs:
    """The one place a Namespace becomes the run's inputs."""
    return RunInputs(
        command=str(getattr(namespace, "command", None) or ""),
        argv=tuple(argv),
        identities=_pick(namespace, Identities),
        generation=getattr(namespace, "generation", None),
        cipp_version=getattr(namespace, "cipp_version", None),
        connection=_pick(namespace, Connection),
        output=_pick(namespace, Output),
        applying=_pick(namespace, Applying),
        options=_pick(namespace, CommandOptions, _OPTION_DESTS),
        accepts=frozenset(vars(namespace)),
        catalogue=catalogue,
    )
