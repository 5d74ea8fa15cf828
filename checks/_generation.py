"""`--generation auto`: is this CIPP instance legacy (7.1 and older) or current (7.2+, API
clients)? And, for current, which profile: API clients written by the CIPP-SAM user
(7.2-7.3) or by the CIPP-SAM app (7.4+)? Decided from what the tenant shows and the
version where it can be had; every finding is handed back as evidence so the admin sees why.

Generation evidence (concurrently, through the same shared look-ups the checks use, so the
checks that follow send none of these requests again):
- current: Easy Auth allows several client applications (legacy had exactly one), or its
  registered client is an app not named CIPP-API (an API client) — except CIPP-NG's
  single sign-on app (CIPP-SSO), which CIPP at HEAD registers there, and VS Code's client id
  (MCP): neither is an API client;
- current: the --api-client-id app exposes CIPP's user_impersonation scope
  (ba7ffeff-96ea-4ac4-9822-1bcfee9adaa4) and is not named CIPP-API;
- legacy: Easy Auth's registered client is the app named CIPP-API; the --api-client-id
  app is named CIPP-API; an app named CIPP-API exists.
The CIPP-SAM app's Graph application permissions are reported but decide nothing: CIPP's
SAM manifest has asked for them since 7.1 at least, and 7.2-7.3 do not use them for clients.
Current evidence outweighs legacy evidence: an instance upgraded from 7.1 keeps its
CIPP-API app and its old Easy Auth until clients are saved. Nothing either way → None
(the front end asks, or names --generation).

Profile evidence (`detect_profile`), strongest first: the version the admin gave
(--cipp-version); GetVersion's LocalCIPPAPIVersion once an API client works (the API's own
version: New-CIPPAPIConfig lives in CIPP-API); Easy Auth written by CIPP-NG (a CIPP-SSO
registration, MCP audiences, VS Code's client id: all far later than 7.4); an API client
app with no user owner (created app-only, which only 7.4+ does). A client owned by a user
was created by 7.2-7.3, but the instance may have been upgraded since: reported, not
decisive. Nothing decisive → None: the wizard asks, `check` reports the checks that depend
on it without counting them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cipp_setup import wellknown
from cipp_setup.engine.model import Generation, Profile
from cipp_setup.engine.result import PROFILE_LABELS, profile_of_version, version_numbers
from cipp_setup.engine.runner import ServiceFailure

from . import _current as cur
from . import _lookups as lk

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext

LEGACY_APP = wellknown.CIPP_LEGACY_API_APP_NAME


@dataclass(frozen=True)
class GenerationVerdict:
    generation: Generation | None  # None: the tenant does not say
    evidence: tuple[str, ...]


async def _sam_evidence(ctx: CheckContext) -> tuple[str, str]:
    """(kind, sentence): kind is "current", "legacy" or "" (says nothing)."""
    try:
        sam, _, consented = await cur.sam_graph_app_roles(ctx)
    except lk.SamAppNotFound:
        return "", "No CIPP-SAM application was found."
    except lk.SamAppAmbiguous as exc:
        return "", f"{len(exc.candidates)} applications are named CIPP-SAM (pass --sam-app)."
    # CIPP's SAM manifest lists these in every version since 7.1: they say nothing alone.
    if set(cur.REQUIRED_GRAPH_APP_ROLES) <= consented:
        return "", (
            f"{sam.app.display_name} holds the Graph application permissions Application.ReadWrite.All and "
            "Directory.ReadWrite.All (CIPP 7.4+ creates API clients with them; their consent alone does not "
            "tell the version)."
        )
    return "", f"{sam.app.display_name} does not hold both Graph application permissions (CIPP 7.4+ needs them to create API clients; older versions do not)."


async def _app_name(ctx: CheckContext, app_id: str) -> str | None:
    apps = await cur.applications_by_app_id(ctx, app_id)
    return apps[0].display_name if apps else None


async def _easy_auth_evidence(ctx: CheckContext) -> list[tuple[str, str]]:
    try:
        ea = await cur.easy_auth(ctx)
    except cur.FunctionAppUnknown:
        return [("", "The Function App is unknown (no --function-app or azurewebsites.net --api-url): Easy Auth not read.")]
    except (cur.FunctionAppNotFound, ServiceFailure) as exc:
        return [("", f"Easy Auth could not be read: {exc}")]
    s = ea.settings
    if not (s.platform_enabled and s.aad_configured):
        return [("", "Easy Auth has no Microsoft Entra client yet (no API saved to Azure).")]
    found: list[tuple[str, str]] = []
    layout = await cur.easy_auth_layout(ctx, ea)
    if layout.sso_app_id:
        found.append(("current", (
            f"Easy Auth's registered client is CIPP-NG's single sign-on app {wellknown.CIPP_SSO_APP_NAME} "
            f"({layout.sso_app_id}), not an API client; CIPP-NG writes API clients beside it → current."
        )))
    if layout.mcp:
        found.append(("current", "Easy Auth carries CIPP's MCP audiences / VS Code's client id (CIPP-NG) → current."))
    clients = layout.client_ids
    if len(clients) > 1:
        found.append(("current", f"Easy Auth allows {len(clients)} API client applications; legacy CIPP has one (CIPP-API) → current."))
    if layout.sso_app_id:
        return found
    name = await _app_name(ctx, s.client_id)
    if name is None:
        found.append(("", f"Easy Auth's registered client {s.client_id} is not an app in this tenant."))
    elif name == LEGACY_APP:
        found.append(("legacy", f"Easy Auth's registered client is the app named {LEGACY_APP}, which legacy CIPP creates → legacy."))
    else:
        found.append(("current", f"Easy Auth's registered client is '{name}', an API client → current."))
    return found



async def _api_client_evidence(ctx: CheckContext) -> tuple[str, str]:
    if not (ctx.inputs.api_client_id or "").strip():
        return "", ""
    found = await cur.api_client_app(ctx)
    if found.app is None:
        return "", "The --api-client-id app does not exist in this tenant."
    name = found.app.display_name
    if name == LEGACY_APP:
        return "legacy", f"The API client is the app named {LEGACY_APP}, which legacy CIPP creates → legacy."
    scopes = {s.id for s in found.service_principal.scopes} if found.service_principal else set()
    if wellknown.CIPP_API_CLIENT_SCOPE_ID in scopes:
        return "current", f"The API client '{name}' exposes CIPP's user_impersonation scope and is not named {LEGACY_APP}: an API client → current."
    return "", f"The API client '{name}' does not look like one CIPP created."


async def _legacy_app_evidence(ctx: CheckContext) -> tuple[str, str]:
    apps = await lk.graph(ctx).applications_by_display_name(LEGACY_APP)
    if apps:
        return "legacy", f"An application named {LEGACY_APP} exists (legacy CIPP's API app)."
    return "", ""


async def detect_generation(ctx: CheckContext) -> GenerationVerdict:
    """Legacy or current from the tenant's evidence; never raises for a failed read."""
    if getattr(lk.gateways(ctx), "graph", None) is None:
        return GenerationVerdict(None, ("Nobody signed in: the tenant could not be asked.",))
    results = await lk.settle(
        _sam_evidence(ctx), _easy_auth_evidence(ctx), _api_client_evidence(ctx), _legacy_app_evidence(ctx)
    )
    findings: list[tuple[str, str]] = []
    for value in results:
        if isinstance(value, BaseException):
            findings.append(("", f"A read failed: {_describe(value)}"))
        elif isinstance(value, list):
            findings.extend(value)
        else:
            findings.append(value)
    findings = [f for f in findings if f[1]]
    kinds = {kind for kind, _ in findings}
    evidence = [sentence for _, sentence in findings]
    generation: Generation | None = None
    if "current" in kinds:
        generation = "current"
        if "legacy" in kinds:
            evidence.append("Current evidence outweighs legacy remnants: an instance upgraded from 7.1 keeps its CIPP-API app.")
    elif "legacy" in kinds:
        generation = "legacy"
    return GenerationVerdict(generation, tuple(evidence))


