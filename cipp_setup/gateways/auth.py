"""Signing the admin in with azure-identity: one credential serves Graph and ARM.

Modes (`--auth`): `device-code` (the default where no browser can open), `browser`,
`azure-cli` (reuse `az login`), `client-secret` (a service principal, for automation).
Every credential gets an explicit tenant, the cloud's authority host, the cloud's CA
(with its proxies: `gateways/transport.azure_client_kwargs`) and, off the public clouds, `disable_instance_discovery=True`
(otherwise MSAL asks login.microsoftonline.com where the authority is and fails offline).

CAE: kiota's Graph auth provider asks for CAE tokens by default, the ARM clients do not,
and azure-identity caches the two kinds apart, so a device-code user would be prompted
twice. This project uses **CAE off everywhere** (`USE_CAE = False`): the Graph provider
gets `is_cae_enabled=False`, `authenticate()` and ARM use their default (off).

Read-only runs (`check`) ask for read permissions only: see `READ_GRAPH_PERMISSIONS`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from cipp_setup import wellknown
from cipp_setup.cloud import CLOUDS, Cloud
from cipp_setup.engine.context import SignedInAdmin
from cipp_setup.engine.result import Secret
from cipp_setup.gateways.errors import SignInFailed, SignInRequired

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

    from cipp_setup.gateways.retry import RetryPolicy
    from cipp_setup.gateways.signin_cache import CacheChoice

AUTH_MODES: tuple[str, ...] = ("device-code", "browser", "azure-cli", "client-secret")
# The Azure CLI's client is pre-authorized for a fixed Graph set without the PIM and
# role-management scopes, and `az login --scope` cannot add them (Azure/azure-cli#26471).
AZURE_CLI_ROLE_MANAGEMENT = (
    "with --auth azure-cli, Graph refuses the PIM and role-management endpoints (403 "
    "PermissionScopeNotGranted: the Azure CLI's token lacks RoleManagement.ReadWrite.Directory "
    "and the PIM scopes); use --auth device-code or browser for this"
)
USE_CAE = False

from cipp_setup.gateways.permissions import READ_GRAPH_PERMISSIONS  # noqa: E402 - re-exported
from cipp_setup.gateways.threads import in_thread

_AADSTS = re.compile(r"AADSTS(\d+)")
_AADSTS_LEAD = re.compile(r"^.*?AADSTS\d+:\s*")
_PUBLIC_AUTHORITIES = frozenset(c.authority_host.rstrip("/").lower() for c in CLOUDS.values())


def default_interactive_mode() -> str:
    """`browser` where one can open (a desktop session), else `device-code`."""
    if os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"):
        return "device-code"
    if sys.platform in ("darwin", "win32"):
        return "browser"
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    has_opener = shutil.which("xdg-open") is not None
    return "browser" if has_display and has_opener else "device-code"


def aadsts_code(text: str | None) -> str | None:
    """The AADSTS error number in an identity-platform error description, if any.

    The number is the identity platform's machine-readable error code (it is also in
    `error_codes`); azure-identity hands us only the description, so it is read from there.
    """
    match = _AADSTS.search(text or "")
    return match.group(1) if match else None


def decode_claims(token: str) -> dict[str, Any]:
    """A JWT's payload, decoded without verification: for display and identity only."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        value = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (IndexError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _is_public_authority(cloud: Cloud) -> bool:
    return cloud.authority_host.rstrip("/").lower() in _PUBLIC_AUTHORITIES


def graph_scopes(cloud: Cloud, auth: str, *, write_permissions: tuple[str, ...] = ()) -> list[str]:
    """Scopes for Graph tokens. Delegated sign-ins name permissions (incremental consent);
    the Azure CLI and a service principal can only ask for `.default`."""
    if auth in ("azure-cli", "client-secret"):
        return [cloud.graph_scope]
    return [cloud.graph_permission(p) for p in READ_GRAPH_PERMISSIONS + write_permissions]


