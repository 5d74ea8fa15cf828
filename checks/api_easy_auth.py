"""api-easy-auth: the Function App's Easy Auth (authsettingsV2) lets the API client in.

Facts (plain values, stable; read by the current-generation fixes and by api-token):
  function_app_id          the Function App's resource id
  tenant_id                the tenant the client's tokens come from
  platform_enabled         authsettingsV2 platform.enabled (bool)
  aad_enabled              the azureActiveDirectory provider is configured and enabled (bool)
  registration_client_id   registration.clientId ("" when none)
  open_id_issuer           registration.openIdIssuer
  allowed_audiences        validation.allowedAudiences (list)
  allowed_applications     validation.defaultAuthorizationPolicy.allowedApplications (list)
  allowed_tenants          WEBSITE_AUTH_AAD_ALLOWED_TENANTS as a list, [] when unset, None when unreadable
  unauthenticated_action   globalValidation.unauthenticatedClientAction ("" when unset)
  token_version            1 or 2: the version of the client's access tokens
  expected_audience        the aud its tokens carry (api://{id} for v1, {id} for v2)
  client_saved             the client is an allowed application or audience (bool)
"""

from __future__ import annotations

from dataclasses import replace

from cipp_setup import wellknown
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    FixableCheck,
    Message,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import ROLES_FOR_EASY_AUTH, lower_ids
from cipp_setup.engine.writes import ARM_USER_IMPERSONATION
from cipp_setup.gateways.errors import PermissionDenied
from cipp_setup.gateways.web import ALLOWED_TENANTS_SETTING

from . import _current as cur
from . import _lookups as lk
from . import _remediations

SAVE_TO_AZURE = (
    "In CIPP: Integrations → CIPP-API → API Clients → check the client is Enabled → Save to Azure "
    "(it restarts the Function App; allow about a minute)."
)

SPEC = CheckSpec(
    id="api-easy-auth",
    title="The Function App's Easy Auth accepts the API client's tokens",
    severity=Severity.HIGH,
    required=True,
    generations=frozenset({"current"}),
    services=frozenset({"arm", "graph"}),
    remediation=Remediation(
        portal=(
            SAVE_TO_AZURE + " By hand: Azure portal → Function App → Settings → Authentication → "
            "Microsoft identity provider → Edit → Allowed token audiences: api://{client id} (and the "
            "bare client id for v2 tokens); Client application requirement: allow the client id."
        ),
        cli=(
            "az webapp auth show -g <rg> -n <function-app>   # read; CIPP's Save to Azure writes it. "
            "az webapp auth microsoft update -g <rg> -n <function-app> --allowed-audiences api://<client-id>"
        ),
    ),
    docs=(
        "Every call to the CIPP API passes App Service authentication (Easy Auth) first. CIPP 7.2+ "
        "writes it when API clients are saved to Azure: the Microsoft Entra provider enabled, "
        "registration.clientId the first client, openIdIssuer https://sts.windows.net/{tenant}/v2.0, "
        "allowedAudiences api://{id} for every enabled client, allowedApplications every enabled "
        f"client id, unauthenticatedClientAction Return401, and the app setting {ALLOWED_TENANTS_SETTING}"
        " = the tenant. A client that is enabled in CIPP but was never saved to Azure is absent, and "
        "its calls get 401. Tokens of an app with requestedAccessTokenVersion 2 carry the bare "
        "client id as aud, which CIPP does not allow (only the registration's own client id is "
        "accepted implicitly): 401 as well. This check reads authsettingsV2 without secrets "
        "(Reader can) and the one app setting (needs config/list/action), and says which of "
        "these a token of the client would trip on. Skipped without --api-client-id."
    ),
    causes=with_remediations(_remediations.EASY_AUTH, (
        Cause("client-not-saved-to-azure", "The client is neither an allowed application nor an allowed audience: enabled in CIPP but never saved to Azure (or disabled)."),
        Cause("audience-not-allowed", "The aud of the client's tokens (api://{id}, or the bare id for v2 tokens) is not an allowed audience."),
        Cause("app-not-allowed", "The client's audience is allowed but the client is not among the allowed applications (403)."),
        Cause("tenant-not-allowed", "The tenant is not the issuer's tenant or not in WEBSITE_AUTH_AAD_ALLOWED_TENANTS."),
        Cause("easy-auth-disabled", "App Service authentication or its Microsoft Entra provider is off: CIPP sees no caller."),
        Cause("unauthenticated-allowed", "Requests without a token are let through (AllowAnonymous) instead of getting 401."),
        Cause("cannot-read-auth-settings", "The signed-in admin may not read the Function App's authentication settings."),
        Cause("function-app-unknown", "Nothing says which Function App runs CIPP: pass --function-app or an azurewebsites.net --api-url."),
        Cause("function-app-not-found", "No such Function App, or the signed-in admin cannot see it."),
    )),
)

