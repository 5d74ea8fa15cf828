"""The Microsoft identity platform (Entra ID sign-in) as the sandbox serves it.

Endpoints, as msal 1.39 and azure-identity 1.27 use them with instance discovery off
(`instance_discovery=False` / `disable_instance_discovery=True`: they then fetch only the
tenant's v2.0 discovery document, never `/common/discovery/instance`):

- GET  /{tenant}/v2.0/.well-known/openid-configuration
- GET  /{tenant}/discovery/v2.0/keys
- POST /{tenant}/oauth2/v2.0/token        client_credentials, device_code, refresh_token,
                                          authorization_code (PKCE, nonce)
- POST /{tenant}/oauth2/v2.0/devicecode
- GET  /{tenant}/oauth2/v2.0/authorize    302 to the loopback redirect with code and state
- GET  /devicelogin                       the page a device-code message names

`{tenant}` is the tenant id or its default domain; `organizations` and `common` are
accepted where the real service accepts them (delegated flows of multi-tenant clients).

Tokens follow the resource: v2 (aud = the resource's appId, v2.0 issuer) when the
resource application asks for `requestedAccessTokenVersion: 2`, otherwise v1 (aud = the
resource URI as requested, sts.windows.net issuer). Errors carry the real AADSTS codes
and body shape.

Delegated tokens carry what Entra would put in them (sandbox/consent.py has the rules and
their sources): the client's pre-authorized scopes (first-party clients, from the shipped
table) and the scopes consented by oauth2PermissionGrants. `.default` means the client's
static permissions on a resource of its registration (AADSTS650057 otherwise). An explicit
scope nobody consented shows the **consent step** in an interactive flow (device code,
authorization code) — approved for the organization or for oneself, declined (AADSTS65004),
refused when the user may not consent (AADSTS90094), or left pending — and a refresh-token
request answers AADSTS65001 instead: a refresh never records consent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from cipp_setup.sandbox.http import Request, Response, SandboxUrls, json_response
from cipp_setup.sandbox.state import (
    Application,
    OAuth2PermissionGrant,
    ServicePrincipal,
    TenantState,
    User,
    Visibility,
    new_id,
)
from cipp_setup.sandbox.clouds import graph_resource
from cipp_setup.sandbox.consent import (
    PublicClient,
    ensure_service_principal,
    may_consent_for_organization,
    public_client,
    record_grant,
    user_may_consent,
)
from cipp_setup.sandbox.tokens import TokenAuthority

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_RESOURCE = "https://graph.microsoft.com"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

ACCESS_TOKEN_SECONDS = 3600
# Entra back-dates iat/nbf by five minutes to absorb clock skew between services.
BACKDATE_SECONDS = 300
DEVICE_CODE_SECONDS = 900  # the real default (15 minutes)
AUTH_CODE_SECONDS = 600
REFRESH_TOKEN_SECONDS = 90 * 24 * 3600

CONSENT_RESPONSES = ("auto", "organization", "self", "decline", "pending")

_SINGLE_TENANT_AUDIENCES = frozenset({"azureadmyorg"})

# Refusals a test can force on the next delegated sign-ins (control `fail_sign_ins`),
# whatever the scenario: they come from the person signing in and the tenant's policies
# (Conditional Access, MFA, a guest account), not from the directory objects the sandbox
# models. AADSTS code -> (error, text, extra body fields), as the real service answers.
FORCEABLE_SIGN_IN_ERRORS: dict[int, tuple[str, str, dict[str, str]]] = {
    53003: ("invalid_grant", (
        "Access has been blocked by Conditional Access policies. The access policy does not "
        "allow token issuance."), {"suberror": "message_only"}),
    50076: ("invalid_grant", (
        "Due to a configuration change made by your administrator, or because you moved to a "
        "new location, you must use multi-factor authentication to access "
        "'00000003-0000-0000-c000-000000000000'."), {"suberror": "basic_action"}),
    50079: ("invalid_grant", (
        "Due to a configuration change made by your administrator, or because you moved to a "
        "new location, you must enroll in multi-factor authentication to access "
        "'00000003-0000-0000-c000-000000000000'."), {"suberror": "basic_action"}),
    50020: ("invalid_grant", (
        "User account from identity provider 'live.com' does not exist in tenant and cannot "
        "access the application in that tenant. The account needs to be added as an external "
        "user in the tenant first. Sign out and sign in again with a different Azure Active "
        "Directory user account."), {}),
    50126: ("invalid_grant", "Error validating credentials due to invalid username or password.", {}),
}

_USER_CODE_ALPHABET = string.ascii_uppercase + string.digits


class AadError(Exception):
    """A token/authorize endpoint failure, answered in the AADSTS error shape."""

    def __init__(self, status: int, error: str, code: int, text: str, **extra: Any) -> None:
        super().__init__(f"AADSTS{code}: {text}")
        self.status = status
        self.error = error
        self.code = code
        self.text = text
        self.extra = extra


# --- the tenant, resources and consent ------------------------------------------------------


@dataclass(frozen=True)
class TenantRef:
    segment: str  # as written in the path
    specific: bool  # False for organizations / common


@dataclass(frozen=True)
class Resource:
    requested: str  # the resource part of the scope, as sent (e.g. "https://management.core.windows.net/")
    service_principal: ServicePrincipal
    application: Application | None

    @property
    def token_version(self) -> int:
        app = self.application
        return 2 if app is not None and app.requested_access_token_version == 2 else 1

    def exposed_scopes(self) -> dict[str, str]:
        """Enabled delegated scopes of the resource, lower-case value -> canonical value."""
        scopes = self.service_principal.oauth2_permission_scopes or (
            self.application.oauth2_permission_scopes if self.application else []
        )
        return {s.value.lower(): s.value for s in scopes if s.is_enabled}


@dataclass
class ScopeRequest:
    """A `scope` parameter split into OIDC scopes and (at most one) resource's scopes."""

    raw: list[str]  # every scope string as sent
    oidc: list[str]
    resource_text: str | None  # None when only OIDC scopes were asked
    resource_scopes: list[str]  # as sent, e.g. ["https://graph.microsoft.com/User.Read"]
    values: list[str]  # the scope values, e.g. ["User.Read"] or [".default"]

    @property
    def is_default(self) -> bool:
        return any(v == ".default" for v in self.values)