def arm_scope(cloud: Cloud, auth: str) -> str:
    """The scope ARM tokens are asked with. The tool's client (Microsoft Graph Command
    Line Tools, a third-party app) has no static permission for Azure Service Management,
    so `.default` would be AADSTS650057: a delegated sign-in asks the explicit
    `user_impersonation` scope (dynamic consent, once). The Azure CLI and a service
    principal ask `.default`, which their registration covers."""
    if auth in ("azure-cli", "client-secret"):
        return cloud.arm_scope
    return cloud.arm_permission("user_impersonation")


def consent_notice(cloud: Cloud, auth: str, *, for_fix: bool) -> str | None:
    """What the consent step of an interactive sign-in will ask, said before it: which app,
    which permissions, for whom. None where no consent page can come (azure-cli,
    client-secret: their registrations are pre-authorized or consented already).
    It ends naming the command that removes the consent: the front end prints that command
    on the next line, with the run's options and unwrapped (it must work as pasted)."""
    if auth not in ("device-code", "browser"):
        return None
    from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS

    asked = READ_GRAPH_PERMISSIONS + (WRITE_GRAPH_PERMISSIONS if for_fix else ())
    return (
        "The first sign-in in a tenant asks for consent for the app 'Microsoft Graph Command Line "
        f"Tools' ({wellknown.TOOL_PUBLIC_CLIENT_ID}): Microsoft Graph {', '.join(asked)}; then Azure "
        "Service Management user_impersonation (a second page: one resource per page). An "
        "administrator may consent for the whole organization (an oauth2PermissionGrant for all "
        "users), anyone else only for themselves where the tenant allows it. It is a change to the "
        "tenant: the journal records it, and this removes it again:"
    )


def build_credential(
    *,
    cloud: Cloud,
    tenant: str,
    auth: str,
    interactive: bool,
    device_code_callback: Callable[[str], None],
    client_id: str | None = None,
    client_secret: Secret | None = None,
    cache: CacheChoice | None = None,
    retry: RetryPolicy | None = None,
    saved_sign_in: bool = True,
) -> TokenCredential:
    """The azure-identity credential for `auth`, configured for `cloud` and `tenant`.

    `cache` is `cipp-setup login`'s choice (persist the token cache); without it a sign-in
    saved by login, if any, is used (cipp_setup.gateways.signin_cache)."""
    from azure.identity import (
        AzureCliCredential,
        ClientSecretCredential,
        DeviceCodeCredential,
        InteractiveBrowserCredential,
    )

    from cipp_setup.gateways.transport import azure_client_kwargs

    common: dict[str, Any] = {"authority": cloud.authority_host, "tenant_id": tenant}
    if not _is_public_authority(cloud):
        common["disable_instance_discovery"] = True
    if auth != "azure-cli":
        # The run's CA bundle and proxies (gateways/transport.py), not the environment's.
        # The identity platform follows the one retry rule (gateways/retry.py), applied
        # in the session: azure-core's own retries are off, since they would wait out a
        # `Retry-After: 120` three times, silently. A DNS, TLS or proxy failure is not
        # retried: it does not heal in seconds.
        from cipp_setup.gateways.retry import RetryPolicy

        common.update(azure_client_kwargs(cloud, retry=retry or RetryPolicy()))
        common["retry_total"] = 0

    if auth in ("device-code", "browser") and saved_sign_in:
        # A saved sign-in: the persistent cache and the account record (which carries the
        # authority: `authority=` must then go, see signin_cache), so the run is silent.
        from cipp_setup.gateways.signin_cache import interactive_credential_options

        common = interactive_credential_options(cloud, tenant, common, cache)

    if auth == "device-code":
        def prompt(verification_uri: str, user_code: str, expires_on: Any) -> None:
            device_code_callback(
                f"To sign in, use a web browser to open the page {verification_uri} "
                f"and enter the code {user_code} to authenticate."
            )

        return DeviceCodeCredential(
            client_id=client_id or wellknown.TOOL_PUBLIC_CLIENT_ID,
            prompt_callback=prompt,
            disable_automatic_authentication=not interactive,
            **common,
        )
    if auth == "browser":
        return InteractiveBrowserCredential(
            client_id=client_id or wellknown.TOOL_PUBLIC_CLIENT_ID,
            disable_automatic_authentication=not interactive,
            **common,
        )
    if auth == "azure-cli":
        # The Azure CLI keeps its own cloud and CA configuration; only the tenant is ours.
        return AzureCliCredential(tenant_id=tenant)
    if auth == "client-secret":
        if not client_id or not client_secret:
            raise SignInRequired("--auth client-secret needs a client id and a client secret")
        return ClientSecretCredential(
            client_id=client_id, client_secret=client_secret.reveal(), **common
        )
    raise ValueError(f"unknown sign-in mode {auth!r}; expected one of {', '.join(AUTH_MODES)}")


