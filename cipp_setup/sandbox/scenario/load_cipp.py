"""Loading the CIPP instance: its Function App (identity, Easy Auth, settings), API clients, logs."""

from __future__ import annotations

import random
from typing import Any

from cipp_setup import wellknown
from cipp_setup.sandbox.scenario.ids import b64_guid_bytes
from cipp_setup.sandbox.scenario.resolve import DAY, FUNCTION_APP_IDENTITY_KEY, Resolver
from cipp_setup.sandbox.state import ApiClient, CippInstance, LogEntry, ServicePrincipal, Site, UserAssignedIdentity

# Generated log entries: (API, message, severity) as CIPP writes them.
_LOG_SAMPLES = [
    ("Standards", "Standard applied successfully", "Info"),
    ("Update-CIPPDynamicTenantGroups", "Updated tenant group members", "Info"),
    ("ExecCPVPermissions", "Refreshed CPV permissions for tenant", "Info"),
    ("Alerts", "Ran alert checks", "Info"),
    ("Scheduler_Billing", "Completed scheduled task", "Info"),
    ("BestPracticeAnalyser", "Best practice analyser finished", "Info"),
    ("Standards", "Could not apply standard: the tenant did not answer in time", "Warning"),
    ("ExecCPVPermissions", "Could not connect to tenant: insufficient permissions", "Error"),
    ("Alerts", "Alert check skipped: no licence for this feature", "Debug"),
]


def load_function_app_identity(ctx: Resolver, cipp: dict[str, Any]) -> None:
    """The Function App's managed identity: a service principal other sections may name."""
    function_app = cipp["function_app"]
    identity = function_app.get("managed_identity", True)
    if identity is False:
        return
    identity = identity if isinstance(identity, dict) else {}
    sp = ServicePrincipal(
        id=(identity.get("id") or ctx.derive_id("managed_identity", function_app["name"])).lower(),
        app_id=(
            identity.get("app_id") or ctx.derive_id("managed_identity_app", function_app["name"])
        ).lower(),
        display_name=function_app["name"],
        service_principal_type="ManagedIdentity",
        app_owner_organization_id=None,
    )
    sp.service_principal_names = [
        sp.app_id,
        f"https://identity.azure.net/{b64_guid_bytes(sp.id)}",
    ]
    ctx.add_service_principal(
        "cipp.function_app",
        FUNCTION_APP_IDENTITY_KEY,
        sp,
        "cipp.function_app (its managed identity)",
    )


def _user_assigned_identity(ctx: Resolver, name: str, resource_id: str) -> UserAssignedIdentity:
    """A user-assigned identity resource and its service principal, as Entra ID lists it."""
    sp = ServicePrincipal(
        id=ctx.derive_id("user_assigned_identity", name).lower(),
        app_id=ctx.derive_id("user_assigned_identity_app", name).lower(),
        display_name=name,
        service_principal_type="ManagedIdentity",
        app_owner_organization_id=None,
    )
    sp.service_principal_names = [sp.app_id, f"https://identity.azure.net/{resource_id}"]
    ctx.state.add_service_principal(sp)
    return UserAssignedIdentity(principal_id=sp.id, client_id=sp.app_id)