def parse_scope(scope: str, bare_resource: str = GRAPH_RESOURCE) -> ScopeRequest:
    """`bare_resource`: the Graph URI a bare value (`User.Read`) means in this cloud."""
    raw = [s for s in scope.split(" ") if s]
    oidc = [s for s in raw if s.lower() in OIDC_SCOPES]
    resource_scopes = [s for s in raw if s.lower() not in OIDC_SCOPES]
    resources: dict[str, str] = {}
    values: list[str] = []
    for s in resource_scopes:
        if "/" in s:
            resource, value = s.rsplit("/", 1)
        else:  # a bare scope value means Microsoft Graph, as on the real v2.0 endpoint
            resource, value = bare_resource, s
        resources.setdefault(_normalize_uri(resource), resource)
        values.append(value)
    if len(resources) > 1:
        raise AadError(
            400, "invalid_scope", 28000,
            "Provided value for the input parameter scope is not valid because it contains more "
            f"than one resource. Scope {scope} is not valid.",
        )
    resource_text = next(iter(resources.values()), None)
    return ScopeRequest(raw, oidc, resource_text, resource_scopes, values)


def _normalize_uri(uri: str) -> str:
    return uri.rstrip("/").lower()


def resolve_resource(state: TenantState, resource_text: str) -> Resource | None:
    """The resource a scope names: an SP's resource URI, an app's identifier URI, or an appId.

    Only service principals visible in this tenant count (a just-created one may still be
    replicating); an application's identifier URI counts only when its SP exists here.
    """
    wanted = _normalize_uri(resource_text)
    for sp in state.service_principals.values():
        if not state.is_visible(sp.visibility):
            continue
        if any(_normalize_uri(u) == wanted for u in sp.resource_uris) or sp.app_id == wanted:
            return Resource(resource_text, sp, _visible_application(state, sp.app_id))
    for app in state.applications.values():
        if not state.is_visible(app.visibility):
            continue
        if any(_normalize_uri(u) == wanted for u in app.identifier_uris):
            app_sp = _visible_sp(state, app.app_id)
            if app_sp is not None:
                return Resource(resource_text, app_sp, app)
    return None


def _visible_sp(state: TenantState, app_id: str) -> ServicePrincipal | None:
    sp = state.service_principal_by_app_id(app_id)
    return sp if sp is not None and state.is_visible(sp.visibility) else None


def _visible_application(state: TenantState, app_id: str) -> Application | None:
    app = state.application_by_app_id(app_id)
    return app if app is not None and state.is_visible(app.visibility) else None


def counts_for_tokens(state: TenantState, visibility: Visibility) -> bool:
    """Whether a grant or assignment has replicated to token issuance.

    It must be visible to reads, and `replication.token_seconds` must have passed since it
    became so: a just-written grant or role is missing from tokens for a while.
    """
    if not state.is_visible(visibility):
        return False
    lag = state.replication.token_seconds
    return lag <= 0 or state.clock.now() >= visibility.visible_at + lag


def consented_scopes(
    state: TenantState, client_app_id: str, user_id: str, resource_sp: ServicePrincipal
) -> set[str]:
    """Delegated scopes consented for `client_app_id` acting as `user_id` on `resource_sp`.

    The union of the oauth2PermissionGrants from the client's service principal to the
    resource's — tenant-wide (AllPrincipals) and this user's own (Principal) — that have
    replicated to token issuance (`counts_for_tokens`).
    """
    client_sp = _visible_sp(state, client_app_id)
    if client_sp is None:
        return set()
    scopes: set[str] = set()
    for grant in state.oauth2_grants.values():
        if grant.client_id != client_sp.id or grant.resource_id != resource_sp.id:
            continue
        if grant.consent_type == "Principal" and grant.principal_id != user_id:
            continue
        if not counts_for_tokens(state, grant.visibility):
            continue
        scopes.update(grant.scopes())
    return scopes


def active_role_template_ids(state: TenantState, user_id: str) -> list[str]:
    """The `wids` claim: directory role templates active for the user (direct or via group)."""
    principals = [user_id] + [
        g.id for g in state.transitive_groups_of(user_id) if g.is_assignable_to_role
    ]
    now = state.clock.now()
    wids: set[str] = set()
    for principal in principals:
        for ra in state.role_assignments_for(principal):
            if (ra.end_time is None or ra.end_time > now) and counts_for_tokens(state, ra.visibility):
                definition = state.role_definitions.get(ra.role_definition_id)
                wids.add(definition.template_id if definition and definition.template_id else ra.role_definition_id)
    return sorted(wids)


# --- pending sign-ins ---------------------------------------------------------------------


@dataclass
class DeviceCodeSignIn:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    tenant: TenantRef
    created_at: float
    expires_at: float
    approved_user_id: str | None = None
    polls: int = 0
    # The consent step after sign-in: the scopes it asks ([] when none is needed) and the
    # answer once given ("organization", "self", "decline"); None while nobody answered.
    consent_scopes: list[str] | None = None
    consent_answer: str | None = None


@dataclass
class AuthorizationCode:
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    tenant: TenantRef
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str
    expires_at: float
    redeemed: bool = False
    consent_answer: str = "auto"  # what the consent page got at /authorize


@dataclass
class RefreshGrant:
    client_id: str
    user_id: str
    scope: str  # the scope first asked for, used when a refresh names none
    tenant: TenantRef
    expires_at: float


@dataclass
class _DelegatedClient:
    app_id: str
    display_name: str
    known: PublicClient | None  # one of the public clients every tenant has
    service_principal: ServicePrincipal | None
    application: Application | None

    @property
    def first_party(self) -> bool:
        return self.known is not None and self.known.first_party


class _ConsentPending(Exception):
    """The consent page is shown and nobody has answered it yet."""


@dataclass
class _ConsentStep:
    """The consent page of one interactive sign-in: `answer` is what the person does
    ("organization", "self", "decline", "pending", or "auto": as the admin would)."""

    answer: str
    asked: list[str] = field(default_factory=list)


@dataclass
class _Context:
    request: Request
    tenant: TenantRef
    form: dict[str, str] = field(default_factory=dict)
    client_id: str | None = None
    client_secret: str | None = None


# --- the service ----------------------------------------------------------------------


