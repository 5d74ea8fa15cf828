"""The CIPP instance: its API Function App, its Static Web App front end, its processor.

`CippService` is the Function App at `urls.cipp`. Requests pass App Service's Easy Auth
first, configured from the site's `authsettingsV2` exactly as the Function App's would be
(`platform.enabled`, the `azureActiveDirectory` provider's issuer, allowed audiences and
allowed applications, `globalValidation.unauthenticatedClientAction`, and the app setting
`WEBSITE_AUTH_AAD_ALLOWED_TENANTS`). A rejected token gets 401 with an empty body, as App
Service answers. Then CIPP's own entry point runs, in CIPP's order (learned from
CIPP-API's New-CippCoreRequest / Test-CIPPAccess): a hosted instance whose subscription
ended answers 403; an unknown endpoint 404 "Endpoint not found"; then the access check
(API client IP range, base role or custom role) answers 403 with CIPP's texts; then the
endpoint runs. CIPP answers its own errors as plain text.

`FrontEndService` is the Static Web App (a wrong API URL: API calls are redirected to the
sign-in page) and `ProcessorService` an offloaded processor Function App (a wrong API URL:
403 "API calls are not accepted on this function app").
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

from cipp_setup.sandbox.http import Request, Response, SandboxUrls, json_response
from cipp_setup.sandbox.state import READ_ONLY_SUBSCRIPTION_STATES, ApiClient, LogEntry, Site, TenantState

# --- CIPP's texts (CIPP-API: CippEntrypoints, New-CippCoreRequest, Test-CIPPAccess) ------------

PROCESSOR_MESSAGE = "API calls are not accepted on this function app"
ENDPOINT_NOT_FOUND = "Endpoint not found"
SUBSCRIPTION_ENDED = "Your CIPP subscription has ended. Access to this instance is no longer available."
# Misleading as in CIPP: answered when the caller's IP is outside the client's ranges.
CLIENT_IP_DENIED = "Access to this CIPP API endpoint is not allowed, the API Client does not have the required permission"
NO_PERMISSION = "Access to this CIPP API endpoint is not allowed, the user does not have the required permission"
# What CIPP answers when a request reaches it without an Easy Auth principal (Easy Auth off).
NO_PRINCIPAL = (
    'Exception calling "FromBase64String" with "1" argument(s): "Value cannot be null. (Parameter \'s\')"'
)
# App Service's answer when a token fails the built-in authorization policy (allowedApplications).
EASY_AUTH_FORBIDDEN = "You do not have permission to view this directory or page."


def base_role_denied(role: str, permission: str) -> str:
    return (
        f"Access to this CIPP API endpoint is not allowed, the '{role}' base role does not have the "
        f"required permission: {permission}"
    )


# CIPP's base roles (Config/cipp-roles.json): include/exclude patterns over endpoint permissions.
BASE_ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "readonly": (("*.Read",), ("CIPP.SuperAdmin.*", "CIPP.Admin.*", "CIPP.AppSettings.*")),
    "editor": (
        ("*.Read", "*.ReadWrite"),
        ("CIPP.SuperAdmin.*", "CIPP.Admin.*", "CIPP.AppSettings.*", "Tenant.Standards.ReadWrite"),
    ),
    "admin": (("*",), ("CIPP.SuperAdmin.*",)),
    "superadmin": (("*",), ()),
}
DEFAULT_ROLES = frozenset({"superadmin", "admin", "editor", "readonly", "anonymous", "authenticated"})
DEFAULT_SEVERITIES = ("Info", "Warn", "Warning", "Error", "Critical", "Alert")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-?\d{2}-?\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$")


def _like(pattern: str, value: str) -> bool:
    """PowerShell's -like: wildcards, case-insensitive."""
    return fnmatchcase(value.lower(), pattern.lower())


def text_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": "text/plain; charset=utf-8"}
    h.update(headers or {})
    return Response(status=status, body=text.encode("utf-8"), headers=h)


