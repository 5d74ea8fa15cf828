"""The gateways as the engine's `Services`: sign-in, read gateways, write gateway, and
the wizard's look-ups.

The front ends put a `GatewayServices()` in `ConnectionOptions.services`; the engine
only knows the protocol (`cipp_setup.engine.services`). Every SDK import stays inside
the methods, so importing this module costs nothing on the `--help` path.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from cipp_setup.cloud import Cloud
    from cipp_setup.engine.lookups import TenantLookups
    from cipp_setup.engine.services import AdminSession as SessionLike
    from cipp_setup.engine.services import ConnectionOptions
    from cipp_setup.gateways import Gateways
    from cipp_setup.gateways.auth import AdminSession
    from cipp_setup.gateways.retry import RetryPolicy
    from cipp_setup.gateways.writes import Writes


def _session(session: SessionLike) -> AdminSession:
    """The engine hands back the session these services made: the gateways' own type."""
    return cast("AdminSession", session)


class GatewayServices:
    """`engine.services.Services` over msal / azure-identity / msgraph-sdk / ARM / httpx."""

    async def sign_in(self, connection: ConnectionOptions, tenant: str) -> AdminSession:
        from cipp_setup.gateways.auth import sign_in

        return await asyncio.to_thread(
            sign_in, cloud=connection.cloud, tenant=tenant, auth=connection.auth,
            interactive=connection.interactive, device_code_callback=connection.device_code_callback,
            client_id=connection.client_id, client_secret=connection.client_secret,
        )

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
        return TenantLookups(GraphSearch.for_session(real, retry), ArmGateway(real.cloud, real.credential, retry))


def open_lookups(session: SessionLike, retry: RetryPolicy | None = None) -> TenantLookups:
    """The wizard's pickers over a gateways sign-in (what `TenantLookups.open` was)."""
    return GatewayServices().lookups(session, retry)
