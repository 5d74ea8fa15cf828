"""Report files (--report DIR): golden files, redaction, the action plan, HTML validity,
the bundle, and `cipp-setup helpdesk` — from fixed results and through the real CLI.

Regenerate the golden files after an intended change with
`UPDATE_GOLDEN=1 pytest tests/test_reports.py` and review the diff of tests/golden/reports/.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from report_fixtures import (
    ADMIN_UPN,
    CANARY_JWT,
    CANARY_SECRET,
    GLOBAL_ADMIN_TEMPLATE,
    SAM_UPN,
    SUBSCRIPTION_ID,
    TENANT_ID,
    USER_ID,
    error_report_data,
    fix_report_data,
    report_data,
)

from cipp_setup import __version__
from cipp_setup.cli.main import build_parser, main
from cipp_setup.render.action_plan import action_plan
from cipp_setup.render.bundle import REPORT_FILES, render_reports, write_bundle
from cipp_setup.render.json_report import SCHEMA_VERSION
from cipp_setup.render.redact import REDACTED, Redactor, scrub_secrets, secret_shaped

GOLDEN = Path(__file__).parent / "golden" / "reports"


def _assert_golden(name: str, actual: str) -> None:
    actual = actual.replace(__version__, "VERSION")
    actual = actual.replace(f'"schema_version": "{SCHEMA_VERSION}"', '"schema_version": "SCHEMA_VERSION"')
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 once and review it"
    assert actual == path.read_text(encoding="utf-8")


# --- golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.md", "junit.xml", "report.json"])
def test_check_report_matches_golden(name: str) -> None:
    files = render_reports(report_data(), secrets=[CANARY_SECRET])
    _assert_golden(f"check-{name}", files[name])


@pytest.mark.parametrize("name", ["report.md", "junit.xml", "report.json"])
def test_redacted_fix_report_matches_golden(name: str) -> None:
    files = render_reports(fix_report_data(), redact_ids=True)
    _assert_golden(f"fix-redacted-{name}", files[name])


def test_a_run_that_could_not_sign_in_still_reports_why() -> None:
    files = render_reports(error_report_data())
    _assert_golden("error-report.md", files["report.md"])
    suite = ET.fromstring(files["junit.xml"]).find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("tests") == "1"
    case = suite.find("testcase")
    assert case is not None and case.get("name") == "run"
    error = case.find("error")
    assert error is not None and error.get("type") == "sign-in-required"
    assert json.loads(files["report.json"])["error"]["code"] == "sign-in-required"


# --- the envelope -----------------------------------------------------------------------------


def _schema() -> dict[str, object]:
    text = resources.files("cipp_setup").joinpath("schemas/check-report.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("data", [report_data(), fix_report_data(), error_report_data()], ids=["check", "fix", "error"])
def test_report_json_is_the_versioned_envelope(data: object) -> None:
    envelope = json.loads(render_reports(data, redact_ids=True)["report.json"])  # type: ignore[arg-type]
    jsonschema.Draft202012Validator(_schema()).validate(envelope)
    if envelope["command"] == "fix":
        keys = list(envelope)
        assert keys.index("changes") < keys.index("journal") < keys.index("checks")


# --- redaction --------------------------------------------------------------------------------


def test_secrets_and_secret_shapes_never_reach_any_file() -> None:
    # The secret is not even passed as known: its shape alone must be enough.
    for redact_ids in (False, True):
        files = render_reports(report_data(), redact_ids=redact_ids)
        for name, text in files.items():
            assert CANARY_SECRET not in text, name
            assert CANARY_JWT not in text and "eyJ" not in text, name
            assert secret_shaped(text) == [], name
            assert REDACTED in text or name == "junit.xml" and "[redacted]" in text


@pytest.mark.parametrize("secret", [
    CANARY_JWT,
    CANARY_SECRET,
    "dGhpcyBpcyBhIGxvbmcgYmFzZTY0IHN0cmluZyB0aGF0IGxvb2tzIHJhbmRvbTEyMw==",
    "0.AVkA" + "x7Yq2-Lm_4" * 8,  # a refresh-token-like base64url run
])
def test_secret_shapes_are_scrubbed(secret: str) -> None:
    assert scrub_secrets(f"before {secret} after") == f"before {REDACTED} after"


@pytest.mark.parametrize("text", [
    (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/cipp-rg/providers/Microsoft.Authorization/"
    f"roleAssignments/{USER_ID}"),
    "https://management.azure.com/user_impersonation",
    "sam-user-subscription-contributor sam-app-azure-management-consent",
    GLOBAL_ADMIN_TEMPLATE,
    "Microsoft Entra admin center → Identity → Roles & admins → Global Administrator",
    "DELETE /roleManagement/directory/roleAssignments/lAPpYvVpN0KRkAEhdxReECMvvKyuZJdSmbUAQz1DG4w-1",
    "oauth2PermissionGrant rRCIPR6TulmLAiqvrAG3e1P6D07qoY9Qjyqd8ZY9iw4",  # Graph's id shapes
])
def test_ordinary_values_are_not_mistaken_for_secrets(text: str) -> None:
    assert scrub_secrets(text) == text


def test_known_secrets_are_scrubbed_in_their_escaped_forms_too() -> None:
    secret = 'a<b>&"c'
    assert scrub_secrets(f"x {secret} &lt;b&gt; a&lt;b&gt;&amp;&quot;c", [secret]).count(REDACTED) == 2


def test_ids_get_consistent_placeholders_and_well_known_ids_stay() -> None:
    redactor = Redactor(redact_ids=True)
    redacted = redactor.report(report_data())
    assert redacted.tenant_id == "tenant-1"
    assert redacted.signed_in == "user-1@domain-1.example"
    contributor, global_admin = redacted.results[0], redacted.results[1]
    assert contributor.summary == "user-2@domain-1.example has no Contributor or Owner role on Contoso CIPP."
    assert global_admin.summary.startswith("user-2@domain-1.example ")  # the same user, the same name
    assert contributor.evidence[0].found == "user-2@domain-1.example (object-1)"
    assert global_admin.evidence[0].found == "user-2@domain-1.example (object-1)"
    assert contributor.evidence[1].found == "Contoso CIPP (subscription-1)"
    assert contributor.evidence[2].found == "/subscriptions/subscription-1"
    assert global_admin.evidence[1].found == GLOBAL_ADMIN_TEMPLATE
    assert redacted.results[3].evidence[0].found == "tenant-1"  # hinted "tenant"
    assert all(not r.facts for r in redacted.results)


def test_redacted_ids_agree_across_all_four_files() -> None:
    files = render_reports(fix_report_data(), redact_ids=True)
    for name, text in files.items():
        for value in (TENANT_ID, USER_ID, SUBSCRIPTION_ID, SAM_UPN, ADMIN_UPN, "contoso.onmicrosoft.com"):
            assert value not in text, (name, value)
        assert "user-2@domain-1.example" in text, name
        assert "tenant-1" in text, name
    assert "object-1" in files["report.md"] and "object-1" in files["junit.xml"]


def test_without_redact_ids_identifiers_stay_readable() -> None:
    md = render_reports(report_data())["report.md"]
    assert SAM_UPN in md and TENANT_ID in md and "tenant-1" not in md


# --- the action plan ---------------------------------------------------------------------------


def test_action_plan_lists_required_failures_in_dependency_order() -> None:
    plan = action_plan(report_data())
    # global admin first: the contributor check depends on it, though the catalogue lists it later
    assert [item.check_id for item in plan] == ["sam-user-global-admin", "sam-user-subscription-contributor", "api-token"]
    first = plan[0]
    assert first.fix_command == "cipp-setup fix --only sam-user-global-admin"
    assert first.cause == "not-global-admin" and first.cause_meaning
    assert first.portal.startswith("Entra admin center") and first.cli.startswith("az something")
    assert plan[1].fix_command is None  # no automatic fix for it in this catalogue
    assert plan[2].unblocks == ("api-list-logs",)


def test_action_plan_is_empty_when_nothing_required_failed() -> None:
    passing = tuple(r for r in report_data().results if not r.status.is_problem)
    assert action_plan(report_data(results=passing, exit_code=0)) == ()
    assert "Nothing to do" in render_reports(report_data(results=passing, exit_code=0))["report.md"]


# --- HTML ---------------------------------------------------------------------------------------

_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


class _Checker(HTMLParser):
    """Balanced tags, ids, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src", "action", "srcset", "data", "poster", "formaction") and value:
                self.urls.append(value)
            if name == "id" and value:
                self.ids.add(value)
            if name == "style" and value and "url(" in value:
                self.errors.append(f"inline style with url(): {value}")
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_html(text: str) -> _Checker:
    checker = _Checker()
    checker.feed(text)
    checker.close()
    return checker


