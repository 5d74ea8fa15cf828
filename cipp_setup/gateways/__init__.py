"""Thin async adapters over msal / azure-identity / msgraph-sdk / ARM / httpx.

Importing this package imports no SDK: each gateway module imports its SDK inside the
functions that need it, so `--help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cipp_setup.cloud import Cloud
    from cipp_setup.gateways.api import CippApiGateway
    from cipp_setup.gateways.arm import ArmGateway
    from cipp_setup.gateways.auth import AdminSession
    from cipp_setup.gateways.graph import GraphGateway
    from cipp_setup.gateways.retry import RetryPolicy
    from cipp_setup.gateways.web import WebGateway


@dataclass
class Gateways:
    """What checks talk to. `graph` and `arm` are None when nobody signed in."""

    graph: GraphGateway | None
    arm: ArmGateway | None
    api: CippApiGateway
    web: WebGateway | None = None  # the Function App through ARM (azure-mgmt-web)

    @classmethod
    def build(
        cls,
        cloud: Cloud,
        session: AdminSession | None,
        *,
        retry: RetryPolicy | None = None,
        api_timeout_s: float | None = None,
    ) -> Gateways:
        from cipp_setup.gateways.api import LIST_LOGS_TIMEOUT_S, CippApiGateway

        graph = arm = web = None
        if session is not None:
            from cipp_setup.gateways.arm import ArmGateway
            from cipp_setup.gateways.auth import AsyncCredentialAdapter
            from cipp_setup.gateways.graph import GraphGateway, build_graph_client

            from cipp_setup.gateways.stale_token import RenewableCredential

            # One credential that can skip its caches after a 401 (a stale sign-in).
            credential = RenewableCredential(session.credential)
            tokens = AsyncCredentialAdapter(credential)
            client = build_graph_client(cloud, tokens, session.graph_scopes)
            graph = GraphGateway(client, retry, tokens=tokens, scopes=session.graph_scopes)
            # ARM may come from a second, first-party client (session.arm_credential).
            arm_credential = (credential if session.arm_credential is None
                              else RenewableCredential(session.arm_credential))
            arm = ArmGateway(cloud, arm_credential, retry, scope=session.arm_scope)
            from cipp_setup.gateways.web import WebGateway

            web = WebGateway(cloud, arm_credential, retry, scope=session.arm_scope)
        api = CippApiGateway(cloud, timeout_s=api_timeout_s or LIST_LOGS_TIMEOUT_S, retry=retry)
        return cls(graph=graph, arm=arm, api=api, web=web)

    def prefetch_arm_token(self) -> None:
        """Fetch the ARM token while the first Graph reads are in flight."""
        if self.arm is not None:
            self.arm.prefetch_token()

    def renew_api_tokens(self) -> None:
        """A fresh token client for the CIPP API: msal keeps an identity platform's 400
        answer for 60 s (its throttling cache), so after a fix (a new identifier URI, a
        new secret) a re-check must really ask again."""
        self.api.renew_tokens()

    @property
    def request_count(self) -> int:
        return sum(g.request_count for g in (self.graph, self.arm, self.api, self.web) if g is not None)

    async def close(self) -> None:
        for gateway in (self.graph, self.arm, self.api, self.web):
            if gateway is not None:
                await gateway.close()