def easy_auth_settings(
    ctx: Resolver, spec: dict[str, Any], cipp: dict[str, Any], field: str
) -> tuple[dict[str, Any], list[str]]:
    """authsettingsV2 `properties` as CIPP writes them, and the allowed tenants."""
    if "clients" in spec:
        client_keys = list(spec["clients"])
        client_fields = [f"{field}.clients[{i}]" for i in range(len(client_keys))]
    else:
        client_keys = [
            c["app"]
            for c in cipp.get("api_clients", [])
            if c.get("enabled", True) and c.get("saved_to_azure", False)
        ]
        client_fields = [f"cipp.api_clients[{i}].app" for i in range(len(client_keys))]
    client_ids: list[str] = []
    for key, client_field in zip(client_keys, client_fields):
        client_ids.append(ctx.application(key, client_field).app_id)
    audiences = (
        [
            ctx.substitute(a, f"{field}.allowed_audiences[{i}]")
            for i, a in enumerate(spec["allowed_audiences"])
        ]
        if "allowed_audiences" in spec
        else [f"api://{cid}" for cid in client_ids]
    )
    issuer = ctx.substitute(
        spec.get("issuer", "https://sts.windows.net/{tenant_id}/v2.0"), f"{field}.issuer"
    )
    tenants = [
        ctx.substitute(t, f"{field}.allowed_tenants[{i}]")
        for i, t in enumerate(spec.get("allowed_tenants", ["{tenant_id}"]))
    ]
    registration: dict[str, Any] = {"openIdIssuer": issuer}
    if client_ids:
        registration["clientId"] = client_ids[0]
    properties: dict[str, Any] = {
        "platform": {"enabled": spec.get("enabled", True), "runtimeVersion": "~1"},
        "globalValidation": {
            "requireAuthentication": spec.get("require_authentication", True),
            "unauthenticatedClientAction": spec.get("unauthenticated_action", "Return401"),
        },
        "identityProviders": {
            "azureActiveDirectory": {
                "enabled": True,
                "registration": registration,
                "login": {"disableWWWAuthenticate": False},
                "validation": {
                    "jwtClaimChecks": {},
                    "allowedAudiences": audiences,
                    "defaultAuthorizationPolicy": {
                        "allowedPrincipals": {},
                        "allowedApplications": client_ids,
                    },
                },
            },
        },
        "login": {
            "routes": {},
            "tokenStore": {
                "enabled": False,
                "tokenRefreshExtensionHours": 72.0,
                "fileSystem": {},
                "azureBlobStorage": {},
            },
            "preserveUrlFragmentsForLogins": False,
            "cookieExpiration": {"convention": "FixedTime", "timeToExpiration": "08:00:00"},
            "nonce": {"validateNonce": True, "nonceExpirationInterval": "00:05:00"},
        },
        "httpSettings": {
            "requireHttps": True,
            "routes": {"apiPrefix": "/.auth"},
            "forwardProxy": {"convention": "NoProxy"},
        },
    }
    if "sso_app" in spec:
        _as_cipp_ng_writes_it(ctx, spec, properties, client_ids, field)
        tenants = []  # Set-CIPPSSOEasyAuth removes WEBSITE_AUTH_AAD_ALLOWED_TENANTS
    return properties, tenants


def _as_cipp_ng_writes_it(ctx: Resolver, spec: dict[str, Any], properties: dict[str, Any],
                          client_ids: list[str], field: str) -> None:
    """Easy Auth as CIPP-NG writes it at HEAD (CIPP-API 10.8.2 Set-CIPPSSOEasyAuth, then
    Set-CippApiAuth's CIPPNG branch): the CIPP-SSO app is the registration (its secret in the
    AUTH_SECRET setting, the v2 issuer of the tenant), browsers are redirected to sign in
    except on the public paths, and the lists merge the SSO app, the API clients and, with MCP
    clients, the host-based MCP audiences, the bare MCP app ids and VS Code's client id."""
    sso = ctx.application(spec["sso_app"], f"{field}.sso_app").app_id
    mcp = [ctx.application(k, f"{field}.mcp_clients[{i}]").app_id for i, k in enumerate(spec.get("mcp_clients", []))]
    host = f"{ctx.state.cipp.function_app}.azurewebsites.net" if ctx.state.cipp else ""
    apps = [sso] + [c for c in client_ids if c != sso]
    audiences = [f"api://{a}" for a in apps]
    if mcp:
        audiences += [f"https://{host}", f"https://{host}/api/ExecMcp"] + mcp
        apps.append(wellknown.VS_CODE_CLIENT_ID)
    aad = properties["identityProviders"]["azureActiveDirectory"]
    aad["registration"] = {
        "clientId": sso, "clientSecretSettingName": "AUTH_SECRET",
        "openIdIssuer": ctx.substitute("https://login.microsoftonline.com/{tenant_id}/v2.0", f"{field}.sso_app"),
    }
    aad["validation"]["allowedAudiences"] = audiences
    aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"] = apps
    properties["globalValidation"] = {
        "unauthenticatedClientAction": "RedirectToLoginPage",
        "redirectToProvider": "azureactivedirectory",
        "excludedPaths": ["/api/Public*", "/API/Public*", "/api/public*", "/api/setup/health"],
    }
    properties["login"]["tokenStore"]["enabled"] = True


