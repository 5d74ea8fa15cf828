"""Every cause carries its own remediation, filled with what the run found; transient
causes never advise a change to the tenant; terminal text wraps at word boundaries."""

from __future__ import annotations

import re

import pytest

from cipp_setup.checks import REGISTRY
from cipp_setup.cloud import CLOUDS
from cipp_setup.engine.context import CheckContext, CheckInputs
from cipp_setup.engine.model import COMMON_CAUSES, TRANSIENT_CAUSES, CheckResult, Remediation, Status
from cipp_setup.engine.remediation import FIELDS, fill, run_values, with_remediation
from cipp_setup.render.text import NOWRAP, plain, wrap_line

CAUSES = [(c.spec, cause) for c in REGISTRY for cause in c.spec.causes]
TEMPLATE = re.compile(r"\{([a-z_]+)\}")
TENANT_CHANGES = re.compile(
    r"(?i)\b(new client secret|credential reset|role assignment create|New-Az|New-Mg|Update-Mg|"
    r"permission add|permission grant|Save to Azure)\b"
)


@pytest.mark.parametrize(("spec", "cause"), CAUSES, ids=[f"{s.id}:{c.code}" for s, c in CAUSES])
def test_every_cause_has_a_remediation_of_its_own(spec, cause) -> None:  # type: ignore[no-untyped-def]
    r = cause.remediation
    assert r is not None, f"{spec.id}: cause {cause.code} has no remediation"
    assert not r.empty
    assert r is not spec.remediation
    # Each part a template over known fields only (a typo would print "{sam_userid}").
    for part in (r.portal, r.cli, r.powershell, r.steps):
        for name in TEMPLATE.findall(part):
            assert name in FIELDS or name in ("name", "appId"), f"{spec.id}:{cause.code}: unknown field {{{name}}}"


@pytest.mark.parametrize("check", REGISTRY, ids=[c.spec.id for c in REGISTRY])
def test_no_two_causes_of_a_check_share_one_remediation(check) -> None:  # type: ignore[no-untyped-def]
    seen: dict[Remediation, str] = {}
    for cause in check.spec.causes:
        assert cause.remediation not in seen, (
            f"{check.spec.id}: {cause.code} and {seen.get(cause.remediation)} share one remediation"
        )
        seen[cause.remediation] = cause.code  # type: ignore[index]


def test_common_causes_have_their_own_and_transient_ones_change_nothing() -> None:
    for cause in COMMON_CAUSES:
        assert cause.remediation is not None and not cause.remediation.empty, cause.code
    transient = [c for c in COMMON_CAUSES if c.code in TRANSIENT_CAUSES]
    assert {c.code for c in transient} == {"network", "throttled", "timeout", "service-unavailable"}
    for cause in transient:
        r = cause.remediation
        assert r is not None
        text = " ".join((r.steps, r.portal, r.cli, r.powershell))
        assert "again" in text and "proxy" in text
        assert not TENANT_CHANGES.search(text), (cause.code, text)
        assert not (r.portal or r.cli or r.powershell)


def _ctx(**inputs: object) -> CheckContext:
    return CheckContext(inputs=CheckInputs(tenant="contoso.onmicrosoft.com", **inputs), cloud=CLOUDS["public"], gateways=None)  # type: ignore[arg-type]


def test_a_network_failure_in_verify_is_never_told_to_create_a_secret() -> None:
    spec = next(c.spec for c in REGISTRY if c.spec.id == "api-token")
    result = CheckResult("api-token", Status.ERROR, "login.microsoftonline.com: name resolution failed", cause="network")
    filled = with_remediation(spec, result, _ctx(api_client_id="11111111-2222-3333-4444-555555555555"))
    r = filled.remediation
    assert r is not None
    text = " ".join((r.steps, r.portal, r.cli, r.powershell))
    assert "secret" not in text.lower()
    assert "again" in text and "proxy" in text


def test_known_values_replace_placeholders() -> None:
    spec = next(c.spec for c in REGISTRY if c.spec.id == "sam-user-global-admin")
    result = CheckResult(
        "sam-user-global-admin", Status.FAIL, "not GA", cause="not-global-admin",
        facts={"sam_user_id": "aaaaaaaa-0000-0000-0000-000000000001", "sam_user_upn": "cipp-sam@contoso.onmicrosoft.com"},
    )
    r = with_remediation(spec, result, _ctx()).remediation
    assert r is not None
    assert "-PrincipalId aaaaaaaa-0000-0000-0000-000000000001" in r.powershell
    assert "cipp-sam@contoso.onmicrosoft.com" in r.portal
    assert "<" not in r.powershell and "{" not in r.powershell.replace("@{", "")
    # The other check's facts are used too (the contributor check reads the GA check's user).
    ctx = _ctx(subscription_id="bbbbbbbb-0000-0000-0000-000000000002")
    ctx.results["sam-user-global-admin"] = result
    contributor = next(c.spec for c in REGISTRY if c.spec.id == "sam-user-subscription-contributor")
    r2 = with_remediation(contributor, CheckResult(contributor.id, Status.FAIL, "x", cause="no-contributor"), ctx).remediation
    assert r2 is not None
    assert "--assignee-object-id aaaaaaaa-0000-0000-0000-000000000001" in r2.cli
    assert "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002" in r2.cli


def test_an_unknown_value_stays_a_visible_placeholder() -> None:
    r = fill(Remediation(cli="az x --id {sam_user_id} --q '{name:displayName}'"), {})
    assert r.cli == "az x --id <cipp-sam-user-object-id> --q '{name:displayName}'"


def test_the_function_app_comes_from_the_api_url() -> None:
    values = run_values(_ctx(api_url="https://cippabcde.azurewebsites.net"))
    assert values["function_app"] == "cippabcde"


def test_wrapping_breaks_at_spaces_never_inside_a_word_or_command() -> None:
    line = (("    What to do: Sign in as an admin who may read role assignments on the subscription.", ""),)
    wrapped = wrap_line(line, 40)
    text = plain(wrapped).splitlines()
    assert all(len(t) <= 40 for t in text)
    assert " ".join(t.strip() for t in text) == line[0][0].strip()
    assert all(t.startswith("        ") for t in text[1:])  # continuation indented
    command = "az role assignment create --assignee-object-id x --role Contributor"
    wrapped = wrap_line((("    Azure CLI: ", ""), (command, NOWRAP)), 40)
    assert [t for t in plain(wrapped).splitlines() if command in t]  # the command stayed whole


def test_wrapping_keeps_the_lines_own_indent() -> None:
    line = (("  1. You say how CIPP is hosted and which tenant it manages, and sign in to that tenant.", ""),)
    text = plain(wrap_line(line, 60)).splitlines()
    assert text[0].startswith("  1. You say") and text[1].startswith("      ")