class IdentityPlatform:
    """The sandbox's Entra ID sign-in service (login.microsoftonline.com)."""

    name = "idp"

    def __init__(self, state: TenantState, tokens: TokenAuthority, urls: SandboxUrls) -> None:
        self.state = state
        self.tokens = tokens
        self.urls = urls
        self.authority = urls.idp.rstrip("/")
        self._device_codes: dict[str, DeviceCodeSignIn] = {}
        self._auth_codes: dict[str, AuthorizationCode] = {}
        self._refresh_tokens: dict[str, RefreshGrant] = {}
        # Who signs in at /authorize (the browser's account); None: the scenario's admin.
        self.browser_user_id: str | None = None
        # AADSTS codes the next delegated token requests answer with (fail_sign_ins).
        self.forced_sign_in_errors: list[int] = []

    def fail_sign_ins(self, code: int, times: int = 1) -> None:
        """The next `times` delegated token requests (device code, authorization code,
        refresh) fail with AADSTS`code`, one of FORCEABLE_SIGN_IN_ERRORS."""
        if code not in FORCEABLE_SIGN_IN_ERRORS:
            known = ", ".join(str(c) for c in FORCEABLE_SIGN_IN_ERRORS)
            raise ValueError(f"cannot force AADSTS{code}; expected one of {known}")
        if times < 1:
            raise ValueError(f"times must be 1 or more, got {times}")
        with self.state.lock:
            self.forced_sign_in_errors.extend([code] * times)

    # ----- public control API ----------------------------------------------------------

    def pending_device_codes(self) -> list[str]:
        """User codes of device-code sign-ins waiting for approval, oldest first."""
        with self.state.lock:
            now = self.state.clock.now()
            return [
                dc.user_code
                for dc in sorted(self._device_codes.values(), key=lambda d: d.created_at)
                if dc.approved_user_id is None and dc.expires_at > now
            ]

    def approve_device_code(
        self, user_code: str | None = None, user_id: str | None = None, *, upn: str | None = None
    ) -> str:
        """Approve a pending device-code sign-in, as the person who enters the code would.

        `user_code` None picks the only (or else the most recent) pending code. The user is
        `user_id`, or the user with `upn`, or by default the scenario's admin. Returns the
        approved user code; raises ValueError when there is nothing to approve or no such user.
        """
        with self.state.lock:
            user = self._approving_user(user_id, upn)
            now = self.state.clock.now()
            pending = [
                dc for dc in self._device_codes.values()
                if dc.approved_user_id is None and dc.expires_at > now
            ]
            if user_code is None:
                if not pending:
                    raise ValueError("no device code sign-in is waiting for approval")
                target = max(pending, key=lambda d: d.created_at)
            else:
                wanted = user_code.strip().upper()
                matches = [dc for dc in pending if dc.user_code == wanted]
                if not matches:
                    raise ValueError(f"no pending device code sign-in has the code {user_code!r}")
                target = matches[0]
            target.approved_user_id = user.id
            return target.user_code

    def pending_consents(self) -> list[dict[str, Any]]:
        """Device-code sign-ins whose consent page waits for an answer, oldest first."""
        with self.state.lock:
            now = self.state.clock.now()
            return [
                {"user_code": dc.user_code, "client_id": dc.client_id, "scopes": list(dc.consent_scopes or []),
                 "user_id": dc.approved_user_id}
                for dc in sorted(self._device_codes.values(), key=lambda d: d.created_at)
                if dc.consent_scopes and dc.consent_answer is None and dc.expires_at > now
            ]

    def answer_consent(self, answer: str, user_code: str | None = None) -> str:
        """Answer a waiting consent page: "organization" (consent for everyone, when the
        user may), "self", or "decline". Returns the sign-in's user code."""
        if answer not in ("organization", "self", "decline"):
            raise ValueError(f"answer must be organization, self or decline, got {answer!r}")
        with self.state.lock:
            waiting = [dc for dc in self._device_codes.values()
                       if dc.consent_scopes and dc.consent_answer is None]
            if user_code is not None:
                waiting = [dc for dc in waiting if dc.user_code == user_code.strip().upper()]
            if not waiting:
                raise ValueError("no consent page is waiting for an answer"
                                 + (f" for the code {user_code!r}" if user_code else ""))
            target = max(waiting, key=lambda d: d.created_at)
            target.consent_answer = answer
            return target.user_code

    def _approving_user(self, user_id: str | None, upn: str | None) -> User:
        if upn:
            user = self.state.user_by_upn(upn)
            if user is None:
                raise ValueError(f"no user {upn!r} in the sandbox tenant")
            return user
        chosen = user_id or self.state.identities.admin_user_id
        if not chosen:
            raise ValueError("no user given and the scenario names no admin")
        found = self.state.users.get(chosen)
        if found is None:
            raise ValueError(f"no user with id {chosen!r} in the sandbox tenant")
        return found

    # ----- routing -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if parts == ["devicelogin"] and request.method == "GET":
            return self._device_login_page()
        if len(parts) < 2:
            return _not_found()
        segment, rest = parts[0], "/".join(parts[1:])
        routes = {
            "v2.0/.well-known/openid-configuration": ("GET", self._openid_configuration),
            "discovery/v2.0/keys": ("GET", self._keys),
            "oauth2/v2.0/token": ("POST", self._token),
            "oauth2/v2.0/devicecode": ("POST", self._devicecode),
            "oauth2/v2.0/authorize": ("GET", self._authorize),
        }
        route = routes.get(rest)
        if route is None:
            return _not_found()
        method, handler = route
        try:
            tenant = self._resolve_tenant(segment)
            if request.method != method:
                raise AadError(
                    400, "invalid_request", 900561,
                    f"The endpoint only accepts {method}, OPTIONS requests. "
                    f"Received a {request.method} request.",
                )
            return handler(_Context(request, tenant))
        except AadError as exc:
            return self._error(exc, request)

    def _resolve_tenant(self, segment: str) -> TenantRef:
        lowered = segment.lower()
        if lowered in (self.state.tenant_id.lower(), self.state.default_domain.lower()):
            return TenantRef(segment, True)
        if lowered in ("organizations", "common"):
            return TenantRef(lowered, False)
        raise AadError(
            400, "invalid_tenant", 90002,
            f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, this "
            "may happen if there are no active subscriptions for the tenant.",
        )

    # ----- discovery -----------------------------------------------------------------------

    def _openid_configuration(self, ctx: _Context) -> Response:
        # A domain resolves to the tenant id, as the real document names endpoints by GUID.
        tenant = self.state.tenant_id if ctx.tenant.specific else ctx.tenant.segment
        issuer_tenant = self.state.tenant_id if ctx.tenant.specific else "{tenantid}"
        base = f"{self.authority}/{tenant}"
        graph_netloc = urlsplit(self.urls.graph).netloc
        document = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post", "private_key_jwt", "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.authority}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.urls.graph.rstrip('/')}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email",
            ],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "WW",
            "cloud_instance_name": urlsplit(self.authority).hostname or "127.0.0.1",
            "cloud_graph_host_name": graph_netloc,
            "msgraph_host": graph_netloc,
            "rbac_url": self.authority,
        }
        return json_response(200, document, {
            "Cache-Control": "max-age=86400, private",
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, OPTIONS",
        })

    def _keys(self, ctx: _Context) -> Response:
        return json_response(200, self.tokens.jwks(), {
            "Cache-Control": "max-age=86400, private",
            "Access-Control-Allow-Origin": "*",
        })

    def _device_login_page(self) -> Response:
        body = (
            b"<!DOCTYPE html><html><head><title>Sandbox sign-in</title></head><body>"
            b"<h1>Sandbox device sign-in</h1><p>This is the sandbox tenant. Device codes are "
            b"approved automatically as the scenario's admin, or through the sandbox control "
            b"interface (approve_device_code).</p></body></html>"
        )
        return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})

    # ----- device code -------------------------------------------------------------------

    def _devicecode(self, ctx: _Context) -> Response:
        form = ctx.request.form()
        client_id = _required(form, "client_id").lower()
        ctx.request.caller = client_id
        scope = _required(form, "scope")
        self._delegated_client(client_id, ctx.tenant)
        parsed = parse_scope(scope, graph_resource(self.state))
        if parsed.resource_text is not None:
            self._resource_or_error(parsed.resource_text)
        now = self.state.clock.now()
        self._forget_expired(now)
        user_code = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9))
        device_code = "DAQABAAEAAAD" + secrets.token_urlsafe(96)
        sign_in = DeviceCodeSignIn(
            device_code=device_code,
            user_code=user_code,
            client_id=client_id,
            scope=scope,
            tenant=ctx.tenant,
            created_at=now,
            expires_at=now + DEVICE_CODE_SECONDS,
        )
        if self.state.device_code_auto_approve and self.state.identities.admin_user_id:
            sign_in.approved_user_id = self.state.identities.admin_user_id
        self._device_codes[device_code] = sign_in
        verification_uri = f"{self.authority}/devicelogin"
        return json_response(200, {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": DEVICE_CODE_SECONDS,
            # Polling at once keeps unattended runs and tests fast; the real value is 5.
            "interval": 0,
            "message": (
                f"To sign in, use a web browser to open the page {verification_uri} and enter "
                f"the code {user_code} to authenticate."
            ),
        }, _NO_STORE)

    # ----- authorize ---------------------------------------------------------------------

    def _authorize(self, ctx: _Context) -> Response:
        query = ctx.request.query
        client_id = _required(query, "client_id").lower()
        ctx.request.caller = client_id
        client = self._delegated_client(client_id, ctx.tenant)
        redirect_uri = _required(query, "redirect_uri")
        self._check_redirect_uri(client, redirect_uri)
        response_type = query.get("response_type", "")
        if "code" not in response_type.split(" "):
            return _redirect(redirect_uri, {
                "error": "unsupported_response_type",
                "error_description": "AADSTS700054: response_type 'code' is required for this flow.",
                **({"state": query["state"]} if "state" in query else {}),
            })
        scope = _required(query, "scope")
        parsed = parse_scope(scope, graph_resource(self.state))
        if parsed.resource_text is not None:
            self._resource_or_error(parsed.resource_text)
        user = self._browser_user(query.get("login_hint"))
        answer = self._consent_answer()
        if parsed.resource_text is not None:
            refused = self._consent_at_authorize(client, user, parsed, answer, redirect_uri, query)
            if refused is not None:
                return refused
        method = query.get("code_challenge_method", "plain")
        if method not in ("plain", "S256"):
            raise AadError(400, "invalid_request", 501491,
                           "Invalid size of Code_Challenge parameter.")
        self._forget_expired(self.state.clock.now())
        code = "1.A" + secrets.token_urlsafe(64)
        self._auth_codes[code] = AuthorizationCode(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            user_id=user.id,
            tenant=ctx.tenant,
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge"),
            code_challenge_method=method,
            expires_at=self.state.clock.now() + AUTH_CODE_SECONDS,
            consent_answer="auto" if answer == "pending" else answer,
        )
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        params["session_state"] = str(uuid.uuid4())
        # The real service answers response_mode=form_post with an auto-submitting HTML form;
        # a 302 carries the same parameters and every loopback redirect server accepts it.
        return _redirect(redirect_uri, params)

    def _consent_at_authorize(
        self, client: _DelegatedClient, user: User, parsed: ScopeRequest, answer: str,
        redirect_uri: str, query: dict[str, str],
    ) -> Response | None:
        """The consent page of a browser sign-in: None when the sign-in may go on; else
        the redirect carrying the refusal, or the page itself while nobody answers."""
        assert parsed.resource_text is not None
        resource = self._resource_or_error(parsed.resource_text)
        try:
            self._grant_scopes(client, self._signed_in_user(user.id), resource, parsed, _ConsentStep(answer))
        except _ConsentPending:
            body = (b"<!DOCTYPE html><html><head><title>Permissions requested</title></head><body>"
                    b"<h1>Permissions requested</h1><p>Waiting for the sandbox control interface "
                    b"(answer_consent).</p></body></html>")
            return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})
        except AadError as exc:
            params = {"error": "access_denied" if exc.code in (65004, 90094) else exc.error,
                      "error_description": f"AADSTS{exc.code}: {exc.text}"}
            if exc.code == 65004:
                params["error_subcode"] = "cancel"
            if "state" in query:
                params["state"] = query["state"]
            return _redirect(redirect_uri, params)
        return None

    def _forget_expired(self, now: float) -> None:
        """Drop sign-ins long past use, so a long-running sandbox does not grow."""
        horizon = now - DEVICE_CODE_SECONDS  # keep expired ones a while: they answer expired_token
        for key in [k for k, dc in self._device_codes.items() if dc.expires_at < horizon]:
            del self._device_codes[key]
        for key in [k for k, ac in self._auth_codes.items() if ac.expires_at < horizon]:
            del self._auth_codes[key]
        for key in [k for k, rt in self._refresh_tokens.items() if rt.expires_at < now]:
            del self._refresh_tokens[key]

    def _browser_user(self, login_hint: str | None) -> User:
        if self.browser_user_id:
            user = self.state.users.get(self.browser_user_id)
        elif login_hint and self.state.user_by_upn(login_hint) is not None:
            user = self.state.user_by_upn(login_hint)
        else:
            admin = self.state.identities.admin_user_id
            user = self.state.users.get(admin) if admin else None
        if user is None:
            raise AadError(400, "invalid_request", 50034,
                           "The user account does not exist in the directory. To sign into this "
                           "application, the account must be added to the directory.")
        return user

    def _check_redirect_uri(self, client: _DelegatedClient, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        loopback = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1")
        if client.known is not None and loopback:
            # Microsoft's public clients register http://localhost (any port, RFC 8252).
            return
        registered = client.application.web_redirect_uris if client.application else []
        for uri in registered:
            reg = urlsplit(uri)
            # Entra ignores the port of a loopback redirect URI, as RFC 8252 asks.
            if loopback and reg.scheme == "http" and reg.hostname == parts.hostname \
                    and reg.path.rstrip("/") == parts.path.rstrip("/"):
                return
            if uri == redirect_uri:
                return
        raise AadError(
            400, "invalid_request", 50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client.app_id}'. Make sure the "
            "redirect URI sent in the request matches one added to your application in the "
            "Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more "
            "about how to fix this.",
        )

    # ----- token endpoint ------------------------------------------------------------------

    def _token(self, ctx: _Context) -> Response:
        form = ctx.request.form()
        ctx.form = form
        basic_id, basic_secret = _basic_credentials(ctx.request)
        client_id = (form.get("client_id") or basic_id or "").lower()
        ctx.client_secret = form.get("client_secret") or basic_secret
        grant_type = _required(form, "grant_type")
        if not client_id:
            raise AadError(400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'client_id'.")
        ctx.client_id = client_id
        ctx.request.caller = client_id
        if grant_type in (DEVICE_CODE_GRANT, "authorization_code", "refresh_token") and self.forced_sign_in_errors:
            code = self.forced_sign_in_errors.pop(0)
            error, text, extra = FORCEABLE_SIGN_IN_ERRORS[code]
            raise AadError(400, error, code, text, **extra)
        if grant_type == "client_credentials":
            payload = self._client_credentials(ctx)
        elif grant_type == DEVICE_CODE_GRANT:
            payload = self._device_code_grant(ctx)
        elif grant_type == "refresh_token":
            payload = self._refresh_token_grant(ctx)
        elif grant_type == "authorization_code":
            payload = self._authorization_code_grant(ctx)
        else:
            raise AadError(400, "unsupported_grant_type", 70003,
                           f"The app requested an unsupported grant type '{grant_type}'.")
        return json_response(200, payload, _NO_STORE)

    # client credentials

    def _client_credentials(self, ctx: _Context) -> dict[str, Any]:
        assert ctx.client_id is not None
        if not ctx.tenant.specific:
            raise AadError(400, "invalid_request", 50059,
                           "No tenant-identifying information found in either the request or "
                           "implied by any provided credentials.")
        scope = _required(ctx.form, "scope")
        client_sp = _visible_sp(self.state, ctx.client_id)
        if client_sp is None:
            raise self._app_not_found(ctx.client_id, ctx.tenant)
        self._check_client_secret(ctx.client_id, ctx.client_secret, required=True)
        if not client_sp.account_enabled:
            raise AadError(400, "unauthorized_client", 7000112,
                           f"Application '{ctx.client_id}'({client_sp.display_name}) is disabled.")
        parsed = parse_scope(scope, graph_resource(self.state))
        if parsed.resource_text is None or parsed.oidc or parsed.values != [".default"]:
            raise AadError(
                400, "invalid_scope", 1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        resource = self._resource_or_error(parsed.resource_text)
        roles = self._app_roles_of(client_sp, resource.service_principal)
        now = int(self.state.clock.now())
        claims = self._access_token_base(resource, now)
        if resource.token_version == 2:
            claims.update({"azp": ctx.client_id, "azpacr": "1"})
        else:
            claims.update({"appid": ctx.client_id, "appidacr": "1",
                           "idp": f"https://sts.windows.net/{self.state.tenant_id}/"})
        claims.update({"idtyp": "app", "oid": client_sp.id, "sub": client_sp.id})
        if roles:
            claims["roles"] = roles
        return {
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS - 1,
            "ext_expires_in": ACCESS_TOKEN_SECONDS - 1,
            "access_token": self.tokens.issue(claims),
        }

    def _app_roles_of(self, client_sp: ServicePrincipal, resource_sp: ServicePrincipal) -> list[str]:
        app = _visible_application(self.state, resource_sp.app_id)
        defined = {r.id: r.value for r in resource_sp.app_roles if r.is_enabled}
        if app is not None:
            for role in app.app_roles:
                if role.is_enabled:
                    defined.setdefault(role.id, role.value)
        values: set[str] = set()
        for assignment in self.state.app_role_assignments.values():
            if (
                assignment.principal_id == client_sp.id
                and assignment.resource_id == resource_sp.id
                and counts_for_tokens(self.state, assignment.visibility)
                and assignment.app_role_id in defined
            ):
                values.add(defined[assignment.app_role_id])
        return sorted(values)

    def _check_client_secret(self, client_id: str, secret: str | None, *, required: bool) -> bool:
        """Validate a client secret against the application's password credentials.

        Returns True when a valid secret was presented. The secret itself never appears in
        an error (the real service names only the app).
        """
        app = _visible_application(self.state, client_id)
        if not secret:
            if required or (app is not None and not app.public_client and app.password_credentials):
                raise AadError(
                    401, "invalid_client", 7000218,
                    "The request body must contain the following parameter: 'client_assertion' "
                    "or 'client_secret'.",
                )
            return False
        now = self.state.clock.now()
        matched = [
            cred for cred in (app.password_credentials if app else [])
            if hmac.compare_digest(cred.secret_text.encode("utf-8"), secret.encode("utf-8"))
        ]
        if not matched or all(cred.start_time > now for cred in matched):
            raise AadError(
                401, "invalid_client", 7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        if all(cred.end_time <= now for cred in matched):
            raise AadError(
                401, "invalid_client", 7000222,
                f"The provided client secret keys for app '{client_id}' are expired. Visit the "
                "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
                "consider using certificate credentials for added security: "
                "https://aka.ms/certCreds.",
            )
        return True

    def _app_not_found(self, client_id: str, tenant: TenantRef) -> AadError:
        return AadError(
            400, "unauthorized_client", 700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{tenant.segment if tenant.specific else self.state.display_name}'. This can happen "
            "if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication "
            "request to the wrong tenant.",
        )

    def _resource_or_error(self, resource_text: str) -> Resource:
        resource = resolve_resource(self.state, resource_text)
        if resource is None:
            raise AadError(
                400, "invalid_resource", 500011,
                f"The resource principal named {resource_text} was not found in the tenant named "
                f"{self.state.display_name}. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in the "
                "tenant. You might have sent your authentication request to the wrong tenant.",
            )
        if not resource.service_principal.account_enabled:
            raise AadError(400, "invalid_resource", 500014,
                           f"The service principal for resource '{resource_text}' is disabled.")
        return resource

    # device code

    def _device_code_grant(self, ctx: _Context) -> dict[str, Any]:
        device_code = _required(ctx.form, "device_code")
        sign_in = self._device_codes.get(device_code)
        if sign_in is None or sign_in.client_id != ctx.client_id:
            raise AadError(400, "bad_verification_code", 70000,
                           "Provided grant is invalid or malformed.")
        sign_in.polls += 1
        if self.state.clock.now() >= sign_in.expires_at:
            del self._device_codes[device_code]
            raise AadError(400, "expired_token", 70019, "Verification code expired.")
        if sign_in.approved_user_id is None:
            raise self._authorization_pending()
        step = _ConsentStep(sign_in.consent_answer or self._consent_answer())
        try:
            self._check_client_secret(sign_in.client_id, ctx.client_secret, required=False)
            payload = self._issue_delegated(
                ctx, sign_in.tenant, sign_in.client_id, sign_in.approved_user_id, sign_in.scope,
                nonce=None, consent=step,
            )
        except _ConsentPending:
            # The person signed in and now looks at the consent page.
            sign_in.consent_scopes = step.asked
            raise self._authorization_pending() from None
        except AadError:
            # A device code is redeemed once, whether or not the tokens can be issued.
            del self._device_codes[device_code]
            raise
        del self._device_codes[device_code]
        return payload

    @staticmethod
    def _authorization_pending() -> AadError:
        return AadError(400, "authorization_pending", 70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")

    def device_code_polls(self, user_code: str) -> int:
        """How many times the client has polled for this code (tests wait on it)."""
        with self.state.lock:
            for dc in self._device_codes.values():
                if dc.user_code == user_code:
                    return dc.polls
            return 0

    # authorization code

    def _authorization_code_grant(self, ctx: _Context) -> dict[str, Any]:
        code_value = _required(ctx.form, "code")
        code = self._auth_codes.get(code_value)
        if code is None or code.client_id != ctx.client_id:
            raise AadError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if code.redeemed:
            raise AadError(400, "invalid_grant", 54005,
                           "OAuth2 Authorization code was already redeemed, please retry with a "
                           "new valid code or use an existing refresh token.")
        if self.state.clock.now() >= code.expires_at:
            raise AadError(400, "invalid_grant", 70008,
                           "The provided authorization code or refresh token has expired due to "
                           "inactivity. Send a new interactive authorization request for this user "
                           "and resource.")
        if ctx.form.get("redirect_uri") != code.redirect_uri:
            raise AadError(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if code.code_challenge is not None:
            verifier = ctx.form.get("code_verifier", "")
            if code.code_challenge_method == "S256":
                computed = base64.urlsafe_b64encode(
                    hashlib.sha256(verifier.encode("ascii", "replace")).digest()
                ).rstrip(b"=").decode("ascii")
            else:
                computed = verifier
            if not verifier or not hmac.compare_digest(computed, code.code_challenge):
                raise AadError(400, "invalid_grant", 501481,
                               "The Code_Verifier does not match the code_challenge supplied in "
                               "the authorization request.")
        code.redeemed = True
        self._check_client_secret(code.client_id, ctx.client_secret, required=False)
        scope = ctx.form.get("scope") or code.scope
        # The consent page was answered at /authorize; its grant is what this code redeems.
        return self._issue_delegated(ctx, code.tenant, code.client_id, code.user_id, scope,
                                     nonce=code.nonce, consent=_ConsentStep(code.consent_answer))

    # refresh token

    def _refresh_token_grant(self, ctx: _Context) -> dict[str, Any]:
        value = _required(ctx.form, "refresh_token")
        grant = self._refresh_tokens.get(value)
        if grant is None:
            raise AadError(400, "invalid_grant", 9002313,
                           "Invalid request. Request is malformed or invalid.")
        if grant.client_id != ctx.client_id:
            raise AadError(400, "invalid_grant", 70000,
                           "Provided grant is invalid or malformed.")
        if self.state.clock.now() >= grant.expires_at:
            raise AadError(400, "invalid_grant", 70008,
                           "The provided authorization code or refresh token has expired due to "
                           "inactivity. Send a new interactive authorization request for this user "
                           "and resource.")
        self._check_client_secret(grant.client_id, ctx.client_secret, required=False)
        scope = ctx.form.get("scope") or grant.scope
        return self._issue_delegated(ctx, grant.tenant, grant.client_id, grant.user_id, scope,
                                     nonce=None)

    # ----- delegated issuance ----------------------------------------------------------------

    def _delegated_client(self, client_id: str, tenant: TenantRef) -> _DelegatedClient:
        known = public_client(client_id)
        sp = _visible_sp(self.state, client_id)
        app = _visible_application(self.state, client_id)
        if sp is None and app is None and known is None:
            raise self._app_not_found(client_id, tenant)
        if known is not None and known.first_party and sp is None:
            # A first-party client's service principal appears on its first sign-in.
            sp = ensure_service_principal(self.state, known)
        if not tenant.specific and known is None and app is not None \
                and app.sign_in_audience.lower() in _SINGLE_TENANT_AUDIENCES:
            # A single-tenant app signs in only at its tenant's own endpoint.
            raise AadError(400, "invalid_request", 50059,
                           "No tenant-identifying information found in either the request or "
                           "implied by any provided credentials.")
        name = (sp.display_name if sp is not None else app.display_name if app is not None
                else known.display_name if known is not None else "")
        return _DelegatedClient(client_id, name, known, sp, app)

    def _signed_in_user(self, user_id: str) -> User:
        user = self.state.users.get(user_id)
        if user is None or not self.state.is_visible(user.visibility):
            raise AadError(400, "invalid_grant", 50034,
                           f"The user account {user_id} does not exist in the "
                           f"{self.state.tenant_id} directory. To sign into this application, the "
                           "account must be added to the directory.")
        if not user.account_enabled:
            raise AadError(400, "invalid_grant", 50057, "The user account is disabled.")
        return user

    # What the client may have without anyone consenting, and what its registration names.

    def _preauthorized(self, client: _DelegatedClient, resource: Resource) -> set[str]:
        if client.known is None:
            return set()
        # openid/profile/offline_access need no consent, and are no scope of the token.
        return {v for v in client.known.preauthorized_for(resource.service_principal.app_id)
                if v.lower() not in OIDC_SCOPES}

    def _registered_resources(self, client: _DelegatedClient) -> set[str]:
        if client.known is not None:
            return set(client.known.registered_resources)
        app = client.application
        return {r.resource_app_id.lower() for r in app.required_resource_access} if app else set()

    def _static_permissions(self, client: _DelegatedClient, resource: Resource) -> list[str]:
        """The delegated permissions on `resource` that the client's registration lists."""
        if client.known is not None:
            return sorted(self._preauthorized(client, resource))
        app = client.application
        if app is None:
            return []
        by_id = {sc.id: sc.value for sc in resource.service_principal.oauth2_permission_scopes}
        if resource.application is not None:
            by_id.update({sc.id: sc.value for sc in resource.application.oauth2_permission_scopes})
        wanted = resource.service_principal.app_id.lower()
        values: list[str] = []
        for rra in app.required_resource_access:
            if rra.resource_app_id.lower() != wanted:
                continue
            values += [by_id[ra.id] for ra in rra.resource_access if ra.type == "Scope" and ra.id in by_id]
        return values

    def _grant_scopes(
        self, client: _DelegatedClient, user: User, resource: Resource, request: ScopeRequest,
        consent: _ConsentStep | None,
    ) -> list[str]:
        """The scope values the token carries. `consent` is the interactive flow's consent
        step; None for a refresh-token request, which never records consent (AADSTS65001)."""
        res_app = resource.service_principal.app_id.lower()
        exposed = resource.exposed_scopes()
        available = {v.lower(): v for v in self._preauthorized(client, resource)}
        for value in consented_scopes(self.state, client.app_id, user.id, resource.service_principal):
            available.setdefault(value.lower(), value)
        if request.is_default:
            if res_app not in self._registered_resources(client):
                raise self._resource_not_registered(client, resource)
            wanted = self._static_permissions(client, resource)
        else:
            if client.known is not None and res_app in client.known.default_only:
                raise self._first_party_preauthorization(client, resource)
            if exposed:
                unknown = [v for v in request.values if v.lower() not in exposed]
                if unknown:
                    raise AadError(
                        400, "invalid_scope", 70011,
                        "The provided value for the input parameter 'scope' isn't valid. The "
                        f"scope {' '.join(request.raw)} isn't valid.",
                    )
            wanted = [exposed.get(v.lower(), v) for v in request.values]
        missing = [v for v in wanted if v.lower() not in available]
        if missing:
            if client.first_party:
                raise self._first_party_preauthorization(client, resource)
            if consent is None:
                raise self._consent_missing(client)
            self._consent_step(consent, client, user, resource, missing)
            for value in missing:
                available.setdefault(value.lower(), value)
        if not available:
            raise self._consent_missing(client)
        # Like the real v2.0 endpoint, a token carries every scope the client holds for this
        # user and resource, not only those asked for this time.
        return sorted(available.values())

    def _consent_step(
        self, step: _ConsentStep, client: _DelegatedClient, user: User, resource: Resource,
        missing: list[str],
    ) -> None:
        """The consent page for `missing`: what the person answers decides the outcome."""
        step.asked = list(missing)
        answer = step.answer
        if answer == "pending":
            raise _ConsentPending()
        if answer == "decline":
            raise AadError(400, "access_denied", 65004, "User declined to consent to access the app.",
                           error_subcode="cancel")
        admin = may_consent_for_organization(set(active_role_template_ids(self.state, user.id)))
        needs_admin = self._needs_admin(resource)
        scopes = [(v, needs_admin(v)) for v in missing]
        verified = client.known is not None  # Microsoft, a verified publisher
        may_self = admin or user_may_consent(self.state, verified, scopes)
        for_organization = admin and answer in ("auto", "organization")
        if not for_organization and not may_self:
            raise AadError(
                400, "invalid_grant", 90094,
                "The grant requires admin permission. Ask an administrator to grant permission "
                f"to the app '{client.display_name}' ({client.app_id}), or use the admin consent "
                "workflow if the tenant has one.",
            )
        client_sp = client.service_principal
        if client_sp is None and client.known is not None:
            # A multi-tenant app's service principal appears with its first consent.
            client_sp = ensure_service_principal(self.state, client.known)
            client.service_principal = client_sp
        if client_sp is None:
            raise self._app_not_found(client.app_id, TenantRef(self.state.tenant_id, True))
        record_grant(self.state, client_sp, resource.service_principal, missing,
                     None if for_organization else user.id)

    def _needs_admin(self, resource: Resource) -> Any:
        scopes = {s.value.lower(): s.type == "Admin" for s in resource.service_principal.oauth2_permission_scopes}
        if resource.application is not None:
            for sc in resource.application.oauth2_permission_scopes:
                scopes.setdefault(sc.value.lower(), sc.type == "Admin")
        return lambda value: scopes.get(value.lower(), True)

    def _consent_answer(self) -> str:
        answer = self.state.consent_response
        return answer if answer in CONSENT_RESPONSES else "auto"

    def _consent_missing(self, client: _DelegatedClient) -> AadError:
        return AadError(
            400, "invalid_grant", 65001,
            f"The user or administrator has not consented to use the application with ID "
            f"'{client.app_id}' named '{client.display_name}'. Send an interactive authorization "
            "request for this user and resource.",
            suberror="consent_required",
        )

    def _resource_not_registered(self, client: _DelegatedClient, resource: Resource) -> AadError:
        valid = ", ".join(sorted(self._registered_resources(client))) or "none"
        return AadError(
            400, "invalid_client", 650057,
            "Invalid resource. The client has requested access to a resource which is not listed "
            "in the requested permissions in the client's application registration. Client app "
            f"ID: {client.app_id}({client.display_name}). Resource value from request: "
            f"{resource.requested}. Resource app ID: {resource.service_principal.app_id}. List of "
            f"valid resources from app registration: {valid}.",
        )

    def _first_party_preauthorization(self, client: _DelegatedClient, resource: Resource) -> AadError:
        return AadError(
            400, "invalid_grant", 65002,
            f"Consent between first party application '{client.app_id}' and first party resource "
            f"'{resource.service_principal.app_id}' must be configured via preauthorization - "
            "applications owned and operated by Microsoft must get approval from the API owner "
            "before requesting tokens for that API.",
        )

    def _issue_delegated(
        self,
        ctx: _Context,
        tenant: TenantRef,
        client_id: str,
        user_id: str,
        scope: str,
        *,
        nonce: str | None,
        consent: _ConsentStep | None = None,
    ) -> dict[str, Any]:
        client = self._delegated_client(client_id, tenant)
        user = self._signed_in_user(user_id)
        request = parse_scope(scope, graph_resource(self.state))
        if request.resource_text is None:
            # Only OpenID scopes: the access token is for Graph's userinfo, as on the real service.
            resource = self._resource_or_error(graph_resource(self.state))
            values = [v for v in request.oidc if v.lower() != "offline_access"]
            prefix = None
        else:
            resource = self._resource_or_error(request.resource_text)
            values = self._grant_scopes(client, user, resource, request, consent)
            prefix = request.resource_text
        confidential = bool(ctx.client_secret)
        now = int(self.state.clock.now())
        tid = self.state.tenant_id
        claims = self._access_token_base(resource, now)
        if resource.token_version == 2:
            claims.update({"azp": client_id, "azpacr": "1" if confidential else "0",
                           "preferred_username": user.user_principal_name})
        else:
            claims.update({"appid": client_id, "appidacr": "1" if confidential else "0",
                           "amr": ["pwd", "mfa"], "acr": "1", "ipaddr": ctx.request.client_ip})
        claims.update({
            "idtyp": "user",
            "name": user.display_name,
            "oid": user.id,
            "scp": " ".join(values),
            "sub": _pairwise_subject(user.id, claims["aud"]),
            "upn": user.user_principal_name,
            "unique_name": user.user_principal_name,
            "wids": active_role_template_ids(self.state, user.id),
        })
        if user.given_name:
            claims["given_name"] = user.given_name
        if user.surname:
            claims["family_name"] = user.surname
        payload: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(_echo_scope(request, values, prefix)),
            "expires_in": ACCESS_TOKEN_SECONDS - 1,
            "ext_expires_in": ACCESS_TOKEN_SECONDS - 1,
            "access_token": self.tokens.issue(claims),
        }
        asked = {s.lower() for s in request.oidc}
        if "offline_access" in asked:
            refresh = "1.A" + secrets.token_urlsafe(96)
            self._refresh_tokens[refresh] = RefreshGrant(
                client_id=client_id, user_id=user.id, scope=scope, tenant=tenant,
                expires_at=now + REFRESH_TOKEN_SECONDS,
            )
            payload["refresh_token"] = refresh
        if "openid" in asked:
            id_claims: dict[str, Any] = {
                "aud": client_id,
                "iss": f"{self.authority}/{tid}/v2.0",
                "iat": now - BACKDATE_SECONDS,
                "nbf": now - BACKDATE_SECONDS,
                "exp": now + ACCESS_TOKEN_SECONDS,
                "name": user.display_name,
                "oid": user.id,
                "preferred_username": user.user_principal_name,
                "rh": "0.A" + secrets.token_urlsafe(16),
                "sub": _pairwise_subject(user.id, client_id),
                "tid": tid,
                "uti": secrets.token_urlsafe(16),
                "ver": "2.0",
            }
            if nonce is not None:
                id_claims["nonce"] = nonce
            if "email" in asked and user.mail:
                id_claims["email"] = user.mail
            payload["id_token"] = self.tokens.issue(id_claims)
        if ctx.form.get("client_info") == "1":
            payload["client_info"] = _b64url_json({"uid": user.id, "utid": tid})
        ctx.request.caller = user.id
        return payload

    def _access_token_base(self, resource: Resource, now: int) -> dict[str, Any]:
        tid = self.state.tenant_id
        if resource.token_version == 2:
            aud = resource.service_principal.app_id
            iss = f"{self.authority}/{tid}/v2.0"
            ver = "2.0"
        else:
            aud = resource.requested
            iss = f"https://sts.windows.net/{tid}/"
            ver = "1.0"
        return {
            "aud": aud,
            "iss": iss,
            "iat": now - BACKDATE_SECONDS,
            "nbf": now - BACKDATE_SECONDS,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "tid": tid,
            "uti": secrets.token_urlsafe(16),
            "ver": ver,
        }

    # ----- errors ---------------------------------------------------------------------------

    def _error(self, exc: AadError, request: Request) -> Response:
        trace_id = str(uuid.uuid4())
        # The real service reports the client's client-request-id as the correlation id.
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.state.clock.now()))
        body: dict[str, Any] = {
            "error": exc.error,
            "error_description": (
                f"AADSTS{exc.code}: {exc.text}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
            ),
            "error_codes": [exc.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.authority}/error?code={exc.code}",
        }
        body.update(exc.extra)
        headers = dict(_NO_STORE)
        headers["x-ms-request-id"] = trace_id
        return json_response(exc.status, body, headers)


# --- helpers ----------------------------------------------------------------------------

_NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "Expires": "-1"}


def _not_found() -> Response:
    return Response(404, b"", {"Content-Type": "text/html; charset=utf-8"})


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise AadError(400, "invalid_request", 900144,
                       f"The request body must contain the following parameter: '{name}'.")
    return value


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    """client_secret_basic: `Authorization: Basic base64(client_id:secret)`."""
    auth = request.headers.get("Authorization") or ""
    if auth[:6].lower() != "basic ":
        return None, None
    try:
        decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id) or None, unquote_plus(secret) or None


