"""The question patterns the wizard's steps share, each written once.

A flag's value, when given, is taken without a question (`given_api_details`); a typed
value is checked by the same parser the command line uses (`problem_of`); a list read
from the tenant is offered with its suggestion said first and a way out to "enter an id"
(`pick_from_tenant`). Going on despite a failing prerequisite is a recovery, in
`recovery.go_on_despite`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import (
    UsageError,
    is_guid,
    parse_api_url,
    parse_function_app,
    parse_tenant,
)
from cipp_setup.engine.model import CheckResult, Secret
from cipp_setup.wizard.prompts import Option, Screen, Validator
from cipp_setup.wizard.state import WizardEnv, WizardState

if TYPE_CHECKING:
    from cipp_setup.engine.lookups import Candidates, TenantLookups

SEARCH = "\x00search"  # picker entries that are not values
ENTER = "\x00enter"


# --- checking typed values --------------------------------------------------------------


def problem_of(parse: Callable[[str, str], object], label: str, hint: str | None = None) -> Validator:
    """A validator from a command-line parser: None when it accepts the value, else `hint`
    (or, without one, the parser's own reason)."""

    def problem(value: str) -> str | None:
        try:
            parse(value, label)
        except UsageError as exc:
            return hint if hint is not None else str(exc).split(": ", 1)[-1]
        return None

    return problem


tenant_problem = problem_of(parse_tenant, "tenant", "a tenant id (GUID) or a domain such as contoso.onmicrosoft.com")
function_app_problem = problem_of(
    parse_function_app, "Function App", "the Function App's name (NAME in NAME.azurewebsites.net) or its resource id"
)
api_url_problem = problem_of(parse_api_url, "URL")


def guid_problem(value: str) -> str | None:
    return None if is_guid(value.strip()) else "a GUID such as 00000000-0000-0000-0000-000000000000"


# --- lists read from the tenant ---------------------------------------------------------


def candidate_options(candidates: Candidates) -> list[Option]:
    return [Option(c.value, c.title, c.hint) for c in candidates.items]


def say_suggestion(screen: Screen, candidates: Candidates) -> None:
    title = next((c.title for c in candidates.items if c.value == candidates.default), candidates.default)
    screen.say(f"Suggested: {title} ({candidates.why}).", "dim")


@dataclass(frozen=True)
class TenantPick:
    """One thing picked from a list read from the tenant, in the wizard's words."""

    heading: str
    busy: str  # said while the list is read
    find: Callable[[TenantLookups, str | None], Awaitable[Candidates]]  # (lookups, suggested value)
    suggestion: str  # the key of the sandbox's suggested value
    nothing: str  # said when the list is empty
    question: str
    other: str  # the entry for a value not in the list...
    other_question: str  # ...and the question it leads to (a GUID)


async def pick_from_tenant(env: WizardEnv, pick: TenantPick, lookups: TenantLookups) -> str:
    """A list read from the tenant (the suggestion said first), plus "enter an id"."""
    s = env.screen
    s.heading(pick.heading)
    with s.busy(pick.busy):
        candidates = await pick.find(lookups, env.suggestions.get(pick.suggestion))
    if not candidates:
        s.say(pick.nothing, "yellow")
    elif candidates.default and candidates.why:
        say_suggestion(s, candidates)
    choices = candidate_options(candidates) + [Option(ENTER, pick.other)]
    choice = await s.select(pick.question, choices, default=candidates.default)
    if choice == ENTER:
        choice = (await s.text(pick.other_question, validate=guid_problem)).lower()
    return str(choice)


# --- going on, or not -------------------------------------------------------------------


# --- the API's details ------------------------------------------------------------------


def given_api_details(state: WizardState) -> bool:
    """Take the API's client id, URL and secret from the flags, when all three were given."""
    a = state.answers
    if not (a.api_client_id and a.api_url and a.api_client_secret):
        return False
    state.api_client_id, state.api_url, state.api_client_secret = a.api_client_id, a.api_url, a.api_client_secret
    return True


async def ask_secret(env: WizardEnv, held: Secret | None = None) -> Secret:
    """The secret, hidden. `held`: the one given earlier in this run (kept in memory only),
    which Enter keeps."""
    s = env.screen
    keep = "; Enter keeps the one given before" if held is not None else ""
    while True:
        value = await s.secret(
            f"Application secret (hidden; paste the Value, not the ID{keep}):",
            validate=lambda v: None if v.strip() or held is not None else "paste the secret's value",
        )
        if not value and held is not None:
            return held
        if not is_guid(value):
            return Secret(value)
        s.say("That looks like the secret's ID (a GUID), not its value (AADSTS7000215 follows).", "yellow")
        if await s.confirm("Use it anyway?", default=False):
            return Secret(value)


async def ask_api_details(state: WizardState, env: WizardEnv) -> None:
    """What the admin copied from CIPP (each one a flag gave is not asked). Asked again
    (after going back to an earlier answer), what was given before is the default."""
    a, s = state.answers, env.screen
    state.api_client_id = a.api_client_id or (
        await s.text("Application (client) id:", default=state.api_client_id or "", validate=guid_problem)
    ).lower()
    state.api_client_secret = a.api_client_secret or await ask_secret(env, held=state.api_client_secret)
    state.api_url = a.api_url or parse_api_url(await s.text(
        "API URL (the Function App's https:// address):",
        default=state.api_url or env.suggestions.get("api_url", ""), validate=api_url_problem,
    ))


# --- results -----------------------------------------------------------------------------


def result_lines(result: CheckResult, env: WizardEnv) -> list[Any]:
    """A check's result as the wizard shows it: its line and its cause, not the evidence."""
    from cipp_setup.render.text import INDENT
    from cipp_setup.render.text import result_lines as full_result_lines

    lines = full_result_lines(result, None, marks=env.screen.marks)
    return [lines[0]] + [ln for ln in lines[1:] if ln and ln[0][0].startswith(f"{INDENT}Cause")]