def load_cipp(ctx: Resolver, spec: dict[str, Any]) -> None:
    fa = spec["function_app"]
    sub = ctx.subscription(fa["subscription"], "cipp.function_app.subscription")
    rg = ctx.resource_group(
        sub, fa["resource_group"], "cipp.function_app.resource_group", create=True
    )
    location = fa.get("location", rg.location)
    site = Site(
        subscription_id=sub.subscription_id,
        resource_group=rg.name,
        name=fa["name"],
        location=location,
    )
    identity = ctx.sps.get(FUNCTION_APP_IDENTITY_KEY)
    site.identity_principal_id = identity.id if identity else None
    for name in fa.get("user_assigned_identities", []):
        resource_id = (f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg.name}/providers/"
                       f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}")
        site.user_assigned_identities[resource_id] = _user_assigned_identity(ctx, name, resource_id)
    site.app_settings = {
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "FUNCTIONS_WORKER_RUNTIME": "powershell",
    }
    ctx.state.cipp = CippInstance(
        generation=spec["generation"], version=spec["version"], function_app=fa["name"]
    )
    if "easy_auth" in fa:
        site.auth_settings_v2, tenants = easy_auth_settings(
            ctx, fa["easy_auth"], spec, "cipp.function_app.easy_auth"
        )
        if tenants:
            site.app_settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"] = ",".join(tenants)
    site.app_settings.update(fa.get("app_settings", {}))
    ctx.state.sites[site.name.lower()] = site
    processor = spec.get("processor_app")
    if processor:
        if processor.lower() == site.name.lower():
            raise ctx.fail(
                "cipp.processor_app", "expected a name different from the Function App's"
            )
        ctx.state.sites[processor.lower()] = Site(
            subscription_id=sub.subscription_id,
            resource_group=rg.name,
            name=processor,
            location=location,
            app_settings={
                "FUNCTIONS_EXTENSION_VERSION": "~4",
                "FUNCTIONS_WORKER_RUNTIME": "powershell",
            },
        )

    cipp = ctx.state.cipp
    cipp.processor_app = processor
    cipp.front_end_host = spec.get("front_end_host", f"cipp.{ctx.state.default_domain}")
    cipp.hosted = spec.get("hosted", False)
    cipp.api_activated = spec.get("api_activated", False)
    cipp.subscription_ended = spec.get("subscription_ended", False)
    cipp.custom_roles = list(spec.get("custom_roles", []))
    if "sam_user" in spec:
        cipp.sam_user_id = ctx.principal(spec["sam_user"], "cipp.sam_user", ("user",)).object_id
    if "sam_app" in spec:
        cipp.sam_app_id = ctx.application(spec["sam_app"], "cipp.sam_app").app_id
    for index, client in enumerate(spec.get("api_clients", [])):
        app = ctx.application(client["app"], f"cipp.api_clients[{index}].app")
        cipp.api_clients.append(
            ApiClient(
                app_id=app.app_id,
                display_name=client.get("name", app.display_name),
                enabled=client.get("enabled", True),
                role=client.get("role", "readonly"),
                ip_ranges=list(client.get("ip_ranges", [])),
            )
        )
    cipp.logs = _logs(ctx, spec.get("logs", []))
    ctx.state.generation_hint = spec["generation"]


def _logs(ctx: Resolver, logs: list[dict[str, Any]] | dict[str, Any]) -> list[LogEntry]:
    tenant = ctx.state.default_domain
    entries: list[LogEntry] = []
    if isinstance(logs, dict):
        rng = random.Random(f"{ctx.name}/logs")
        weights = [14, 10, 10, 10, 6, 6, 6, 4, 2]
        for n in range(logs["generate"]):
            api, message, severity = rng.choices(_LOG_SAMPLES, weights=weights)[0]
            entries.append(
                LogEntry(
                    date_time=ctx.now - rng.uniform(60, 7 * DAY),
                    tenant=tenant,
                    api=api,
                    message=message,
                    user="CIPP",
                    severity=severity,
                    tenant_id=ctx.state.tenant_id,
                    row_key=ctx.derive_id("log", str(n)),
                )
            )
    else:
        for n, spec in enumerate(logs):
            entries.append(
                LogEntry(
                    date_time=ctx.now - spec.get("minutes_ago", 10 * (n + 1)) * 60.0,
                    tenant=spec.get("tenant", tenant),
                    api=spec.get("api", "CIPP"),
                    message=spec["message"],
                    user=spec.get("user", "CIPP"),
                    severity=spec.get("severity", "Info"),
                    log_data=spec.get("log_data", ""),
                    tenant_id=spec.get("tenant_id", ctx.state.tenant_id),
                    app_id=spec.get("app_id", ""),
                    ip=spec.get("ip", ""),
                    standard_info=spec.get("standard_info", ""),
                    row_key=ctx.derive_id("log", str(n)),
                )
            )
    entries.sort(key=lambda e: e.date_time, reverse=True)  # CIPP answers newest first
    return entries