def translate_auth_error(
    exc: BaseException, authority_url: str | None = None, *, tenant: str | None = None,
    login_for: str = "check",
) -> Exception:
    """azure-identity's exceptions as SignInRequired / SignInFailed (or `exc` itself).
    A connection failure becomes SignInFailed naming the host (`authority_url` when the
    exception does not carry the request's URL) and what to try."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import AuthenticationRequiredError, CredentialUnavailableError

    if isinstance(exc, AuthenticationRequiredError):
        # No saved sign-in (or it no longer refreshes) and nobody to ask: say how to fix it.
        tenant_flag = f" --tenant {tenant}" if tenant else ""
        if login_for == "fix":
            # The command that obtains exactly what is missing: the write permissions,
            # consented in one interactive sign-in (a refresh token cannot consent).
            return SignInRequired(
                f"the saved sign-in lacks the write permissions fix needs, and this run may not "
                f"prompt: run 'cipp-setup login --for fix{tenant_flag}' first."
            )
        return SignInRequired(
            f"no saved sign-in for this tenant, and this run may not prompt: run "
            f"'cipp-setup login{tenant_flag}' first, or use --auth azure-cli / client-secret."
        )
    if isinstance(exc, CredentialUnavailableError):
        return SignInRequired(str(exc.message).splitlines()[0] if exc.message else str(exc))
    from cipp_setup.gateways.transport import describe_connection_failure, identity_failure, is_connection_failure

    unavailable = identity_failure(exc)
    if unavailable is not None:
        # Throttled or down beyond the retry budget: say so (msal's "double check your
        # tenant name" would send the admin looking for a typo that is not there).
        return SignInFailed(None, unavailable.message)
    if not isinstance(exc, ClientAuthenticationError) or exc.response is None:
        # No answer at all from the identity platform (DNS, refused, TLS, proxy): name the host.
        if isinstance(exc, Exception) and is_connection_failure(exc):
            return SignInFailed(None, describe_connection_failure(exc, "The identity platform", authority_url))
    if isinstance(exc, ClientAuthenticationError):
        text = str(exc.message or exc)
        first = next((line for line in text.splitlines() if line.strip()), text)
        from cipp_setup.gateways.signin_advice import explain

        code = aadsts_code(text)
        # SignInFailed names the code itself: drop azure-identity's "Authentication failed:
        # AADSTSnnnn:" lead-in so the line does not say the code twice.
        first = _AADSTS_LEAD.sub("", first, count=1) if code else first
        return SignInFailed(code, explain(code, first.strip(), tenant=tenant, authority=authority_url,
                                          for_fix=login_for == "fix"))
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def _azure_cli_unavailable(message: str) -> str:
    """AzureCliCredential's "Azure CLI not found on path" / "Please run 'az login' ...",
    with what to do about it: the user chose --auth azure-cli, so name the other ways."""
    others = "--auth device-code (or browser, client-secret)"
    if "not found" in message.lower():
        return f"{message.rstrip('.')}. Try: install the Azure CLI and run 'az login', or use {others}."
    return f"{message.rstrip('.')}. Try: 'az login', or use {others}."


def obtain_write_permissions(session: AdminSession) -> None:
    """`fix`: the Graph write permissions, once, before any plan is applied — never
    mid-apply. An interactive run shows one consent page for them (a refresh token never
    records consent); a non-interactive one without them raises SignInRequired naming
    `cipp-setup login --for fix`. Blocking: call it through gateways.threads.in_thread."""
    if session.auth in ("azure-cli", "client-secret"):
        return  # `.default`: what the registration holds; nothing to consent here
    from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS

    scopes = graph_scopes(session.cloud, session.auth, write_permissions=WRITE_GRAPH_PERMISSIONS)
    try:
        session.credential.get_token(*scopes, enable_cae=USE_CAE)
    except Exception as exc:  # noqa: BLE001 - translated into the project's sign-in errors
        raise translate_auth_error(exc, session.cloud.authority_host, tenant=session.tenant_id,
                                   login_for="fix") from None


class AsyncCredentialAdapter:
    """An async face for a sync credential, for kiota: token refreshes run in a thread so
    they never block the event loop; tokens are kept until five minutes before expiry."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential
        self._tokens: dict[tuple[str, ...], AccessToken] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        key = tuple(scopes)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # concurrent requests wait for one refresh instead of each doing it
            token = self._tokens.get(key)
            if token is None or token.expires_on - 300 < time.time():
                if kwargs.get("claims") is None:
                    kwargs.pop("claims", None)
                token = await in_thread(self._credential.get_token, *scopes, **kwargs)
                self._tokens[key] = token
            return token

    @property
    def credential(self) -> TokenCredential:
        return self._credential

    def forget(self) -> None:
        """Drop the kept tokens (one was refused: gateways/stale_token.py)."""
        self._tokens.clear()

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncCredentialAdapter:
        return self

    async def __aexit__(self, *args: Any) -> None:
        return None


