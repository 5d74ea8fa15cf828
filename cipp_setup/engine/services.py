"""What the engine needs from the services, as protocols: a sign-in, read gateways for
the checks, a write gateway for the fixes.

The engine defines these and never imports an implementation; `cipp_setup.gateways`
implements them (`gateways.services.GatewayServices`), and the front ends (cli/,
wizard/, tests) wire the two together by putting one in `ConnectionOptions.services`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from cipp_setup.engine.context import SignedInAdmin
from cipp_setup.engine.result import Secret
from cipp_setup.engine.writes import Grant, TenantWrites

if TYPE_CHECKING:
    from cipp_setup.cloud import Cloud


class AdminSession(Protocol):
    """A signed-in admin: who they are (the credential stays inside the gateways)."""

    @property
    def admin(self) -> SignedInAdmin: ...


class ReadGateways(Protocol):
    """What the checks talk to (`CheckContext.gateways`), as the engine handles it."""

    @property
    def request_count(self) -> int: ...

    def prefetch_arm_token(self) -> None:
        """Start fetching the ARM token now, while the first Graph reads are in flight."""

    def renew_api_tokens(self) -> None:
        """Forget the CIPP API's token client (msal remembers a 400 for 60 s), so a
        re-check after a fix really asks again."""

    async def close(self) -> None: ...


class Services(Protocol):
    """The sign-in and the gateways, as the front end wired them."""

    async def sign_in(self, connection: ConnectionOptions, tenant: str) -> AdminSession:
        """Sign the admin in; raises the gateways' SignInRequired / SignInFailed."""

    def read_gateways(self, cloud: Cloud, session: AdminSession | None, *, retry: Any = None,
                      api_timeout_s: float | None = None) -> ReadGateways: ...

    def writes(self, session: AdminSession, retry: Any = None) -> TenantWrites: ...

    async def obtain_write_permissions(self, session: AdminSession) -> None:
        """fix's write permissions, once, before any change; raises SignInRequired naming
        the command that obtains them when the run may not prompt."""

    async def read_sign_in_grants(self, session: AdminSession, resource_app_id: str) -> list[Grant] | None:
        """The tool's own client's grants on a resource (what its consent page writes);
        None when they cannot be read or the sign-in is not the tool's client."""


@dataclass(frozen=True)
class ConnectionOptions:
    cloud: Cloud
    auth: str  # device-code | browser | azure-cli | client-secret
    interactive: bool  # False: never prompt; no cached sign-in → SignInRequired
    device_code_callback: Callable[[str], None]  # shows the device-code message (stderr)
    client_id: str | None = None  # --auth client-secret: the service principal's app id
    client_secret: Secret | None = None
    # Not for users: tests inject an instant sleep; benchmarks read request counts. The
    # gateways' RetryPolicy, passed through to them untouched.
    retry: Any = None
    api_timeout_s: float | None = None
    # "fix": the run will apply fixes, so an interactive sign-in asks the write permissions
    # too, in the same step ("check": read permissions only).
    sign_in_for: str = "check"
    # The sign-in and gateway implementation (`gateways.services.GatewayServices()`).
    services: Services = field(kw_only=True)