@pytest.mark.parametrize("data", [report_data(), fix_report_data(), error_report_data()], ids=["check", "fix", "error"])
def test_html_is_well_formed_self_contained_and_complete(data: object) -> None:
    html_text = render_reports(data, redact_ids=True)["report.html"]  # type: ignore[arg-type]
    checker = _check_html(html_text)
    assert checker.errors == [] and checker.stack == []
    assert html_text.startswith("<!DOCTYPE html>")
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(checker.tags)
    assert all(url.startswith("#") for url in checker.urls), checker.urls  # in-page anchors only
    assert not re.search(r"url\(|@import", html_text)
    text = " ".join(checker.text)
    for result in data.results:  # type: ignore[attr-defined]
        assert f"check-{result.check_id}" in checker.ids
        assert result.check_id in text
    for url in checker.urls:
        assert url[1:] in checker.ids  # every in-page link lands somewhere


def test_html_shows_each_checks_docs_and_escapes_what_it_shows() -> None:
    html_text = render_reports(report_data())["report.html"]
    assert html_text.count("<details><summary>About this check</summary>") == len(report_data().results)
    assert "Why it matters: CIPP needs it &lt;always&gt;." in html_text
    assert "*not* &lt;fatal&gt; | fine_ish." in html_text


# --- the bundle ---------------------------------------------------------------------------------


