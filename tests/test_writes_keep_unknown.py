"""Every read-modify-write keeps what is not ours (property-based, hypothesis).

Each test fills a document the fix rewrites with arbitrary extra fields and entries,
applies the fix's plan through the real SDKs against the sandbox, and compares the whole
document afterwards with what the plan says it changes: everything else must be as it was.
The writes covered: authsettingsV2 (PUT of the whole configuration), the site's managed
identity (PATCH), the CIPP-SAM app's requiredResourceAccess (PATCH of the whole list),
the delegated grant's scope (PATCH of the scope string) and the API client's identifierUris
(PATCH of the whole list). `.ci/lowest-sdks` runs this file against the lowest SDK
versions pyproject.toml allows.
"""

from __future__ import annotations

import asyncio
import copy
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixsupport import Harness, harness
from cipp_setup import wellknown as wk
from cipp_setup.engine.model import Secret
from cipp_setup.engine.plan import FixPlan
from cipp_setup.sandbox.state import (
    OAuth2PermissionGrant,
    RequiredResourceAccess,
    ResourceAccess,
    UserAssignedIdentity,
)

# One sandbox and one signed-in session per test; each example resets the document and
# applies the same plan again (the appliers read the live value, as on a real tenant).
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Keys no real schema uses ("x" + letters), so the sandbox's boolean coercion of known
# keys ("enabled", ...) never applies to them.
KEYS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8).map(lambda k: "x" + k)
LEAVES = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(string.printable, max_size=12)
JSON = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                    max_leaves=6)
EXTRA_FIELDS = st.dictionaries(KEYS, JSON, max_size=3)
GUIDS = st.uuids().map(str)


@dataclass
class Live:
    h: Harness
    loop: asyncio.AbstractEventLoop
    session: Any

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def plan(self, check_id: str) -> FixPlan:
        report = self.run(self.session.check())
        [plan] = [p for p in self.session.plans(report.results) if p.check_id == check_id and p.applicable]
        return plan

    def apply(self, plan: FixPlan) -> Any:
        outcome = self.run(self.session.apply(plan))
        failed = [c for c in outcome.changes if c.status.value not in ("applied", "already-present")]
        assert not failed, [(c.change.action, c.status.value, c.detail) for c in failed]
        return outcome


def _current_inputs(h: Harness) -> dict[str, Any]:
    ids = h.sandbox.identities_document()
    secret = ids.get("api_client_secret")
    return {"generation": "current", "function_app": ids["function_app_id"], "api_url": ids.get("api_url"),
            "api_client_id": ids.get("api_client_id"), "api_client_secret": Secret(secret) if secret else None}


def _live(sandbox_factory: Any, tmp_path: Path, scenario: str, *, current: bool,
          write_easy_auth: bool = False) -> Iterator[Live]:
    h = harness(sandbox_factory(scenario), tmp_path)
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(h.open(**(_current_inputs(h) if current else {})))
    session.write_easy_auth = write_easy_auth
    try:
        yield Live(h, loop, session)
    finally:
        loop.run_until_complete(session.close())
        loop.close()


# --- authsettingsV2 -------------------------------------------------------------------------

# Where extra fields go: every object of the configuration the fix reads or writes.
AUTH_PATHS = (
    (), ("platform",), ("globalValidation",), ("login",), ("httpSettings",), ("identityProviders",),
    ("identityProviders", "azureActiveDirectory"),
    ("identityProviders", "azureActiveDirectory", "registration"),
    ("identityProviders", "azureActiveDirectory", "login"),
    ("identityProviders", "azureActiveDirectory", "validation"),
    ("identityProviders", "azureActiveDirectory", "validation", "defaultAuthorizationPolicy"),
)


