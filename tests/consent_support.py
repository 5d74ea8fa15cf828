"""Giving the tool's public client a consent a test needs beforehand (what an admin's
earlier consent left in the tenant): its service principal appears with a first consent."""

from __future__ import annotations

from cipp_setup import wellknown
from cipp_setup.sandbox.consent import ensure_service_principal, public_client
from cipp_setup.sandbox.state import ServicePrincipal, TenantState


def tool_service_principal(state: TenantState) -> ServicePrincipal:
    known = public_client(wellknown.TOOL_PUBLIC_CLIENT_ID)
    assert known is not None
    with state.lock:
        return ensure_service_principal(state, known)