@dataclass
class AdminSession:
    """A signed-in admin: the credential and what the sign-in told us about them."""

    credential: TokenCredential
    cloud: Cloud
    auth: str
    admin: SignedInAdmin
    graph_scopes: list[str]
    # ARM through a second, first-party client (the Azure CLI's) where the tenant forbids
    # consenting the tool's client to Azure Service Management; None: the same credential.
    arm_credential: TokenCredential | None = None
    # The Graph permissions this sign-in asked with the tool's own client (delegated modes):
    # what a consent page, if Entra showed one, was about (engine/signin_consent.py).
    consent_asked: tuple[str, ...] = ()

    @property
    def arm_scope(self) -> str:
        if self.arm_credential is not None:
            return self.cloud.arm_scope  # the first-party client's registration: `.default`
        return arm_scope(self.cloud, self.auth)

    @property
    def arm_token_credential(self) -> TokenCredential:
        """The credential ARM tokens come from."""
        return self.arm_credential if self.arm_credential is not None else self.credential

    @property
    def arm_client_id(self) -> str:
        """The client ARM tokens are issued to (for what the report and tests say)."""
        if self.arm_credential is not None:
            return wellknown.AZURE_CLI_CLIENT_ID
        return wellknown.TOOL_PUBLIC_CLIENT_ID if self.auth in ("device-code", "browser") else ""

    @property
    def tenant_id(self) -> str:
        return self.admin.tenant_id


