"""The Graph gateway asks for exactly what it needs: `principalId in (...)` in chunks Graph accepts."""

from __future__ import annotations

import asyncio
from typing import Any

from cipp_setup import wellknown
from cipp_setup.cloud import cloud_from_document
from cipp_setup.gateways import Gateways
from cipp_setup.gateways.auth import sign_in
from cipp_setup.gateways.graph import MAX_IN_VALUES, _role_filter
from cipp_setup.sandbox.generator import grow
from cipp_setup.sandbox.scenario import load_scenario


def test_the_filter_names_every_principal_and_the_role() -> None:
    text = _role_filter(wellknown.GLOBAL_ADMINISTRATOR, None, ["a", "b"])
    assert text == f"roleDefinitionId eq '{wellknown.GLOBAL_ADMINISTRATOR}' and principalId in ('a', 'b')"


def test_assignments_of_many_principals_come_back_complete_and_only_theirs(sandbox_factory: Any) -> None:
    state = load_scenario("legacy-ready")
    grow(state, users=40, role_assignments=40)
    holders = sorted({ra.principal_id for ra in state.role_assignments.values()})
    assert len(holders) > MAX_IN_VALUES  # forces more than one request
    wanted = holders[: MAX_IN_VALUES + 3]
    expected = {ra.id for ra in state.role_assignments.values() if ra.principal_id in wanted}
    sandbox = sandbox_factory(state)
    cloud = cloud_from_document(sandbox.cloud_document(), "sandbox")

    async def read() -> set[str]:
        session = await asyncio.to_thread(
            sign_in, cloud=cloud, tenant=state.tenant_id, auth="device-code", interactive=True,
            device_code_callback=lambda message: None,
        )
        gateways = Gateways.build(cloud, session)
        try:
            assert gateways.graph is not None
            found = await gateways.graph.role_assignments(principal_ids=wanted)
        finally:
            await gateways.close()
        return {a.id for a in found}

    sandbox.control.clear_request_log()
    assert asyncio.run(read()) == expected
    reads = [r for r in sandbox.control.request_log() if r.path.endswith("/roleAssignments")]
    assert len(reads) == 2  # 18 principals: one `in` of 15, one of 3