def _describe(exc: BaseException) -> Any:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


# --- the profile (current generation: who writes the API clients) ---------------------------


@dataclass(frozen=True)
class ProfileVerdict:
    profile: Profile | None  # None: nothing decisive (the wizard asks; check reports)
    evidence: tuple[str, ...]


def profile_from_given_version(version: str) -> ProfileVerdict:
    numbers = version_numbers(version)
    if numbers is None:
        return ProfileVerdict(None, (f"--cipp-version {version!r} is not a version number.",))
    profile = profile_of_version(numbers)
    return ProfileVerdict(profile, (f"--cipp-version {version} was given: {PROFILE_LABELS[profile]}.",))


# GetVersion's LocalVersion is the front end's own version, only compared, never stored;
# a run has none to send, and any valid version gets the API's own version back.
_LOCAL_VERSION_SENT = "0.0.0"


async def _get_version_evidence(ctx: CheckContext) -> tuple[Profile | None, str]:
    inputs = ctx.inputs
    if not (inputs.api_url and inputs.api_client_id and inputs.api_client_secret):
        return None, ""
    try:
        token = await lk.api_token(ctx)
        answer = await lk.gateways(ctx).api.get(inputs.api_url, "GetVersion", token, {"LocalVersion": _LOCAL_VERSION_SENT})
    except Exception as exc:  # noqa: BLE001 - a failed call is evidence of nothing; api-token says why
        return None, f"GetVersion could not be asked: {_describe(exc)}"
    body = answer.json if answer.is_json and isinstance(answer.json, dict) else {}
    version = str(body.get("LocalCIPPAPIVersion") or "")
    numbers = version_numbers(version)
    if answer.status != 200 or numbers is None:
        return None, f"GetVersion answered {answer.status} without a version (the client's role may not allow it)."
    profile = profile_of_version(numbers)
    return profile, f"GetVersion: this instance runs CIPP-API {version} → {PROFILE_LABELS[profile]}."