def _at(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = document
    for key in path:
        node = node.setdefault(key, {})
    return node


def _aad_lists(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    validation = document["identityProviders"]["azureActiveDirectory"]["validation"]
    return validation["allowedAudiences"], validation["defaultAuthorizationPolicy"]["allowedApplications"]


@pytest.fixture
def easy_auth_live(sandbox_factory: Any, tmp_path: Path) -> Iterator[Live]:
    yield from _live(sandbox_factory, tmp_path, "current-not-saved", current=True, write_easy_auth=True)


@SETTINGS
@given(extras=st.dictionaries(st.sampled_from(AUTH_PATHS), EXTRA_FIELDS, max_size=len(AUTH_PATHS)),
       other_providers=st.dictionaries(st.sampled_from(["google", "facebook", "gitHub", "twitter", "apple"]),
                                       st.dictionaries(KEYS, JSON, max_size=3), max_size=2),
       other_audiences=st.lists(GUIDS.map(lambda g: f"api://{g}"), max_size=3),
       other_applications=st.lists(GUIDS, max_size=3))
def test_easy_auth_write_changes_only_the_two_lists(easy_auth_live: Live, extras: dict[tuple[str, ...], Any],
                                                    other_providers: dict[str, Any], other_audiences: list[str],
                                                    other_applications: list[str]) -> None:
    live = easy_auth_live
    state = live.h.sandbox.state
    site = state.sites[state.cipp.function_app.lower()]
    if not hasattr(live, "base"):
        live.base = copy.deepcopy(site.auth_settings_v2)  # type: ignore[attr-defined]
        live.easy_plan = live.plan("api-easy-auth")  # type: ignore[attr-defined]
    document = copy.deepcopy(live.base)  # type: ignore[attr-defined]
    for path, fields in extras.items():
        _at(document, path).update(copy.deepcopy(fields))
    document["identityProviders"].update(copy.deepcopy(other_providers))
    audiences, applications = _aad_lists(document)
    audiences.extend(other_audiences)
    applications.extend(other_applications)
    site.auth_settings_v2 = copy.deepcopy(document)

    live.apply(live.easy_plan)  # type: ignore[attr-defined]

    client = state.identities.api_client_id
    expected = copy.deepcopy(document)
    audiences, applications = _aad_lists(expected)
    audiences.append(f"api://{client}")
    applications.append(client)
    assert site.auth_settings_v2 == expected


# --- the site's identity ----------------------------------------------------------------------

USER_ASSIGNED = st.lists(
    st.tuples(st.text(string.ascii_lowercase + string.digits, min_size=3, max_size=12), GUIDS, GUIDS),
    max_size=3, unique_by=lambda t: t[0],
)


@pytest.fixture
def identity_live(sandbox_factory: Any, tmp_path: Path) -> Iterator[Live]:
    yield from _live(sandbox_factory, tmp_path, "current-no-managed-identity", current=True)


@SETTINGS
@given(user_assigned=USER_ASSIGNED)
def test_turning_on_the_system_identity_keeps_user_assigned_ones(identity_live: Live,
                                                                 user_assigned: list[tuple[str, str, str]]) -> None:
    live = identity_live
    state = live.h.sandbox.state
    site = state.sites[state.cipp.function_app.lower()]
    if not hasattr(live, "identity_plan"):
        live.identity_plan = live.plan("function-app-managed-identity")  # type: ignore[attr-defined]
    attached = {
        f"/subscriptions/{site.subscription_id}/resourceGroups/{site.resource_group}"
        f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}": UserAssignedIdentity(principal, client)
        for name, principal, client in user_assigned
    }
    site.identity_principal_id = None
    site.user_assigned_identities = dict(attached)

    live.apply(live.identity_plan)  # type: ignore[attr-defined]

    assert site.identity_principal_id  # the system-assigned identity the plan turns on
    assert site.user_assigned_identities == attached


# --- requiredResourceAccess and the delegated grant (legacy consent fix) -----------------------

RRA_ENTRIES = st.lists(
    st.tuples(GUIDS, st.lists(st.tuples(GUIDS, st.sampled_from(["Scope", "Role"])), min_size=1, max_size=3)),
    max_size=3, unique_by=lambda t: t[0],
)
SCOPE_NAMES = st.lists(st.text(string.ascii_letters + ".", min_size=1, max_size=12)
                       .filter(lambda s: s != "user_impersonation"), min_size=1, max_size=3, unique=True)


@pytest.fixture
def consent_live(sandbox_factory: Any, tmp_path: Path) -> Iterator[Live]:
    yield from _live(sandbox_factory, tmp_path, "legacy-fresh", current=False)


def _rra(app: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    return [(r.resource_app_id.lower(), [(a.id.lower(), a.type) for a in r.resource_access])
            for r in app.required_resource_access]


@SETTINGS
@given(other_entries=RRA_ENTRIES, existing_scopes=st.none() | SCOPE_NAMES)
def test_consent_fix_adds_one_entry_and_one_scope_and_keeps_the_rest(
        consent_live: Live, other_entries: list[tuple[str, list[tuple[str, str]]]],
        existing_scopes: list[str] | None) -> None:
    live = consent_live
    state = live.h.sandbox.state
    app = next(a for a in state.applications.values() if a.app_id == state.identities.sam_app_id)
    sam_sp = state.service_principal_by_app_id(app.app_id)
    asm_sp = state.service_principal_by_app_id(wk.AZURE_SERVICE_MANAGEMENT_APP_ID)
    if not hasattr(live, "base_rra"):
        live.base_rra = copy.deepcopy(app.required_resource_access)  # type: ignore[attr-defined]
        live.base_grants = copy.deepcopy(state.oauth2_grants)  # type: ignore[attr-defined]
        live.consent_plan = live.plan("sam-app-azure-management-consent")  # type: ignore[attr-defined]
    app.required_resource_access = copy.deepcopy(live.base_rra) + [  # type: ignore[attr-defined]
        RequiredResourceAccess(rid, [ResourceAccess(i, t) for i, t in accesses])  # type: ignore[arg-type]
        for rid, accesses in other_entries if rid != wk.AZURE_SERVICE_MANAGEMENT_APP_ID
    ]
    state.oauth2_grants = copy.deepcopy(live.base_grants)  # type: ignore[attr-defined]
    if existing_scopes is not None:
        grant = OAuth2PermissionGrant(id=str(uuid.uuid4()), client_id=sam_sp.id, consent_type="AllPrincipals",
                                      resource_id=asm_sp.id, scope=" ".join(existing_scopes))
        state.oauth2_grants[grant.id] = grant
    rra_before = _rra(app)

    def grants() -> dict[str, tuple[str, str, str, str | None, str]]:
        # The grants of the CIPP-SAM app (the admin's own sign-in may consent scopes to
        # this tool's client meanwhile: not the fix's write).
        return {g.id: (g.client_id, g.resource_id, g.consent_type, g.principal_id, g.scope)
                for g in state.oauth2_grants.values() if sam_sp.id in (g.client_id, g.resource_id)}

    grants_before = grants()

    live.apply(live.consent_plan)  # type: ignore[attr-defined]

    asm_entry = (wk.AZURE_SERVICE_MANAGEMENT_APP_ID, [(wk.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION, "Scope")])
    assert _rra(app) == rra_before + [asm_entry]
    grants_after = grants()
    if existing_scopes is None:
        [new] = [g for gid, g in grants_after.items() if gid not in grants_before]
        assert new == (sam_sp.id, asm_sp.id, "AllPrincipals", None, "user_impersonation")
        assert {k: v for k, v in grants_after.items() if k in grants_before} == grants_before
    else:
        expected = dict(grants_before)
        gid = next(k for k, v in grants_before.items() if v[1] == asm_sp.id and v[2] == "AllPrincipals")
        expected[gid] = expected[gid][:4] + (" ".join(existing_scopes + ["user_impersonation"]),)
        assert grants_after == expected


# --- identifierUris ---------------------------------------------------------------------------

@pytest.fixture
def identifier_live(sandbox_factory: Any, tmp_path: Path) -> Iterator[Live]:
    yield from _live(sandbox_factory, tmp_path, "current-identifier-uri-missing", current=True)


@SETTINGS
@given(paths=st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10), max_size=3,
                      unique=True), on_domain=st.booleans())
def test_identifier_uri_fix_appends_one_uri_and_keeps_the_others(identifier_live: Live, paths: list[str],
                                                                  on_domain: bool) -> None:
    live = identifier_live
    state = live.h.sandbox.state
    # URIs Entra accepts: api://{tenant id}/… or https:// on a verified domain.
    other_uris = [f"https://{state.default_domain}/{p}" if on_domain else f"api://{state.tenant_id}/{p}"
                  for p in paths]
    client = state.identities.api_client_id
    app = next(a for a in state.applications.values() if a.app_id == client)
    if not hasattr(live, "uri_plan"):
        live.uri_plan = live.plan("api-client-app")  # type: ignore[attr-defined]
    app.identifier_uris = list(other_uris)

    live.apply(live.uri_plan)  # type: ignore[attr-defined]

    assert app.identifier_uris == other_uris + [f"api://{client}"]
