"""A fixable check that exists only in this file goes through every output of the CLI.

Issue 9: adding a fixable check touches its own file, a scenario and its tests. The
check below is that file: its spec, its `run` and its planner, and nothing else. It is
registered here only (`CATALOGUE.with_checks(...)`, a new value; the built-in catalogue
is unchanged) and handed to the CLI through `main(argv, catalogue=...)`. Against the
built-in scenario `legacy-ready`, where no built-in check fails, it is the one that
fails, so each output must show it and nothing else failing: `check` (text), `check
--json`, `fix --dry-run` (its planned change) and the `--report` bundle (report.json,
report.md, report.html, junit.xml).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.checks import _lookups as lk
from cipp_setup.checks import CATALOGUE
from cipp_setup.cli.main import main
from cipp_setup.engine import plan as p
from cipp_setup.engine.catalogue import Catalogue
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import Cause, CheckResult, CheckSpec, Evidence, FixableCheck, Remediation, Severity
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT, fact, sam_user_label
from cipp_setup.engine.writes import GRAPH_ROLE_WRITE

# Entra ID built-in role template "Security Reader" (Microsoft's permissions reference;
# the sandbox's baseline serves it as a role definition).
SECURITY_READER = "5d6b6bb7-de71-4623-b4af-96380a352509"
CHECK_ID = "example-sam-user-security-reader"
SCENARIO = "legacy-ready"  # no built-in legacy check fails there

SPEC = CheckSpec(
    id=CHECK_ID,
    title="The CIPP-SAM user is a Security Reader (a check defined in a test)",
    severity=Severity.HIGH,
    required=True,
    generations=frozenset({"legacy"}),
    services=frozenset({"graph"}),
    remediation=Remediation(
        portal="Microsoft Entra admin center → Roles and administrators → Security Reader → Add assignments.",
        cli="az rest --method post --url https://graph.microsoft.com/v1.0/roleManagement/directory/roleAssignments",
    ),
    docs="Only for tests/test_catalogue_extension.py: proves a new check reaches every output.",
    causes=(Cause("not-security-reader", "The CIPP-SAM user holds no Security Reader assignment at /."),),
)


class SamUserSecurityReader(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.CREATE_DIRECTORY_ROLE_ASSIGNMENT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        found = await lk.sam_user(ctx)
        user = found.user
        held = await lk.graph(ctx).role_assignments(role_definition_id=SECURITY_READER, principal_ids=[user.id])
        facts = {"sam_user_id": user.id, "sam_user_upn": user.user_principal_name, "sam_user_found_by": found.found_by}
        if any(a.principal_id == user.id and a.directory_scope_id == "/" for a in held):
            return self.passed(f"{user.user_principal_name} is a Security Reader.", facts=facts)
        return self.failed(
            "not-security-reader", f"{user.user_principal_name} is not a Security Reader.",
            evidence=(Evidence("Security Reader at /", "none", "active"),), facts=facts,
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        if result.cause != "not-security-reader":
            return None
        change = PlannedChange(
            check_id=result.check_id, action=p.CREATE_DIRECTORY_ROLE_ASSIGNMENT,
            api="Microsoft Graph POST /roleManagement/directory/roleAssignments",
            target=f"{sam_user_label(result, ctx)}: Security Reader at directory scope /",
            before="no Security Reader assignment", after="Security Reader assigned at /",
            admin_role_needed=ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT, grants_privilege=False, reversible=True,
            params={"principal_id": str(fact(result, "sam_user_id")), "role_definition_id": SECURITY_READER,
                    "directory_scope_id": "/"},
            permission=GRAPH_ROLE_WRITE,
        )
        return FixPlan(result.check_id, "Make the CIPP-SAM user a Security Reader", result.cause, (change,))


def extended() -> Catalogue:
    return CATALOGUE.with_checks(SamUserSecurityReader())


LEGACY = ["--sandbox", SCENARIO, "--generation", "legacy"]


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv, catalogue=extended())
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_ci_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CIPP_API_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def test_the_builtin_catalogue_does_not_know_the_test_check() -> None:
    assert CHECK_ID not in CATALOGUE.ids()
    assert extended().find(CHECK_ID) is not None and extended().get(CHECK_ID).spec.fixable


def test_check_text_reports_it_failing_and_fixable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, ["check", *LEGACY])
    assert code == 1, err  # required, failing: the run fails because of it alone
    assert f"{CHECK_ID}: cipp-sam@contoso.example is not a Security Reader." in out, out
    assert "Cause: not-security-reader" in out
    # The fix is offered for it, as for a built-in fixable check.
    assert f"Or let cipp-setup do it: cipp-setup fix --sandbox {SCENARIO} --generation legacy --only {CHECK_ID}" in out
    # It is the one failure (legacy-ready's temporary roles only warn, issue 11).
    assert "1 failed. 1 required check did not pass." in out
    # Without the catalogue the same run passes: the check is not built in.
    assert main(["check", *LEGACY]) == 0
    assert CHECK_ID not in capsys.readouterr().out


def test_check_json_carries_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, ["check", *LEGACY, "--json"])
    envelope = json.loads(out)
    assert code == 1 and envelope["exit_code"] == 1
    by_id = {c["id"]: c for c in envelope["checks"]}
    ours = by_id[CHECK_ID]
    assert (ours["status"], ours["cause"], ours["required"]) == ("fail", "not-security-reader", True)
    assert ours["title"] == SPEC.title
    others = [c for i, c in by_id.items() if i != CHECK_ID]
    assert others and all(c["status"] in ("pass", "warn") for c in others)  # ours is the one failure


def test_fix_dry_run_lists_its_planned_change(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, ["fix", *LEGACY, "--dry-run", "--json", "--report", str(tmp_path / "f")])
    envelope = json.loads(out)
    planned = [(CHECK_ID, p.CREATE_DIRECTORY_ROLE_ASSIGNMENT, "planned")]
    assert [(c["check_id"], c["action"], c["status"]) for c in envelope["changes"]] == planned
    assert code == 1  # a dry run leaves the check failing
    assert "Make the CIPP-SAM user a Security Reader" in err
    assert "Security Reader at directory scope /" in err
    report = json.loads((tmp_path / "f" / "report.json").read_text(encoding="utf-8"))
    assert [(c["check_id"], c["action"], c["status"]) for c in report["changes"]] == planned


def test_the_reports_carry_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "r"
    code, _, err = run_cli(capsys, ["check", *LEGACY, "--report", str(folder)])
    assert code == 1, err
    report: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    ours = next(c for c in report["checks"] if c["id"] == CHECK_ID)
    assert ours["status"] == "fail" and ours["cause"] == "not-security-reader"
    md = (folder / "report.md").read_text(encoding="utf-8")
    assert CHECK_ID in md and SPEC.title in md
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert CHECK_ID in html and "is not a Security Reader" in html
    suite = ET.parse(folder / "junit.xml").getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    [ours_case] = [case for name, case in cases.items() if name and CHECK_ID in name]
    assert ours_case.find("failure") is not None
    assert all(case.find("failure") is None for name, case in cases.items() if name and CHECK_ID not in name)
