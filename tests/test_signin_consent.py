"""The tool's own sign-in consent is a change to the tenant: journaled from what Graph shows
before and after the consent step, and revert takes out exactly what it added."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixsupport import harness

from cipp_setup import wellknown as wk
from cipp_setup.engine import plan as p
from cipp_setup.engine.plan import ChangeStatus
from cipp_setup.engine.signin_consent import RECORD_SIGN_IN_CONSENT, consent_changes
from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS, Grant
from cipp_setup.gateways.permissions import READ_GRAPH_PERMISSIONS


def tool_graph_grants(state: Any) -> dict[str, tuple[str, set[str]]]:
    """grant id -> (consentType, scopes) of the tool's client's grants on Microsoft Graph."""
    client = state.service_principal_by_app_id(wk.TOOL_PUBLIC_CLIENT_ID)
    graph = state.service_principal_by_app_id(wk.MICROSOFT_GRAPH_APP_ID)
    return {g.id: (g.consent_type, set(g.scopes())) for g in state.oauth2_grants.values()
            if client is not None and g.client_id == client.id and g.resource_id == graph.id}


def consent_entries(h: Any, tenant: str) -> list[Any]:
    return [e for e in h.journal.entries(tenant) if e.action == RECORD_SIGN_IN_CONSENT]


def test_write_permissions_consent_is_journaled_exactly_and_revert_takes_out_only_that(
        sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    h = harness(sandbox, tmp_path)

    async def body(session: Any) -> Any:
        # Someone consented Mail.Send to the same client earlier: not the tool's to remove.
        (grant_id, _), = tool_graph_grants(state).items()
        state.oauth2_grants[grant_id].scope += " Mail.Send"
        await session.obtain_write_permissions()
        entries = consent_entries(h, session.tenant_id)
        assert len(entries) == 1
        target = entries[0].target
        assert entries[0].object_id == grant_id and target["before_known"] is True
        assert target["created"] is False and target["consent_type"] == "AllPrincipals"
        assert set(target["added_scopes"]) == set(WRITE_GRAPH_PERMISSIONS)
        assert set(entries[0].previous.split()) == set(READ_GRAPH_PERMISSIONS) | {"Mail.Send"}

        assert session.revert_plan()[0].plans == ()  # not offered unless asked for
        plan, reverts = session.revert_plan(include_consent=True)
        (removal,) = plan.plans
        assert removal.changes[0].action == p.REMOVE_SIGN_IN_CONSENT
        outcome = await session.revert(removal, reverts)
        assert outcome.changes[0].status == ChangeStatus.APPLIED
        assert tool_graph_grants(state)[grant_id][1] == set(READ_GRAPH_PERMISSIONS) | {"Mail.Send"}
        assert session.revert_plan(include_consent=True)[0].plans == ()  # reverted: not offered again

    h.run(body)


def test_a_grant_the_consent_created_is_deleted_and_the_others_stay(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    state.consent_response = "self"  # the first sign-in consents for the admin only
    h = harness(sandbox, tmp_path)

    async def body(session: Any) -> Any:
        (own_id, (own_type, own_scopes)), = tool_graph_grants(state).items()
        assert own_type == "Principal"
        state.consent_response = "organization"  # the write permissions: for everyone
        await session.obtain_write_permissions()
        (entry,) = consent_entries(h, session.tenant_id)
        assert entry.target["created"] is True and entry.target["consent_type"] == "AllPrincipals"
        created_id = str(entry.object_id)
        plan, reverts = session.revert_plan(include_consent=True)
        outcome = await session.revert(plan.plans[-1], reverts)
        assert outcome.changes[0].status == ChangeStatus.APPLIED
        remaining = tool_graph_grants(state)
        assert created_id not in remaining
        assert remaining == {own_id: (own_type, own_scopes)}

    h.run(body)


def test_the_first_sign_ins_consent_is_recorded_once_with_before_unknown(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    h = harness(sandbox, tmp_path)

    async def body(session: Any) -> Any:
        await session.record_sign_in_consent()
        await session.record_sign_in_consent()  # a later run of the same sign-in: not again
        (entry,) = consent_entries(h, session.tenant_id)
        assert entry.target["before_known"] is False
        assert set(entry.target["added_scopes"]) == set(READ_GRAPH_PERMISSIONS)
        (removal,) = session.revert_plan(include_consent=True)[0].plans
        assert any("may have been consented earlier" in n for n in removal.changes[0].notes)

    h.run(body)


def test_consent_changes_reads_new_and_extended_grants() -> None:
    def grant(gid: str, scope: str) -> Grant:
        return Grant(id=gid, client_id="c", resource_id="r", consent_type="AllPrincipals", principal_id=None, scope=scope)

    before = [grant("a", "User.Read.All")]
    after = [grant("a", "User.Read.All Application.ReadWrite.All"), grant("b", "Mail.Send"), grant("c", "X")]
    changes = {c.grant_id: c for c in consent_changes(before, after, ["Application.ReadWrite.All"])}
    assert changes["a"].added == ("Application.ReadWrite.All",) and not changes["a"].created
    assert changes["b"].created and changes["b"].added == ("Mail.Send",)
    unknown = consent_changes(None, after, ["mail.send"])
    assert [(c.grant_id, c.added, c.before_known) for c in unknown] == [("b", ("Mail.Send",), False)]