_SUMMARY = {
    "client-not-saved-to-azure": "Easy Auth does not know client {client}: if it is enabled in CIPP, it was never saved to Azure.",
    "audience-not-allowed": "Easy Auth does not allow the audience {aud} the client's tokens carry: every call gets 401.",
    "app-not-allowed": "Client {client} is not among Easy Auth's allowed applications: calls get 403.",
    "tenant-not-allowed": "Easy Auth does not accept tokens from this tenant: every call gets 401.",
    "easy-auth-disabled": "App Service authentication (Easy Auth) with Microsoft Entra is not enabled.",
}


class ApiEasyAuth(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.UPDATE_EASY_AUTH})

    async def run(self, ctx: CheckContext) -> CheckResult:
        client_id = (ctx.inputs.api_client_id or "").strip().lower()
        if not client_id:
            return self.skipped("Skipped: no API client given (--api-client-id).")
        ea_r, app_r = await lk.settle(cur.easy_auth(ctx), cur.api_client_app(ctx))
        if isinstance(ea_r, cur.FunctionAppUnknown):
            return self.failed("function-app-unknown", str(ea_r))
        if isinstance(ea_r, cur.FunctionAppNotFound):
            return self.failed("function-app-not-found", str(ea_r))
        if isinstance(ea_r, PermissionDenied):
            return self.failed(
                "cannot-read-auth-settings",
                "The signed-in admin may not read the Function App's authentication settings.",
                messages=(Message("info", ea_r.message),),
            )
        lk.reraise_unexpected(ea_r)
        notes: list[Message] = []
        if isinstance(app_r, BaseException):
            token_version = 1
            notes.append(Message("info", f"The client's app could not be read ({app_r}); assuming v1 tokens."))
        else:
            token_version = app_r.token_version
            if app_r.app is None:
                notes.append(Message("info", "The client's app was not found (see api-client-app); assuming v1 tokens."))
        ea: cur.EasyAuth = ea_r
        s = ea.settings
        tenant = (ctx.admin.tenant_id if ctx.admin else ctx.inputs.tenant).lower()
        aud = cur.expected_audience(client_id, token_version)
        verdict = cur.easy_auth_verdict(ea, client_id=client_id, aud=aud, tid=tenant)
        if ea.allowed_tenants_note:
            notes.append(Message("info", ea.allowed_tenants_note))
        facts = {
            "function_app_id": ea.ref.resource_id,
            "tenant_id": tenant,
            "platform_enabled": s.platform_enabled,
            "aad_enabled": s.aad_enabled and s.aad_configured,
            "registration_client_id": s.client_id,
            "open_id_issuer": s.open_id_issuer,
            "allowed_audiences": list(s.allowed_audiences),
            "allowed_applications": list(s.allowed_applications),
            "allowed_tenants": list(ea.allowed_tenants) if ea.allowed_tenants is not None else None,
            "unauthenticated_action": s.unauthenticated_action,
            "token_version": token_version,
            "expected_audience": aud,
            "client_saved": client_id in s.allowed_applications
            or f"api://{client_id}" in {a.lower() for a in s.allowed_audiences},
        }
        tenants_found = (
            "not readable" if ea.allowed_tenants is None else ", ".join(ea.allowed_tenants) or "not set (any)"
        )
        evidence = (
            Evidence("Function App", ea.ref.resource_id, identifiers=("object-id",)),
            Evidence(
                "Easy Auth (Microsoft Entra provider)",
                "on" if s.platform_enabled and s.aad_enabled and s.aad_configured else "off",
                "on",
            ),
            Evidence("allowedApplications", ", ".join(s.allowed_applications) or "none (any)", client_id, ("object-id",)),
            Evidence(
                "allowedAudiences", ", ".join(s.allowed_audiences) or "none",
                f"{aud} (the aud of the client's v{token_version} tokens)",
            ),
            Evidence("registration clientId", s.client_id or "none", identifiers=("object-id",)),
            Evidence("openIdIssuer", s.open_id_issuer or "none", f"https://sts.windows.net/{tenant}/v2.0", ("tenant",)),
            Evidence(ALLOWED_TENANTS_SETTING, tenants_found, tenant, ("tenant",)),
            Evidence("unauthenticatedClientAction", s.unauthenticated_action or "unset", "Return401"),
        )
        if verdict.cause is not None:
            hint = SAVE_TO_AZURE
            if verdict.cause == "audience-not-allowed" and token_version == 2:
                hint = (
                    "The app asks for v2 tokens (requestedAccessTokenVersion 2), whose aud is the bare client "
                    "id. Set it back to v1 (App registrations → the client → Manifest → "
                    "requestedAccessTokenVersion: null), or add the bare id to the allowed audiences."
                )
            return self.failed(
                verdict.cause,
                _SUMMARY[verdict.cause].format(client=client_id, aud=aud),
                evidence=evidence, facts=facts,
                messages=tuple(notes) + (Message("info", verdict.reason), Message("hint", hint)),
            )
        anonymous = s.require_authentication is False or s.unauthenticated_action.lower() == "allowanonymous"
        if anonymous:
            return self.failed(
                "unauthenticated-allowed",
                "Easy Auth lets requests without a token through; CIPP sets Return401.",
                evidence=evidence, facts=facts, messages=tuple(notes) + (Message("hint", SAVE_TO_AZURE),),
            )
        if s.unauthenticated_action.lower() == "redirecttologinpage":
            layout = await cur.easy_auth_layout(ctx, ea)
            if layout.sso_app_id:
                # CIPP-NG's single sign-on: browsers are sent to sign in, as CIPP writes it;
                # a call with an accepted token is not affected.
                notes.append(Message("info", (
                    f"Easy Auth's registered client is CIPP-NG's single sign-on app ({layout.sso_app_id}), which "
                    "sends requests without a token to the sign-in page: that is how CIPP-NG sets it up."
                )))
                return self.passed(
                    f"Easy Auth accepts client {client_id} (aud {aud}) from tenant {tenant}, beside CIPP-NG's single sign-on.",
                    evidence=evidence, facts=facts, messages=tuple(notes),
                )
        if s.unauthenticated_action and s.unauthenticated_action.lower() != "return401":
            notes.append(Message(
                "info", f"Requests without a token get {s.unauthenticated_action} instead of 401; CIPP sets Return401."
            ))
            return self.warned(
                f"Easy Auth accepts the client, but answers unauthenticated requests with {s.unauthenticated_action}.",
                evidence=evidence, facts=facts, messages=tuple(notes),
            )
        return self.passed(
            f"Easy Auth accepts client {client_id} (aud {aud}) from tenant {tenant}.",
            evidence=evidence, facts=facts, messages=tuple(notes),
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_easy_auth(result, ctx)

    def opted_in(self, plan: FixPlan) -> FixPlan:
        return allow_easy_auth_write(plan)


# --- the fix ------------------------------------------------------------------------------

# Easy Auth causes a write of the allowed lists (and CIPP's provider set-up) can fix.
EASY_AUTH_ARM_CAUSES = frozenset({"client-not-saved-to-azure", "audience-not-allowed", "app-not-allowed",
                                  "easy-auth-disabled", "unauthenticated-allowed"})

SAVE_TO_AZURE_STEPS = (
    "In CIPP: Integrations → CIPP-API → API Clients → make sure the client is enabled → "
    "Save to Azure. CIPP writes the Function App's authentication settings with its managed "
    "identity and restarts the app: allow about a minute, then run the check again."
)
WRITE_EASY_AUTH_HINT = (
    "Or let cipp-setup write them through Azure Resource Manager: cipp-setup fix --write-easy-auth."
)
EASY_AUTH_WARNINGS = (
    "CIPP's own API Clients table should agree: its next Save to Azure rewrites these settings "
    "from that table (a client not enabled there is dropped again).",
    "Writing the authentication settings restarts the Function App: allow about a minute.",
)


def plan_easy_auth(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    site_id = result.facts.get("function_app_id")
    app_id = str(result.facts.get("api_client_app_id") or ctx.inputs.api_client_id or "").lower()
    if not site_id or not app_id or result.cause not in EASY_AUTH_ARM_CAUSES | {"tenant-not-allowed"}:
        return None  # the settings could not be read, or no client was named
    site_id = str(site_id)
    audiences = [str(a) for a in (result.facts.get("allowed_audiences") or [])]
    applications = lower_ids(result.facts.get("allowed_applications"))
    v2 = str(result.facts.get("token_version") or "") == "2"
    add_audiences = [a for a in ([f"api://{app_id}"] + ([app_id] if v2 else []))
                     if a.lower() not in (x.lower() for x in audiences)]
    add_applications = [app_id] if app_id not in applications else []
    require_auth = result.cause in ("unauthenticated-allowed", "easy-auth-disabled")
    site_name = site_id.rstrip("/").rsplit("/", 1)[-1]
    after_parts = []
    if result.cause == "easy-auth-disabled":
        after_parts.append("the Microsoft provider enabled")
    if add_applications:
        after_parts.append(f"allowedApplications + {app_id}")
    if add_audiences:
        after_parts.append("allowedAudiences + " + ", ".join(add_audiences))
    if require_auth:
        after_parts.append("unauthenticated requests answered 401")
    change = PlannedChange(
        check_id=result.check_id, action=p.UPDATE_EASY_AUTH,
        api="Azure Resource Manager PUT {Function App}/config/authsettingsV2",
        target=f"Easy Auth (authentication settings) of Function App {site_name}",
        before=(f"allowedApplications: {', '.join(applications) or 'none'}; "
                f"allowedAudiences: {', '.join(audiences) or 'none'}"),
        after="; ".join(after_parts or ["the client allowed, as CIPP writes it"]) + "; everything else kept",
        admin_role_needed=ROLES_FOR_EASY_AUTH, grants_privilege=True, reversible=True,
        params={"site_id": site_id, "app_id": app_id, "add_audiences": add_audiences,
                "add_applications": add_applications, "require_authentication": require_auth},
        permission=ARM_USER_IMPERSONATION, notes=EASY_AUTH_WARNINGS,
    )
    title = "Allow the API client in the Function App's Easy Auth"
    if result.cause == "tenant-not-allowed":
        # WEBSITE_AUTH_AAD_ALLOWED_TENANTS is an app setting CIPP writes with the rest;
        # cipp-setup does not write app settings, so Save to Azure is the one fix here.
        return FixPlan(result.check_id, title, result.cause, (change,), applicable=False,
                       explanation=SAVE_TO_AZURE_STEPS)
    if result.cause == "audience-not-allowed":
        explanation = (
            f"The app asks for v2 access tokens (requestedAccessTokenVersion 2), whose aud is the bare "
            f"client id {app_id}, while CIPP allows only api://{app_id}: Save to Azure does not help. "
            f"Set it back in Entra admin center → App registrations → the client → Manifest: "
            f"requestedAccessTokenVersion null (v1 tokens), or let cipp-setup add the bare id to the "
            f"allowed audiences: cipp-setup fix --write-easy-auth."
        )
    else:
        explanation = SAVE_TO_AZURE_STEPS + " " + WRITE_EASY_AUTH_HINT
    return FixPlan(result.check_id, title, result.cause, (change,), applicable=False, explanation=explanation)


def allow_easy_auth_write(plan: FixPlan) -> FixPlan:
    """`--write-easy-auth`: the Easy Auth plan applied through ARM (with its warnings)."""
    if plan.check_id != SPEC.id or plan.applicable or plan.cause not in EASY_AUTH_ARM_CAUSES:
        return plan
    return replace(plan, applicable=True, explanation=None,
                   title="Allow the API client in the Function App's Easy Auth (written through ARM)")
