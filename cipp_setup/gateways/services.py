"""The gateways as the engine's `Services`: sign-in, read gateways, write gateway, and
the wizard's look-ups.

The front ends put a `GatewayServices()` in `ConnectionOptions.services`; the engine
only knows the protocol (`cipp_setup.engine.services`). Every SDK import stays inside
the methods, so importing this module costs nothing on the `--help` path.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, cast

from cipp_setup.gateways.threads import in_thread

if TYPE_CHECKING:
    from cipp_setup.cloud import Cloud
    from cipp_setup.engine.lookups import TenantLookups
    from cipp_setup.engine.services import AdminSession as SessionLike
    from cipp_setup.engine.services import ConnectionOptions
    from cipp_setup.engine.writes import Grant
    from cipp_setup.gateways import Gateways
    from cipp_setup.gateways.auth import AdminSession
    from cipp_setup.gateways.retry import RetryPolicy
    from cipp_setup.gateways.writes import Writes


# What building and first using the read gateways imports (msgraph's client and the
# request builders the checks reach, kiota, the ARM SDKs): several hundred modules.
# `sign_in` imports them in a second worker thread while the sign-in is on the wire:
# imported on the event loop afterwards instead, they would stall every coroutine (the
# API checks a legacy run starts before the sign-in included) for as long as the import
# takes. A name missing here still imports when used: the list only decides what loads
# early (tests/test_startup_imports.py keeps it to what a legacy check imports).
ADMIN_SDK_MODULES = (
    "httpx",
    "msgraph_core",
    "kiota_http.middleware.options",
    "kiota_authentication_azure.azure_identity_authentication_provider",
    "msgraph.graph_request_adapter",
    "msgraph.graph_service_client",
    "msgraph.generated.models.o_data_errors.o_data_error",
    "msgraph.generated.users.users_request_builder",
    "msgraph.generated.users.item.user_item_request_builder",
    "msgraph.generated.users.item.transitive_member_of.graph_group.graph_group_request_builder",
    "msgraph.generated.applications.applications_request_builder",
    "msgraph.generated.service_principals.service_principals_request_builder",
    "msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder",
    "msgraph.generated.role_management.directory.directory_request_builder",
    "azure.mgmt.authorization",
    "azure.mgmt.resource.subscriptions",
)


def preload_admin_sdks(stop: threading.Event | None = None) -> None:
    """Import ADMIN_SDK_MODULES, in a worker thread; `stop` ends it between modules (a
    refused sign-in ends the run: nothing more is worth loading). A name an SDK release
    dropped only loses its head start."""
    import importlib

    for name in ADMIN_SDK_MODULES:
        if stop is not None and stop.is_set():
            return
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def _session(session: SessionLike) -> AdminSession:
    """The engine hands back the session these services made: the gateways' own type."""
    return cast("AdminSession", session)


class GatewayServices:
    """`engine.services.Services` over msal / azure-identity / msgraph-sdk / ARM / httpx."""

    async def sign_in(self, connection: ConnectionOptions, tenant: str) -> AdminSession:
        """Sign in; meanwhile the read gateways' SDKs load (ADMIN_SDK_MODULES), so that
        building them afterwards does not stall the event loop."""
        from cipp_setup.gateways.auth import sign_in

        stop = threading.Event()
        preload = asyncio.ensure_future(in_thread(preload_admin_sdks, stop))
        try:
            session = await in_thread(
                sign_in, cloud=connection.cloud, tenant=tenant, auth=connection.auth,
                interactive=connection.interactive, device_code_callback=connection.device_code_callback,
                client_id=connection.client_id, client_secret=connection.client_secret,
                retry=connection.retry, for_fix=connection.sign_in_for == "fix",
            )
        except BaseException:
            stop.set()
            raise
        await preload
        return session

    async def obtain_write_permissions(self, session: SessionLike) -> None:
        from cipp_setup.gateways.auth import obtain_write_permissions

        await in_thread(obtain_write_permissions, _session(session))

    async def read_sign_in_grants(self, session: SessionLike, resource_app_id: str) -> list[Grant] | None:
        """The tool's own client's oauth2PermissionGrants on `resource_app_id`, read with the
        sign-in's read permissions; [] when either service principal is absent, None when
        they cannot be read (no permission, no token)."""
        from cipp_setup import wellknown
        from cipp_setup.engine.writes import WriteRefused
        from cipp_setup.gateways.auth import AsyncCredentialAdapter
        from cipp_setup.gateways.graph_writes import GraphWrites

        real = _session(session)
        if real.auth not in ("device-code", "browser"):
            return None  # not the tool's client: its sign-in consents nothing
        graph = GraphWrites.for_cloud(real.cloud, AsyncCredentialAdapter(real.credential), real.graph_scopes)
        try:
            client = await graph.find_service_principal(wellknown.TOOL_PUBLIC_CLIENT_ID)
            resource = await graph.find_service_principal(resource_app_id)
            if client is None or resource is None:
                return []
            return await graph.list_oauth2_permission_grants(client, resource)
        except WriteRefused:
            return None
        finally:
            await graph.close()

    def read_gateways(self, cloud: Cloud, session: SessionLike | None, *, retry: Any = None,
                      api_timeout_s: float | None = None) -> Gateways:
        from cipp_setup.gateways import Gateways

        return Gateways.build(cloud, None if session is None else _session(session),
                              retry=retry, api_timeout_s=api_timeout_s)

    def writes(self, session: SessionLike, retry: RetryPolicy | None = None) -> Writes:
        from cipp_setup.gateways.writes import Writes

        return Writes.for_session(_session(session), retry)

    def lookups(self, session: SessionLike, retry: RetryPolicy | None = None) -> TenantLookups:
        """The reads behind the wizard's pickers, over this sign-in."""
        from cipp_setup.engine.lookups import TenantLookups
        from cipp_setup.gateways.arm import ArmGateway
        from cipp_setup.gateways.graph_search import GraphSearch

        real = _session(session)
        return TenantLookups(GraphSearch.for_session(real, retry), ArmGateway(real.cloud, real.arm_token_credential, retry, scope=real.arm_scope))


def open_lookups(session: SessionLike, retry: RetryPolicy | None = None) -> TenantLookups:
    """The wizard's pickers over a gateways sign-in (what `TenantLookups.open` was)."""
    return GatewayServices().lookups(session, retry)