async def _easy_auth_profile_evidence(ctx: CheckContext) -> tuple[Profile | None, str]:
    try:
        ea = await cur.easy_auth(ctx)
    except Exception:  # noqa: BLE001 - the generation evidence says why it could not be read
        return None, ""
    if not (ea.settings.platform_enabled and ea.settings.aad_configured):
        return None, ""
    layout = await cur.easy_auth_layout(ctx, ea)
    if layout.sso_app_id or layout.mcp:
        what = "CIPP-NG's single sign-on app" if layout.sso_app_id else "CIPP's MCP audiences"
        return "clients-by-app", f"Easy Auth holds {what}, which CIPP added long after 7.4 → {PROFILE_LABELS['clients-by-app']}."
    return None, ""


async def _client_owner_evidence(ctx: CheckContext) -> list[tuple[Profile | None, str]]:
    """Who created the API client apps: app-only creation (7.4+) leaves no user owner."""
    ids: list[str] = []
    given = (ctx.inputs.api_client_id or "").strip().lower()
    if given:
        ids.append(given)
    try:
        ea = await cur.easy_auth(ctx)
        layout = await cur.easy_auth_layout(ctx, ea)
        ids.extend(i for i in layout.client_ids if i not in ids)
    except Exception:  # noqa: BLE001 - Easy Auth unreadable: only --api-client-id is looked at
        pass
    found: list[tuple[Profile | None, str]] = []
    for app_id in ids[:5]:
        apps = await cur.applications_by_app_id(ctx, app_id)
        if not apps or apps[0].display_name == LEGACY_APP:
            continue
        app = apps[0]
        sps = await lk.graph(ctx).service_principals_by_app_id(app_id)
        scopes = {sc.id for sc in sps[0].scopes} if sps else set()
        if wellknown.CIPP_API_CLIENT_SCOPE_ID not in scopes:
            continue
        owners = await lk.graph(ctx).application_owners(app.id)
        if owners:
            found.append((None, (
                f"The API client '{app.display_name}' is owned by {owners[0].user_principal_name}: created with a "
                "user's token, as CIPP 7.2-7.3 does (the instance may have been upgraded since)."
            )))
        else:
            found.append(("clients-by-app", (
                f"The API client '{app.display_name}' has no user owner: created app-only, as only CIPP 7.4+ "
                f"does → {PROFILE_LABELS['clients-by-app']}."
            )))
    return found


async def detect_profile(ctx: CheckContext) -> ProfileVerdict:
    """Which current profile: the given version, else GetVersion, else the tenant's evidence;
    never raises for a failed read. None when nothing is decisive."""
    if (ctx.inputs.cipp_version or "").strip():
        return profile_from_given_version(ctx.inputs.cipp_version or "")
    results = await lk.settle(_get_version_evidence(ctx), _easy_auth_profile_evidence(ctx), _client_owner_evidence(ctx))
    findings: list[tuple[Profile | None, str]] = []
    for value in results:
        if isinstance(value, BaseException):
            findings.append((None, f"A read failed: {_describe(value)}"))
        elif isinstance(value, list):
            findings.extend(value)
        else:
            findings.append(value)
    findings = [f for f in findings if f[1]]
    evidence = tuple(sentence for _, sentence in findings)
    # GetVersion, when it answered, is the instance itself speaking: it wins.
    by_version = findings[0][0] if findings and findings[0][1].startswith("GetVersion:") else None
    if by_version is not None:
        return ProfileVerdict(by_version, evidence)
    decided = {p for p, _ in findings if p is not None}
    if len(decided) == 1:
        return ProfileVerdict(decided.pop(), evidence)
    return ProfileVerdict(None, evidence)
