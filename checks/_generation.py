"""`--generation auto`: is this CIPP instance legacy (7.1 and older) or current (7.2+, API
clients)? Decided from what the tenant shows, and every finding is handed back as
evidence so the admin sees why.

Evidence read (concurrently, through the same shared look-ups the checks use, so the
checks that follow send none of these requests again):
- current: the CIPP-SAM app holds the Graph application permissions
  Application.ReadWrite.All and Directory.ReadWrite.All (only 7.2+ needs them: it writes
  API clients app-only);
- current: Easy Auth allows several client applications (legacy had exactly one), or its
  registered client is an app not named CIPP-API (an API client);
- current: the --api-client-id app exposes CIPP's user_impersonation scope
  (ba7ffeff-96ea-4ac4-9822-1bcfee9adaa4) and is not named CIPP-API;
- legacy: Easy Auth's registered client is the app named CIPP-API; the --api-client-id
  app is named CIPP-API; an app named CIPP-API exists.
Current evidence outweighs legacy evidence: an instance upgraded from 7.1 keeps its
CIPP-API app and its old Easy Auth until clients are saved. Nothing either way → None
(the front end asks, or names --generation).

CIPP's version would settle it, but CIPP keeps it in its package (version_latest.txt)
and answers it only to an authenticated GetVersion call, not in an app setting: it is
not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cipp_setup import wellknown
from cipp_setup.engine.model import Generation
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
    if set(cur.REQUIRED_GRAPH_APP_ROLES) <= consented:
        return "current", (
            f"{sam.app.display_name} holds the Graph application permissions Application.ReadWrite.All and "
            "Directory.ReadWrite.All, which only CIPP 7.2+ needs (it writes API clients) → current."
        )
    return "", f"{sam.app.display_name} does not hold both Graph application permissions (legacy, or current before its upgrade)."


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
    if len(s.allowed_applications) > 1:
        found.append(("current", f"Easy Auth allows {len(s.allowed_applications)} client applications; legacy CIPP has one (CIPP-API) → current."))
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
