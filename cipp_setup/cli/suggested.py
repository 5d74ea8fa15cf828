"""Every `cipp-setup …` command the tool suggests, built in one place so it runs when pasted.

(`commands.py` is the command table; this module builds the command lines the tool prints.)

A suggested command repeats the options the run used — tenant, CIPP-SAM user and app,
subscription, Function App, API URL and client, cloud or cloud file, sandbox, CA bundle,
profile, sign-in method and the generation the run decided — limited to the options the
suggested subcommand accepts (read from the parser itself, so a new flag cannot be
forgotten here). Values are quoted for the user's shell (PowerShell on Windows, POSIX
elsewhere); the API client secret never appears: it is read from the environment.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cipp_setup.shell import Shell, env_ref, set_env_hidden, user_shell

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.engine.context import CheckInputs

PROG = "cipp-setup"
SECRET_ENV = "CIPP_API_CLIENT_SECRET"

# (flag, the option's argparse dest: RunInputs.value(dest)), in the order a person would write them.
_OPTIONS: tuple[tuple[str, str], ...] = (
    ("--profile", "profile"),
    ("--tenant", "tenant"),
    ("--cloud", "cloud"),
    ("--sandbox", "sandbox"),
    ("--sandbox-cloud", "sandbox_cloud"),
    ("--ca-bundle", "ca_bundle"),
    ("--auth", "auth"),
    ("--generation", "generation"),
    ("--cipp-version", "cipp_version"),
    ("--sam-user", "sam_user"),
    ("--sam-app", "sam_app"),
    ("--subscription", "subscription"),
    ("--function-app", "function_app"),
    ("--api-url", "api_url"),
    ("--api-client-id", "api_client_id"),
)


@dataclass(frozen=True)
class RunOptions:
    """The options a run used, as flags (flag → value); what every printed command repeats."""

    values: Mapping[str, str] = field(default_factory=dict)
    shell: Shell = "posix"

    def with_values(self, **flags: str | None) -> RunOptions:
        """A copy with `--flag value` pairs set (or removed, with None); keys are flags."""
        merged = dict(self.values)
        for flag, value in flags.items():
            if value is None:
                merged.pop(flag, None)
            else:
                merged[flag] = value
        return RunOptions(merged, self.shell)

    def command(self, subcommand: str, *extra: str) -> str:
        """`cipp-setup SUBCOMMAND [the run's options it accepts] EXTRA…`."""
        accepted = accepted_options(subcommand)
        words = [PROG, *subcommand.split()]
        for flag, _ in _OPTIONS:
            value = self.values.get(flag)
            if value and flag in accepted:
                words += [flag, quote(value, self.shell)]
        words += [quote(word, self.shell) if not word.startswith("-") else word for word in extra]
        return " ".join(words)

    @property
    def needs_secret(self) -> bool:
        return bool(self.values.get("--api-client-id"))

    def secret_line(self) -> str:
        """How to put the API client secret where a pasted command reads it."""
        return f"{set_env_hidden(SECRET_ENV, self.shell)}   # the API client secret, for {env_ref(SECRET_ENV, self.shell)}"


def quote(value: str, shell: Shell) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./\\-]+", value):
        return value
    if shell == "powershell":
        return "'" + value.replace("'", "''") + "'"
    return shlex.quote(value)


@lru_cache(maxsize=None)
def accepted_options(subcommand: str) -> frozenset[str]:
    """The option strings `cipp-setup SUBCOMMAND` accepts (from the real parser)."""
    from cipp_setup.cli.main import build_parser

    parser: argparse.ArgumentParser = build_parser(full=(subcommand.split()[0],))
    for action in parser._actions:  # noqa: SLF001 - argparse has no public way to walk subparsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            node: Any = action.choices.get(subcommand.split()[0])
            for word in subcommand.split()[1:]:
                sub = next((a for a in node._actions if isinstance(a, argparse._SubParsersAction)), None)  # noqa: SLF001
                node = sub.choices.get(word) if sub is not None else None
            if node is None:
                return frozenset()
            return frozenset(s for a in node._actions for s in a.option_strings)  # noqa: SLF001
    return frozenset()


def run_options(
    run_inputs: RunInputs | None,
    inputs: CheckInputs | None = None,
    *,
    generation: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunOptions:
    """The run's options: what the user passed, completed with what the run resolved
    (the tenant, the generation it decided, the values a profile or sandbox filled in)."""
    values: dict[str, str] = {}
    for flag, attr in _OPTIONS:
        value = run_inputs.value(attr) if run_inputs is not None else None
        if isinstance(value, str) and value:
            values[flag] = value
    if values.get("--generation") == "auto":
        values.pop("--generation")
    if inputs is not None:
        resolved = {
            "--tenant": inputs.tenant, "--sam-user": inputs.sam_user, "--sam-app": inputs.sam_app_id,
            "--subscription": inputs.subscription_id, "--function-app": inputs.function_app,
            "--api-url": inputs.api_url, "--api-client-id": inputs.api_client_id,
            "--generation": inputs.generation, "--cipp-version": inputs.cipp_version,
        }
        for flag, value in resolved.items():
            if value and flag not in values:
                values[flag] = str(value)
    if generation in ("legacy", "current"):
        values["--generation"] = generation
    if "--sandbox" in values and "--cloud" in values:
        values.pop("--sandbox")
    if "--sandbox" in values:
        # An in-process sandbox fills the scenario's identities itself, on new ports each
        # run: repeat only what the user typed (its API URL would be dead by then).
        argv = run_inputs.argv if run_inputs is not None else ()
        typed = {word.split("=")[0] for word in argv if word.startswith("--")}
        keep = typed | {"--sandbox", "--generation"}
        values = {flag: value for flag, value in values.items() if flag in keep}
    return RunOptions(values, user_shell(environ))


def fill_from_journal(run_inputs: RunInputs, journal: Any) -> tuple[RunInputs, str | None]:
    """`revert` with no flag the journal knows: the options of the last run that left
    temporary rights in place fill the flags not given (tenant, cloud, generation...).
    Returns the inputs so completed and the tenant they came from (None when the journal
    had nothing to offer).
    Raises UsageError when several tenants have rights outstanding and none was named."""
    from cipp_setup.cli.options import UsageError
    from cipp_setup.engine.revert import plan_revert

    runs = journal.run_options()
    if not runs:
        return run_inputs, None
    tenant = run_inputs.identities.tenant
    if tenant:
        matching = [opts for t, opts in runs if t.lower() == tenant.lower() or opts.get("--tenant", "").lower() == tenant.lower()]
    else:
        outstanding: dict[str, dict[str, str]] = {}
        for t, opts in runs:
            if plan_revert(journal, t)[0].plans:
                outstanding[t.lower()] = opts  # the latest run per tenant wins
        if len(outstanding) > 1:
            raise UsageError(
                "--tenant: the journal records temporary rights in several tenants ("
                + ", ".join(sorted(outstanding)) + "); pass --tenant to say which"
            )
        matching = list(outstanding.values())
    if not matching:
        return run_inputs, None
    chosen = matching[-1]
    filled: dict[str, dict[str, Any]] = {"identities": {}, "connection": {}}
    for flag, attr in _OPTIONS:
        value = chosen.get(flag)
        current = run_inputs.value(attr)
        if value and (current is None or (attr == "generation" and current == "auto")):
            if attr == "generation":
                run_inputs = run_inputs.with_generation(value)
            elif attr == "cipp_version":
                run_inputs = replace(run_inputs, cipp_version=value)
            else:
                filled["identities" if hasattr(run_inputs.identities, attr) else "connection"][attr] = value
    run_inputs = replace(run_inputs, identities=replace(run_inputs.identities, **filled["identities"]),
                         connection=replace(run_inputs.connection, **filled["connection"]))
    return run_inputs, str(run_inputs.identities.tenant or "") or None


def known_names(admin: Any, results: Any, sam_user: str | None = None) -> dict[str, str]:
    """Object id → the name to say (the admin, the CIPP-SAM user found by the checks)."""
    names: dict[str, str] = {admin.object_id: admin.user_principal_name} if admin is not None else {}
    for result in results or ():
        user_id, upn = result.facts.get("sam_user_id"), result.facts.get("sam_user_upn") or sam_user
        if user_id and upn:
            names[str(user_id)] = str(upn)
    return names


def still_in_place(journal: Any, tenant_id: str, names: Mapping[str, str] | None = None) -> list[str]:
    """What cipp-setup created in `tenant_id` that is still in place, by name ("Global
    Administrator for cipp-sam@contoso.com", "Contributor for … on /subscriptions/…"),
    from the journal: what `revert` would remove."""
    from cipp_setup.engine.revert import plan_revert

    plan, _ = plan_revert(journal, tenant_id)
    named = {k.lower(): v for k, v in (names or {}).items()}
    out = []
    for removal in plan.plans:
        params = removal.changes[0].params
        principal = str(params.get("principal_id", ""))
        who = named.get(principal.lower(), f"user {principal}")
        role = removal.title.split(" the ", 1)[-1].split(" role ", 1)[0]
        where = f" on {params['arm_scope']}" if params.get("arm_scope") else ""
        out.append(f"{role} for {who}{where}")
    return out


def command_line(argv: list[str], secrets: list[str] | None = None) -> str:
    """The command line that produced a report, for the report (secrets never travel on
    argv, but a value pasted by mistake is scrubbed all the same)."""
    text = " ".join([PROG, *(shlex.quote(a) for a in argv)])
    for secret in secrets or ():
        if secret:
            text = text.replace(secret, "********")
    return text