def html_response(status: int, html: str, headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": "text/html; charset=utf-8"}
    h.update(headers or {})
    return Response(status=status, body=html.encode("utf-8"), headers=h)


def function_app_site(state: TenantState) -> Site | None:
    """The Site that runs the CIPP API, if the scenario has one."""
    if state.cipp is None:
        return None
    return state.sites.get(state.cipp.function_app.lower())


def cipp_log_timestamp(seconds: float) -> str:
    """How CIPP's JSON shows a table entity Timestamp (DateTimeOffset, UTC)."""
    dt = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0+00:00"


def log_partition(seconds: float) -> str:
    """CIPP's log partition key: the day (yyyyMMdd) in CIPP_TIMEZONE, UTC by default."""
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime("%Y%m%d")


def write_log(
    state: TenantState,
    *,
    api: str,
    message: str,
    user: str = "CIPP",
    severity: str = "Info",
    tenant: str = "None",
    app_id: str = "",
    ip: str = "",
    log_data: Any = "",
) -> LogEntry:
    """Append an entry to CIPP's log table as Write-LogMessage does."""
    assert state.cipp is not None
    entry = LogEntry(
        date_time=state.clock.now(),
        tenant=tenant or "None",
        api=api,
        message=message,
        user=user or "CIPP",
        severity=severity,
        log_data=json.dumps(log_data, separators=(",", ":")) if log_data not in ("", None) else "",
        app_id=app_id,
        ip=ip,
    )
    state.cipp.logs.append(entry)
    return entry


# --- Easy Auth -------------------------------------------------------------------------------


@dataclass
class EasyAuthOutcome:
    """Either an answer App Service gives itself, or the principal it passes on (None: anonymous)."""

    response: Response | None
    claims: dict[str, Any] | None


def _tenant_of_issuer(issuer: str) -> str | None:
    m = re.search(r"/([0-9a-fA-F-]{36})(?:/|$)", issuer)
    return m.group(1).lower() if m else None


def evaluate_easy_auth(state: TenantState, tokens: Any, site: Site, request: Request, host: str) -> EasyAuthOutcome:
    """What App Service authentication (authsettingsV2) does with this request."""
    settings = site.auth_settings_v2 or {}
    platform = settings.get("platform") or {}
    if platform.get("enabled") is not True:
        return EasyAuthOutcome(None, None)
    providers = settings.get("identityProviders") or {}
    aad = providers.get("azureActiveDirectory") or {}
    aad_enabled = bool(aad) and aad.get("enabled", True) is not False
    registration = aad.get("registration") or {}
    validation = aad.get("validation") or {}
    client_id = str(registration.get("clientId") or "")
    issuer = str(registration.get("openIdIssuer") or "")
    issuer_tenant = _tenant_of_issuer(issuer)
    challenge_tenant = issuer_tenant or state.tenant_id
    unauthorized = Response(
        status=401,
        body=b"",
        headers={
            "WWW-Authenticate": (
                f'Bearer realm="{host}" authorization_uri='
                f'"https://login.microsoftonline.com/{challenge_tenant}/oauth2/authorize" resource_id="{client_id}"'
            )
        },
    )

    token = request.bearer_token()
    if token and aad_enabled:
        claims = tokens.verify(token)
        if claims is None:
            return EasyAuthOutcome(unauthorized, None)
        tid = str(claims.get("tid") or "").lower()
        iss = str(claims.get("iss") or "")
        wrong_tenant = tid != issuer_tenant or _tenant_of_issuer(iss) != issuer_tenant
        if issuer_tenant is not None and wrong_tenant:
            return EasyAuthOutcome(unauthorized, None)
        allowed_tenants = site.app_settings.get("WEBSITE_AUTH_AAD_ALLOWED_TENANTS", "")
        tenants = {t.strip().lower() for t in allowed_tenants.split(",") if t.strip()}
        if tenants and tid not in tenants:
            return EasyAuthOutcome(unauthorized, None)
        # App Service always accepts the registration's client id as an audience.
        audiences = {str(a) for a in validation.get("allowedAudiences") or []}
        if client_id:
            audiences.add(client_id)
        if str(claims.get("aud") or "") not in audiences:
            return EasyAuthOutcome(unauthorized, None)
        policy = validation.get("defaultAuthorizationPolicy") or {}
        allowed_apps = {str(a).lower() for a in policy.get("allowedApplications") or []}
        caller_app = str(claims.get("appid") or claims.get("azp") or "").lower()
        if allowed_apps and caller_app not in allowed_apps:
            return EasyAuthOutcome(text_response(403, EASY_AUTH_FORBIDDEN), None)
        return EasyAuthOutcome(None, claims)

    # No usable token: the unauthenticated-request policy decides.
    global_validation = settings.get("globalValidation") or {}
    action = str(global_validation.get("unauthenticatedClientAction") or "RedirectToLoginPage")
    if global_validation.get("requireAuthentication") is False or action == "AllowAnonymous":
        return EasyAuthOutcome(None, None)
    if action == "Return401":
        return EasyAuthOutcome(unauthorized, None)
    if action == "Return403":
        return EasyAuthOutcome(text_response(403, EASY_AUTH_FORBIDDEN), None)
    location = "/.auth/login/aad?post_login_redirect_uri=" + quote(request.path, safe="")
    return EasyAuthOutcome(Response(status=302, body=b"", headers={"Location": location}), None)


def principal_headers(claims: dict[str, Any]) -> dict[str, str]:
    """The x-ms-client-principal* headers Easy Auth adds for an AAD principal."""
    is_app = claims.get("idtyp") == "app" or "scp" not in claims
    if is_app:
        name = str(claims.get("appid") or claims.get("azp") or "")
    else:
        name = str(claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name") or "")
    principal = {
        "auth_typ": "aad",
        "claims": [{"typ": k, "val": str(v)} for k, v in claims.items() if not isinstance(v, (list, dict))],
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    }
    return {
        "x-ms-client-principal-idp": "aad",
        "x-ms-client-principal-name": name,
        "x-ms-client-principal-id": str(claims.get("oid") or ""),
        "x-ms-client-principal": base64.b64encode(json.dumps(principal).encode("utf-8")).decode("ascii"),
    }


# --- CIPP's access check ------------------------------------------------------------------------


def caller_ip(request: Request) -> str:
    """The address CIPP checks: the first X-Forwarded-For entry, port and brackets removed.

    App Service appends the client's address to X-Forwarded-For, so without a header from
    the client the first entry is the client's own address.
    """
    forwarded = request.headers.get("x-forwarded-for") or ""
    first = forwarded.split(",")[0].strip() if forwarded.strip() else request.client_ip
    m = re.match(r"^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|[0-9a-fA-F:]+)(?::\d+)?$", first)
    if m:
        first = m.group(1)
    return first.replace("[", "").replace("]", "")


def ip_in_range(address: str, cidr: str) -> bool:
    """Test-IpInRange: IPv4/IPv6, a bare address is a /32 or /128; a bad value never matches."""
    try:
        ip = ipaddress.ip_address(address)
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
    return ip.version == network.version and ip in network


def find_api_client(state: TenantState, app_id: str) -> ApiClient | None:
    if state.cipp is None:
        return None
    for client in state.cipp.api_clients:
        if client.app_id.lower() == app_id.lower():
            return client
    return None


def check_access(state: TenantState, request: Request, claims: dict[str, Any] | None, permission: str) -> str | None:
    """CIPP's Test-CIPPAccess: None when allowed, else the 403 text."""
    cipp = state.cipp
    assert cipp is not None
    if permission == "Public":
        return None
    if claims is None:
        return NO_PRINCIPAL
    headers = principal_headers(claims)
    name = headers["x-ms-client-principal-name"]
    if not _GUID.match(name):
        # A user token through Easy Auth carries no CIPP role: CIPP finds none.
        return NO_PERMISSION
    if cipp.generation == "legacy":
        # CIPP 7.1 and older: every direct API caller runs as the custom role 'cipp-api';
        # with no such role defined, nothing limits it.
        return None
    client = find_api_client(state, name)
    custom_roles: list[str]
    base_role: str | None = None
    if client is None:
        custom_roles = ["cipp-api"]
    else:
        ranges = [r for r in client.ip_ranges if r.strip()]
        if ranges and "Any" not in ranges:
            address = caller_ip(request)
            if not any(address == r or ip_in_range(address, r) for r in ranges):
                return CLIENT_IP_DENIED
        if client.role:
            base_role = client.role if client.role in BASE_ROLES else None
            custom_roles = [] if client.role in DEFAULT_ROLES else [client.role]
        else:
            custom_roles = ["cipp-api"]
    if base_role is not None:
        include, exclude = BASE_ROLES[base_role]
        allowed = any(_like(p, permission) for p in include) and not any(_like(p, permission) for p in exclude)
        if not allowed:
            return base_role_denied(base_role, permission)
        if base_role in ("admin", "superadmin") or not custom_roles:
            return None
    if custom_roles:
        # Custom role permissions are not modelled: a role that exists grants the call; one
        # that does not exist (usually 'cipp-api') leaves the client with no permission.
        known = {r.lower() for r in cipp.custom_roles}
        if not any(r.lower() in known for r in custom_roles):
            return NO_PERMISSION
    return None


# --- the endpoints --------------------------------------------------------------------------------


class _EndpointFailure(Exception):
    """An exception inside an endpoint: CIPP answers 500 with its message."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    permission: str  # the function's .ROLE
    run: Callable[[TenantState, Request, dict[str, Any] | None], Response]


def _query(request: Request) -> dict[str, str]:
    """Azure Functions' query collection is case-insensitive."""
    return {k.lower(): v for k, v in request.query.items()}


def _log_json(entry: LogEntry, *, single: bool = False) -> dict[str, Any]:
    log_data: Any = entry.log_data
    if entry.log_data:
        try:
            log_data = json.loads(entry.log_data)
        except ValueError:
            log_data = entry.log_data
    out: dict[str, Any] = {
        "DateTime": cipp_log_timestamp(entry.date_time),
        "Tenant": entry.tenant,
        "API": entry.api,
        "Message": entry.message,
        "User": entry.user,
        "Severity": entry.severity,
        "LogData": log_data,
        "TenantID": entry.tenant_id if entry.tenant_id else "None",
        "AppId": entry.app_id or None,
        "IP": entry.ip or None,
        "RowKey": entry.row_key,
    }
    out["Standard" if single else "StandardInfo"] = {}
    out["DateFilter"] = log_partition(entry.date_time)
    return out


def _checked(value: str, kind: str) -> str:
    """ConvertTo-CIPPODataFilterValue's validation (its exceptions surface as 500s)."""
    if kind == "Date" and not _DATE.match(value):
        raise _EndpointFailure(
            "Invalid date format for OData filter. Expected ISO 8601 (e.g. yyyy-MM-dd or "
            f"yyyy-MM-ddTHH:mm:ssZ), got: '{value}'"
        )
    if kind == "Guid" and not re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", value, re.IGNORECASE):
        raise _EndpointFailure(f"Invalid GUID format for OData filter: '{value}'")
    return value


def list_logs(state: TenantState, request: Request, claims: dict[str, Any] | None) -> Response:
    assert state.cipp is not None
    q = _query(request)
    logs = state.cipp.logs
    today = log_partition(state.clock.now())
    if q.get("listlogs"):
        days = sorted({log_partition(e.date_time) for e in logs})
        return json_response(200, [{"value": d, "label": d} for d in days])
    if q.get("logentryid"):
        day = _checked(q.get("datefilter") or today, "Date")
        row = _checked(q["logentryid"], "Guid")
        found = [e for e in logs if e.row_key.lower() == row.lower() and log_partition(e.date_time) == day]
        return json_response(200, [_log_json(e, single=True) for e in found])

    user_pattern = "*"
    tenant_filter = api_filter = standard_filter = task_filter = run_filter = None
    severities: tuple[str, ...] = DEFAULT_SEVERITIES
    if (q.get("filter") or "").lower() == "true":
        if q.get("severity"):
            severities = tuple(s for s in q["severity"].split(","))
        user_pattern = q.get("user") or "*"
        tenant_filter = q.get("tenant")
        api_filter = q.get("api")
        standard_filter = q.get("standardtemplateid")
        task_filter = q.get("scheduledtaskid")
        run_filter = q.get("baselinerunid")
        start_raw = q.get("startdate") or q.get("datefilter")
        end_raw = q.get("enddate") or q.get("datefilter")
        start = _checked(start_raw, "Date") if start_raw else None
        end = _checked(end_raw, "Date") if end_raw else None
        if start and end:
            in_range: Callable[[str], bool] = lambda day: start <= day <= end
        elif start:
            in_range = lambda day: day == start
        else:
            in_range = lambda day: day == today
    else:
        in_range = lambda day: day == today
    if standard_filter:
        _checked(standard_filter, "Guid")
    if task_filter:
        _checked(task_filter, "Guid")
    if run_filter:
        _checked(run_filter, "Guid")
    wanted_severities = {s.strip().lower() for s in severities}
    api_regex = re.compile(api_filter, re.IGNORECASE) if api_filter else None

    selected: list[LogEntry] = []
    for e in logs:
        if not in_range(log_partition(e.date_time)):
            continue
        if e.severity.lower() not in wanted_severities:
            continue
        if user_pattern != "*" and not _like(user_pattern, e.user):
            continue
        tenant_matches = bool(tenant_filter) and (
            _like(f"*{tenant_filter}*", e.tenant) or e.tenant_id == tenant_filter)
        if tenant_filter and tenant_filter != "AllTenants" and not tenant_matches:
            continue
        if api_regex is not None and not api_regex.search(e.api):
            continue
        if standard_filter and e.standard_template_id != standard_filter:
            continue
        if task_filter and e.scheduled_task_id != task_filter:
            continue
        if run_filter and e.baseline_run_id != run_filter:
            continue
        selected.append(e)
    selected.sort(key=lambda e: e.date_time, reverse=True)
    return json_response(200, [_log_json(e) for e in selected])


def _semver(value: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", value)
    if not parts:
        raise _EndpointFailure(f'Cannot convert value "{value}" to type "System.Management.Automation.SemanticVersion".')
    return tuple(int(p) for p in parts[:3])


def get_version(state: TenantState, request: Request, claims: dict[str, Any] | None) -> Response:
    assert state.cipp is not None
    local = _query(request).get("localversion")
    if not local:
        raise _EndpointFailure('Cannot convert null to type "System.Management.Automation.SemanticVersion".')
    # Offline: the latest published versions are the ones this instance runs.
    remote = state.cipp.version
    return json_response(
        200,
        {
            "LocalCIPPVersion": local,
            "RemoteCIPPVersion": remote,
            "LocalCIPPAPIVersion": state.cipp.version,
            "RemoteCIPPAPIVersion": remote,
            "OutOfDateCIPP": _semver(remote) > _semver(local),
            "OutOfDateCIPPAPI": _semver(remote) > _semver(state.cipp.version),
        },
    )


def public_ping(state: TenantState, request: Request, claims: dict[str, Any] | None) -> Response:
    now = datetime.datetime.fromtimestamp(state.clock.now(), tz=datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0Z"
    return json_response(
        200,
        {
            "Results": {
                "Message": "Pong",
                "ColdStart": request.headers.get("x-ms-coldstart") == "1",
                "Timestamp": stamp,
                "RequestId": str(uuid.uuid4()),
            }
        },
    )


def list_api_test(state: TenantState, request: Request, claims: dict[str, Any] | None) -> Response:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        # Redacted here (CIPP echoes it): the sandbox never hands a bearer token back.
        headers[key.lower()] = "REDACTED" if key.lower() == "authorization" else value
    try:
        body: Any = request.json()
    except ValueError:
        body = request.body.decode("utf-8", "replace")
    endpoint = request.path.rsplit("/", 1)[-1]
    return json_response(
        200,
        {
            "Request": {
                "Url": request.raw_path,
                "Method": request.method.upper(),
                "Headers": headers,
                "Query": dict(request.query),
                "Params": {"CIPPEndpoint": endpoint},
                "Body": body,
            },
            "TriggerMetadata": {"FunctionName": "CIPPHttpTrigger", "InvocationId": str(uuid.uuid4())},
            "AllowedTenants": None,
            "AllowedGroups": None,
            "RequestContext": {"AllowedTenants": None, "AllowedGroups": None},
        },
    )


ENDPOINTS: dict[str, Endpoint] = {
    e.name.lower(): e
    for e in (
        Endpoint("ListLogs", "CIPP.Core.Read", list_logs),
        Endpoint("GetVersion", "CIPP.Core.Read", get_version),
        Endpoint("PublicPing", "Public", public_ping),
        Endpoint("ListApiTest", "CIPP.Core.Read", list_api_test),
    )
}

_FUNCTIONS_HOME = (
    "<!DOCTYPE html><html><head><title>Your Functions 4.0 app is up and running</title></head>"
    "<body><h1>Your Functions 4.0 app is up and running</h1>"
    "<p>Azure Functions is an event-based serverless compute experience to accelerate your development.</p>"
    "</body></html>"
)


class CippService:
    """The CIPP API Function App (`urls.cipp`)."""

    name = "cipp"

    def __init__(self, state: TenantState, tokens: Any, urls: SandboxUrls) -> None:
        self.state = state
        self.tokens = tokens
        self.urls = urls

    def handle(self, request: Request) -> Response:
        cipp = self.state.cipp
        site = function_app_site(self.state)
        if cipp is None or site is None:
            return html_response(404, "<html><body><h1>404 Web Site not found.</h1></body></html>")
        if site_stopped_by_subscription(self.state, site):
            # App Service stops every app of a Disabled subscription: its front end answers
            # with the "web app is stopped" page before any authentication.
            return html_response(403, _APP_STOPPED)
        outcome = evaluate_easy_auth(self.state, self.tokens, site, request, _host(self.urls.cipp))
        if outcome.claims is not None:
            request.caller = str(outcome.claims.get("appid") or outcome.claims.get("azp") or outcome.claims.get("oid") or "") or None
        if outcome.response is not None:
            return outcome.response
        if not request.path.lower().startswith("/api/"):
            return html_response(200, _FUNCTIONS_HOME)
        name = request.path[len("/api/"):].strip("/")
        # A hosted instance whose subscription ended refuses everything but /api/me.
        if cipp.hosted and cipp.subscription_ended and name.lower() != "me":
            return text_response(403, SUBSCRIPTION_ENDED)
        endpoint = ENDPOINTS.get(name.lower())
        if endpoint is None:
            return text_response(404, ENDPOINT_NOT_FOUND)
        if outcome.claims is not None:
            for key, value in principal_headers(outcome.claims).items():
                request.headers[key] = value
        denied = check_access(self.state, request, outcome.claims, endpoint.permission)
        if denied is not None:
            return text_response(403, denied)
        try:
            return endpoint.run(self.state, request, outcome.claims)
        except _EndpointFailure as failure:
            return text_response(500, str(failure))


def _host(url: str) -> str:
    return re.sub(r"^https?://", "", url).split("/", 1)[0]


_SWA_PAGE = (
    "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>CIPP</title></head>"
    "<body><div id=\"__next\"><noscript>You need to enable JavaScript to run this app.</noscript></div>"
    "</body></html>"
)
_SWA_LOGIN = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    "<p>Redirecting to Microsoft Entra ID to sign in...</p></body></html>"
)


class FrontEndService:
    """The CIPP front end: an Azure Static Web App. Not the API URL.

    Routes under /api/ are proxied to the linked Function App only for a signed-in SWA
    session (a cookie, never a bearer token), so an API call is sent to the sign-in page.
    /api/Public* is open to anonymous callers; every other path serves the single-page app.
    """

    name = "frontend"

    def __init__(self, state: TenantState, tokens: Any, urls: SandboxUrls) -> None:
        self.state = state
        self.tokens = tokens
        self.urls = urls

    def handle(self, request: Request) -> Response:
        path = request.path
        lower = path.lower()
        if lower.startswith("/.auth/login/"):
            return html_response(200, _SWA_LOGIN)
        if lower.startswith("/api/public"):
            name = path[len("/api/"):].strip("/")
            endpoint = ENDPOINTS.get(name.lower())
            if endpoint is None or self.state.cipp is None:
                return text_response(404, ENDPOINT_NOT_FOUND)
            return endpoint.run(self.state, request, None)
        if lower.startswith("/api/"):
            target = "/.auth/login/aad?post_login_redirect_uri=" + quote(path, safe="")
            return Response(status=302, body=b"", headers={"Location": target})
        return html_response(200, _SWA_PAGE)


_APP_STOPPED = (
    "<!DOCTYPE html><html><head><title>Web App - Unavailable</title></head><body>"
    "<h1>Error 403 - This web app is stopped.</h1>"
    "<p>The web app you have attempted to reach is currently stopped and does not accept any requests.</p>"
    "</body></html>"
)


def site_stopped_by_subscription(state: TenantState, site: Site) -> bool:
    sub = state.subscriptions.get(site.subscription_id.lower())
    return sub is not None and sub.state in READ_ONLY_SUBSCRIPTION_STATES


class ProcessorService:
    """An offloaded CIPP processor Function App: it runs queues and timers, not the API."""

    name = "processor"

    def __init__(self, state: TenantState, tokens: Any, urls: SandboxUrls) -> None:
        self.state = state
        self.tokens = tokens
        self.urls = urls

    def handle(self, request: Request) -> Response:
        if request.path.lower().startswith("/api/"):
            return text_response(403, PROCESSOR_MESSAGE)
        return html_response(200, _FUNCTIONS_HOME)