def sign_in(
    *,
    cloud: Cloud,
    tenant: str,
    auth: str,
    interactive: bool,
    device_code_callback: Callable[[str], None],
    client_id: str | None = None,
    client_secret: Secret | None = None,
    retry: RetryPolicy | None = None,
    for_fix: bool = False,
) -> AdminSession:
    """Sign in (prompting only if `interactive`) and return who is signed in. Blocking:
    call it through gateways.threads.in_thread. Raises SignInRequired or SignInFailed.

    `for_fix`: the run will apply fixes, so the sign-in asks the write permissions too, in
    the same interactive step (one consent page for Graph, never one mid-apply)."""
    credential = build_credential(
        cloud=cloud, tenant=tenant, auth=auth, interactive=interactive,
        device_code_callback=device_code_callback, client_id=client_id,
        client_secret=client_secret, retry=retry,
    )
    # Over a saved sign-in's persisted cache, one token request at a time (signin_cache).
    from cipp_setup.gateways.signin_cache import guard_credential

    credential = guard_credential(credential, cloud=cloud, tenant=tenant, auth=auth)
    from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS

    writes = WRITE_GRAPH_PERMISSIONS if for_fix else ()
    scopes = graph_scopes(cloud, auth, write_permissions=writes)
    try:
        token = credential.get_token(*scopes, enable_cae=USE_CAE)
    except Exception as exc:  # noqa: BLE001 - translated into the project's sign-in errors
        # A run that will fix names the login that obtains the write permissions too.
        error = translate_auth_error(exc, cloud.authority_host, tenant=tenant,
                                     login_for="fix" if for_fix else "check")
        if auth == "azure-cli" and isinstance(error, SignInRequired):
            error = SignInRequired(_azure_cli_unavailable(str(error)))
        raise error from None
    arm_credential: TokenCredential | None = None
    if interactive and auth in ("device-code", "browser"):
        # Azure Resource Manager is a second resource: its consent page (user_impersonation)
        # comes now, with the sign-in, rather than in the middle of the checks. Once
        # consented this is a silent refresh.
        try:
            credential.get_token(arm_scope(cloud, auth), enable_cae=USE_CAE)
        except Exception as exc:  # noqa: BLE001 - translated into the project's sign-in errors
            error = translate_auth_error(exc, cloud.authority_host, tenant=tenant)
            if not (isinstance(error, SignInFailed) and error.code in ARM_FALLBACK_CODES):
                raise error from None
            arm_credential = _first_party_arm_sign_in(
                cloud=cloud, tenant=tenant, auth=auth, device_code_callback=device_code_callback,
                refused=error, retry=retry)
    claims = decode_claims(token.token)
    # App-only tokens carry idtyp "app" (optional claim) and never a user name.
    is_app = claims.get("idtyp") == "app" or (
        auth == "client-secret" and not any(k in claims for k in ("upn", "preferred_username", "unique_name"))
    )
    upn = str(
        claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
        or (f"app {claims.get('appid') or claims.get('azp') or client_id}" if is_app else "")
    )
    admin = SignedInAdmin(
        object_id=str(claims.get("oid", "")),
        user_principal_name=upn,
        tenant_id=str(claims.get("tid") or tenant),
        kind="app" if is_app else "user",
        role_management_blocked=AZURE_CLI_ROLE_MANAGEMENT if auth == "azure-cli" else None,
    )
    asked = READ_GRAPH_PERMISSIONS + writes if auth in ("device-code", "browser") else ()
    return AdminSession(credential, cloud, auth, admin, scopes, arm_credential=arm_credential, consent_asked=asked)


# The tool's client may not be consented to Azure Service Management here: the user may not
# consent (90094, user consent off or limited) and is no admin who may. Declining (65004)
# is the person's answer, not the tenant's: no fallback for it.
ARM_FALLBACK_CODES = frozenset({"90094"})


def _first_party_arm_sign_in(
    *, cloud: Cloud, tenant: str, auth: str, device_code_callback: Callable[[str], None],
    refused: SignInFailed, retry: RetryPolicy | None,
) -> TokenCredential:
    """ARM through the Azure CLI's client, pre-authorized for Azure Service Management in
    every tenant (no consent page): a second sign-in, announced first. Graph stays with
    the tool's client (the Azure CLI's fixed Graph set lacks the PIM and role scopes)."""
    device_code_callback(
        f"Azure Resource Manager: this tenant does not let you consent for 'Microsoft Graph Command "
        f"Line Tools' to Azure Service Management (AADSTS{refused.code}). Signing in a second time, "
        f"for Azure Resource Manager only, with Microsoft's own Azure CLI client "
        f"({wellknown.AZURE_CLI_CLIENT_ID}), which every tenant pre-authorizes for it: no consent page."
    )
    second = build_credential(
        cloud=cloud, tenant=tenant, auth=auth, interactive=True, device_code_callback=device_code_callback,
        # `login` saves the tool's client's sign-in only: this one is for this run.
        client_id=wellknown.AZURE_CLI_CLIENT_ID, retry=retry, saved_sign_in=False,
    )
    try:
        second.get_token(cloud.arm_scope, enable_cae=USE_CAE)
    except Exception as exc:  # noqa: BLE001 - translated into the project's sign-in errors
        raise translate_auth_error(exc, cloud.authority_host, tenant=tenant) from None
    return second