def _redirect(redirect_uri: str, params: dict[str, str]) -> Response:
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
    return Response(302, b"", {"Location": location, "Cache-Control": "no-store, no-cache"})


def _pairwise_subject(user_id: str, audience: str) -> str:
    """`sub` is unique per user and application, as Entra's pairwise subjects are."""
    digest = hashlib.sha256(f"{user_id}|{audience}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, str]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _echo_scope(request: ScopeRequest, values: list[str], prefix: str | None) -> list[str]:
    """The `scope` of a delegated token response: what was asked, plus what was granted.

    Clients cache the token under these strings, so every requested string appears as
    sent; granted values are added with the resource prefix as it was requested
    (Graph's bare values stay bare), then the OpenID scopes that were asked.
    """
    echoed: list[str] = list(request.resource_scopes)
    seen = {s.lower() for s in echoed}
    if prefix is not None:
        bare = not any("/" in s for s in request.resource_scopes)
        for value in values:
            # "https://management.core.windows.net/" + "/" + value gives the double slash
            # the real service echoes for that resource.
            text = value if bare else f"{prefix}/{value}"
            if text.lower() not in seen:
                echoed.append(text)
                seen.add(text.lower())
    for s in request.oidc:
        if s.lower() not in seen:
            echoed.append(s)
            seen.add(s.lower())
    return echoed
