"""Look-ups for the wizard's pickers: who could be the CIPP-SAM user, which app, which
subscription — read from the tenant, a handful of rows at a time.

Never a directory listing: users are searched by UPN / display-name prefix
(server-side `startswith`, first page only), applications by the "CIPP" display-name
prefix, subscriptions from the first page of what the admin can see. Each answer comes
with the entry the wizard should offer as its default ("pressing Enter leads forward")
and why, so the front end can say it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cipp_setup import wellknown as wk

if TYPE_CHECKING:
    from cipp_setup.engine.context import SignedInAdmin


class _User(Protocol):
    @property
    def user_principal_name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def account_enabled(self) -> bool | None: ...


class _App(Protocol):
    @property
    def app_id(self) -> str: ...
    @property
    def display_name(self) -> str: ...


class _Subscription(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def state(self) -> str: ...


class DirectorySearch(Protocol):
    """The server-side filtered Graph reads the pickers need (gateways.graph_search)."""

    async def users_starting_with(self, prefix: str) -> Sequence[_User]: ...
    async def applications_starting_with(self, prefix: str) -> Sequence[_App]: ...
    async def close(self) -> None: ...


class SubscriptionSearch(Protocol):
    """The subscriptions the admin can see (gateways.arm)."""

    async def visible_subscriptions(self) -> Sequence[_Subscription]: ...
    async def close(self) -> None: ...


CIPP_PREFIX = "CIPP"
# How CIPP's SAM wizard and its docs name the service account: "CIPP-SAM", "cippsam@...".
_SAM_NAME = re.compile(r"^cipp[-_ .]?sam", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """One entry of a picker: `value` is what the engine takes (UPN, app id, sub id)."""

    value: str
    title: str
    hint: str = ""


@dataclass(frozen=True)
class Candidates:
    items: tuple[Candidate, ...]
    default: str | None  # a value among `items`, or None when nothing stands out
    why: str = ""  # why that default ("named like CIPP's SAM account")

    def __bool__(self) -> bool:
        return bool(self.items)


def _user_candidate(upn: str, display_name: str, enabled: bool | None, you: bool = False) -> Candidate:
    hints = []
    if display_name and display_name != upn:
        hints.append(display_name)
    if you:
        hints.append("you, signed in")
    if enabled is False:
        hints.append("sign-in blocked")
    return Candidate(upn, upn, ", ".join(hints))


def _pick_default(items: Sequence[Candidate], preferred: str | None) -> str | None:
    if preferred:
        for item in items:
            if item.value.lower() == preferred.lower():
                return item.value
    return None


def _enabled(state: str) -> bool:
    return state in ("", "Enabled")


class TenantLookups:
    """The reads behind the pickers, over one sign-in; close() when done.

    Built by the front end over its gateways (`gateways.services.open_lookups`).
    """

    def __init__(self, search: DirectorySearch, arm: SubscriptionSearch | None) -> None:
        self._search = search
        self._arm = arm

    async def close(self) -> None:
        await self._search.close()
        if self._arm is not None:
            await self._arm.close()

    async def sam_user_candidates(self, admin: SignedInAdmin | None, preferred: str | None = None) -> Candidates:
        """Users whose name starts with "CIPP", plus the signed-in admin (listed last, as one
        option among others).

        Default: `preferred` when listed; else the one account named like CIPP's SAM user.
        Never the signed-in admin without evidence: with none, there is no default and the
        person picks (testing the admin by mistake gives a verdict about the wrong account).
        """
        users = await self._search.users_starting_with(CIPP_PREFIX)
        items = [_user_candidate(u.user_principal_name, u.display_name, u.account_enabled) for u in users]
        if (admin is not None and admin.kind == "user" and admin.user_principal_name
                and not any(i.value.lower() == admin.user_principal_name.lower() for i in items)):
            items.append(_user_candidate(admin.user_principal_name, "", None, you=True))
        default = _pick_default(items, preferred)
        why = "the sandbox scenario's value" if default else ""
        if default is None:
            named = [u for u in users if _SAM_NAME.match(u.user_principal_name) or _SAM_NAME.match(u.display_name)]
            if len(named) == 1:
                default, why = named[0].user_principal_name, "named like CIPP's SAM account"
        return Candidates(tuple(items), default, why)

    async def search_users(self, prefix: str) -> Candidates:
        users = await self._search.users_starting_with(prefix)
        items = tuple(_user_candidate(u.user_principal_name, u.display_name, u.account_enabled) for u in users)
        return Candidates(items, items[0].value if len(items) == 1 else None)

    async def sam_app_candidates(self, preferred: str | None = None) -> Candidates:
        """App registrations named "CIPP…"; default the one named exactly CIPP-SAM."""
        apps = await self._search.applications_starting_with(CIPP_PREFIX)
        items = []
        for app in apps:
            hint = f"app id {app.app_id}"
            if app.display_name == wk.CIPP_LEGACY_API_APP_NAME:
                hint += ", the API app legacy CIPP creates: not the SAM app"
            items.append(Candidate(app.app_id, app.display_name, hint))
        default = _pick_default(items, preferred)
        why = "the sandbox scenario's value" if default else ""
        if default is None:
            exact = [a for a in apps if a.display_name.lower() == wk.CIPP_SAM_APP_NAME.lower()]
            if exact:
                default, why = exact[0].app_id, "named CIPP-SAM, as CIPP's SAM wizard names it"
            elif len(items) == 1:
                default, why = items[0].value, "the only CIPP application"
        return Candidates(tuple(items), default, why)

    async def subscription_candidates(self, preferred: str | None = None) -> Candidates:
        if self._arm is None:
            return Candidates((), None)
        subs = await self._arm.visible_subscriptions()
        items = tuple(
            Candidate(s.id, s.display_name or s.id, s.id + ("" if _enabled(s.state) else f", {s.state}"))
            for s in subs
        )
        default = _pick_default(items, preferred)
        why = "the sandbox scenario's value" if default else ""
        if default is None:
            named = [s for s in subs if CIPP_PREFIX.lower() in (s.display_name or "").lower()]
            if len(items) == 1:
                default, why = items[0].value, "the only subscription you can see"
            elif len(named) == 1:
                default, why = named[0].id, "the only subscription named like CIPP"
        return Candidates(items, default, why)