def test_bundle_writes_the_four_files_and_a_zip_beside_them(tmp_path: Path) -> None:
    files = render_reports(report_data())
    written = write_bundle(tmp_path / "cipp-report", files)
    assert [p.name for p in written.files] == list(REPORT_FILES)
    assert written.zip_path == tmp_path / "cipp-report.zip"
    with zipfile.ZipFile(written.zip_path) as bundle:
        assert sorted(bundle.namelist()) == sorted(f"cipp-report/{n}" for n in REPORT_FILES)
        assert bundle.read("cipp-report/report.md").decode() == files["report.md"]
    assert not list(tmp_path.rglob("*.partial"))


# --- through the CLI ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    for name in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


def test_check_report_writes_the_bundle_from_the_same_results_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out" / "cipp-report"
    code = main(["check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--json", "--report", str(out_dir)])
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(REPORT_FILES)
    assert (tmp_path / "out" / "cipp-report.zip").is_file()
    assert f"Report written to {out_dir}" in captured.err
    printed = json.loads(captured.out)
    written = json.loads((out_dir / "report.json").read_text())
    strip = lambda e: [{k: v for k, v in c.items() if k != "duration_ms"} for c in e["checks"]]
    assert strip(written) == strip(printed)
    # The file also records the command line that produced it; --json's reader ran it.
    assert written.pop("command_line").startswith("cipp-setup check ")
    assert {k: v for k, v in written.items() if k != "checks"} == {k: v for k, v in printed.items() if k != "checks"}
    md = (out_dir / "report.md").read_text()
    assert "cipp-setup fix --sandbox legacy-fresh --generation legacy --only sam-user-global-admin" in md
    junit = ET.parse(out_dir / "junit.xml").getroot()
    assert [c.get("name") for c in junit.iter("testcase")] == [c["id"] for c in printed["checks"]]


def test_check_redact_ids_hides_the_sandbox_tenants_identifiers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cipp_setup.sandbox.scenario import load_scenario

    state = load_scenario("legacy-fresh")
    ids = state.identities
    code = main(["check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--report", str(tmp_path / "r"),
                 "--redact-ids"])
    capsys.readouterr()
    assert code == 1
    hidden = [ids.admin_user_id, ids.sam_user_id, ids.sam_app_id, ids.subscription_id, state.tenant_id,
              "cipp-sam@contoso.example", "admin@contoso.example"]
    for name in REPORT_FILES:
        text = (tmp_path / "r" / name).read_text()
        for value in hidden:
            assert value and value not in text, (name, value)
    assert "tenant-1" in (tmp_path / "r" / "report.json").read_text()


def test_report_path_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    code = main(["check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--report", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and "--report" in err and "is a file" in err


def test_fix_dry_run_report_lists_the_planned_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--dry-run", "--report",
                 str(tmp_path / "r")])
    capsys.readouterr()
    assert code == 1
    envelope = json.loads((tmp_path / "r" / "report.json").read_text())
    assert envelope["command"] == "fix"
    assert {c["status"] for c in envelope["changes"]} == {"planned"}
    assert "## Changes" in (tmp_path / "r" / "report.md").read_text()


def test_wizard_report_shows_the_fixed_prerequisites_and_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cipp_setup.sandbox.scenario import load_scenario

    ids = load_scenario("legacy-fresh").identities
    code = main([
        "wizard", "--sandbox", "legacy-fresh", "--generation", "legacy", "--hosting", "self-hosted",
        "--tenant", "contoso.example", "--sam-user", "cipp-sam@contoso.example", "--sam-app", str(ids.sam_app_id),
        "--subscription", str(ids.subscription_id),
        "--yes", "--report", str(tmp_path / "w"),
    ])
    capsys.readouterr()
    assert code == 0
    envelope = json.loads((tmp_path / "w" / "report.json").read_text())
    assert envelope["command"] == "wizard" and envelope["status"] == "passed"
    statuses = {c["id"]: c["status"] for c in envelope["checks"]}
    assert statuses == dict.fromkeys(
        ["sam-user-global-admin", "sam-app-azure-management-consent", "sam-user-subscription-contributor",
         "api-token", "api-list-logs"], "pass")
    actions = [(c["action"], c["status"]) for c in envelope["changes"]]
    assert ("create-directory-role-assignment", "applied") in actions
    assert any(a.startswith("delete-") for a, _ in actions)  # the rights given back
    assert "Nothing to do" in (tmp_path / "w" / "report.md").read_text()


# --- helpdesk -----------------------------------------------------------------------------------


def test_helpdesk_prints_one_runnable_command_and_what_to_send_back(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["helpdesk", "--tenant", "contoso.onmicrosoft.com", "--sam-user", SAM_UPN, "--redact-ids",
                 "--generation", "legacy"])
    out = capsys.readouterr().out
    assert code == 0
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith("cipp-setup check")]
    assert len(commands) == 1
    argv = commands[0].split()[1:]
    args = build_parser().parse_args(argv)  # the command parses with the real parser
    assert (args.command, args.tenant, args.sam_user, args.report, args.redact_ids, args.generation) == (
        "check", "contoso.onmicrosoft.com", SAM_UPN, "cipp-report", True, "legacy")
    assert args.only == ["sam-user-global-admin", "sam-app-azure-management-consent"]
    assert "cipp-report.zip" in out and "No secret or token" in out


def test_helpdesk_without_a_tenant_uses_a_placeholder_the_shell_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["helpdesk"]) == 0
    out = capsys.readouterr().out
    assert "--tenant <tenant-domain>" in out and "Replace <tenant-domain>" in out


def test_helpdesk_that_cannot_ask_prints_both_generations(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 11: current CIPP is two version ranges with different prerequisites, so a
    # helpdesk that cannot ask prints one command per range (7.4+ first: most instances).
    assert main(["helpdesk", "--tenant", "contoso.onmicrosoft.com"]) == 0
    out = capsys.readouterr().out
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith("cipp-setup check")]
    parsed = [build_parser().parse_args(c.split()[1:]) for c in commands]
    assert [(a.generation, a.cipp_version) for a in parsed] == [("legacy", None), ("current", "7.4.0"), ("current", "7.2.0")]
    assert "--only sam-app-graph-application-permissions" in commands[1]
    assert "--only sam-user-app-registration" in commands[2]
    # Legacy hosted: the temporary rights go back once the helpdesk has enabled the API.
    assert "Once you have enabled the API: the client gives the temporary rights back" in out
    assert "cipp-setup revert --tenant contoso.onmicrosoft.com --generation legacy" in out


def test_helpdesk_hosted_checks_exist_in_the_catalogue() -> None:
    from cipp_setup.cli.check_cmd import known_check_ids
    from cipp_setup.cli.helpdesk_cmd import hosted_check_ids

    assert set(hosted_check_ids()) <= set(known_check_ids())


def test_the_clients_run_produces_the_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from cipp_setup.cli.helpdesk_cmd import client_argv

    monkeypatch.chdir(tmp_path)
    argv = client_argv(tenant="contoso.example", sam_user=None)
    code = main(argv[1:] + ["--sandbox", "legacy-fresh"])
    capsys.readouterr()
    assert code == 1  # legacy-fresh: neither prerequisite holds yet
    with zipfile.ZipFile(tmp_path / "cipp-report.zip") as bundle:
        names = bundle.namelist()
        md = bundle.read("cipp-report/report.md").decode()
    assert sorted(names) == sorted(f"cipp-report/{n}" for n in REPORT_FILES)
    assert "## Action plan" in md and "sam-user-subscription-contributor" not in md
