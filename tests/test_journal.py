"""The change journal: written before and after every write, read back, crash-detected,
and never a home for a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cipp_setup.engine.journal import (
    ALREADY_PRESENT,
    APPLIED,
    FAILED,
    STATE_DIR_ENV,
    Journal,
    JournalValueError,
    default_journal_path,
    interrupted_messages,
)
from cipp_setup.engine.model import Secret

TENANT = "11111111-2222-3333-4444-555555555555"
USER = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
GA = "62e90394-69f5-4237-9190-012177145e10"
TARGET = {"principal_id": USER, "role_definition_id": GA, "directory_scope_id": "/"}


def test_state_dir_follows_the_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    assert default_journal_path() == tmp_path / "state" / "journal.jsonl"


def test_state_dir_defaults_to_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    expected = Path(platformdirs.user_state_dir("cipp-setup", appauthor=False)) / "journal.jsonl"
    assert default_journal_path() == expected


def test_intent_and_outcome_are_written_and_read_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j" / "journal.jsonl")
    cid = journal.record_intent(tenant_id=TENANT, check_id="sam-user-global-admin",
                                action="create-directory-role-assignment", target=TARGET)
    journal.record_outcome(cid, APPLIED, object_id="assignment-1")

    lines = (tmp_path / "j" / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["intent", "outcome"]
    intent = json.loads(lines[0])
    assert intent["tenant_id"] == TENANT and intent["target"] == TARGET and intent["at"].endswith("Z")

    [entry] = Journal(tmp_path / "j" / "journal.jsonl").entries(TENANT)
    assert entry.change_id == cid
    assert entry.outcome == APPLIED and entry.object_id == "assignment-1"
    assert entry.created_object and not entry.interrupted


def test_previous_value_is_kept(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    previous = [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                 "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]
    cid = journal.record_intent(tenant_id=TENANT, check_id="c", action="add-required-resource-access",
                                target={"application_object_id": "app-1"}, previous=previous)
    journal.record_outcome(cid, APPLIED, object_id="app-1")
    [entry] = journal.entries()
    assert entry.previous == previous


def test_entries_are_filtered_by_tenant(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    for tenant in (TENANT, "99999999-2222-3333-4444-555555555555"):
        cid = journal.record_intent(tenant_id=tenant, check_id="c", action="create-service-principal",
                                    target={"app_id": "x"})
        journal.record_outcome(cid, APPLIED, object_id="sp")
    assert [e.tenant_id for e in journal.entries(TENANT)] == [TENANT]
    assert len(journal.entries()) == 2


def test_an_intent_without_outcome_from_an_earlier_run_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    crashed = Journal(path)
    crashed.record_intent(tenant_id=TENANT, check_id="sam-user-global-admin",
                          action="create-directory-role-assignment", target=TARGET)
    # the process dies here: no outcome

    next_run = Journal(path)
    [entry] = next_run.interrupted(TENANT)
    assert entry.interrupted
    [message] = interrupted_messages([entry])
    assert message.startswith("interrupted change: verify create-directory-role-assignment")
    assert USER in message and TENANT in message


def test_a_later_completed_run_of_the_same_change_settles_an_interruption(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).record_intent(tenant_id=TENANT, check_id="c", action="create-directory-role-assignment",
                                target=TARGET)
    rerun = Journal(path)
    cid = rerun.record_intent(tenant_id=TENANT, check_id="c", action="create-directory-role-assignment",
                              target=TARGET)
    rerun.record_outcome(cid, ALREADY_PRESENT)
    assert Journal(path).interrupted(TENANT) == []


def test_a_failed_rerun_does_not_settle_an_interruption(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).record_intent(tenant_id=TENANT, check_id="c", action="create-directory-role-assignment",
                                target=TARGET)
    rerun = Journal(path)
    cid = rerun.record_intent(tenant_id=TENANT, check_id="c", action="create-directory-role-assignment",
                              target=TARGET)
    rerun.record_outcome(cid, FAILED, error_cause="permission-denied", error_code="Authorization_RequestDenied")
    assert len(Journal(path).interrupted(TENANT)) == 1


def test_a_line_cut_short_by_a_crash_is_skipped_and_its_intent_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.record_intent(tenant_id=TENANT, check_id="c", action="create-service-principal", target={"app_id": "a"})
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"v":1,"kind":"outcome","change_id":"')  # torn write
    assert len(Journal(path).interrupted(TENANT)) == 1


def test_a_process_killed_between_intent_and_outcome_leaves_a_detectable_record(tmp_path: Path) -> None:
    """A real crash: the child writes an intent, then dies without unwinding (os._exit)."""
    path = tmp_path / "journal.jsonl"
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from cipp_setup.engine.journal import Journal
        j = Journal(Path({str(path)!r}))
        j.record_intent(tenant_id={TENANT!r}, check_id="sam-user-subscription-contributor",
                        action="create-arm-role-assignment",
                        target={{"arm_scope": "/subscriptions/s", "principal_id": {USER!r}}})
        os._exit(9)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], check=False)
    assert proc.returncode == 9
    [entry] = Journal(path).interrupted(TENANT)
    assert entry.action == "create-arm-role-assignment"


def test_the_journal_refuses_secrets(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly94In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    entra_secret = "abc8Q~" + "x" * 34
    long_token = "0." + "A" * 120
    bad_values = [Secret("canary-secret-value"), jwt, f"Bearer {jwt}", entra_secret, long_token]
    for value in bad_values:
        with pytest.raises(JournalValueError):
            journal.record_intent(tenant_id=TENANT, check_id="c", action="create-service-principal",
                                  target={"app_id": value})
        with pytest.raises(JournalValueError):
            journal.record_intent(tenant_id=TENANT, check_id="c", action="create-service-principal",
                                  target={"app_id": "a"}, previous={"nested": [value]})
    cid = journal.record_intent(tenant_id=TENANT, check_id="c", action="create-service-principal",
                                target={"app_id": "a"})
    with pytest.raises(JournalValueError):
        journal.record_outcome(cid, APPLIED, object_id=jwt)
    with pytest.raises(JournalValueError):
        journal.record_intent(tenant_id=TENANT, check_id="c", action="x", target={"obj": object()})
    text = (tmp_path / "journal.jsonl").read_text(encoding="utf-8")
    assert "canary-secret-value" not in text and "eyJ" not in text and "Q~" not in text


def test_plain_ids_and_arm_scopes_are_accepted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    scope = ("/subscriptions/4f1c9d3e-7b2a-4c8e-9f10-2d3c4b5a6978/providers/Microsoft.Authorization/"
             "roleAssignments/0b8e2f3a-1c4d-4e5f-8a9b-7c6d5e4f3a2b")
    cid = journal.record_intent(tenant_id=TENANT, check_id="c", action="create-arm-role-assignment",
                                target={"arm_scope": scope, "principal_id": USER})
    journal.record_outcome(cid, APPLIED, object_id=scope)
    assert journal.entries()[0].object_id == scope


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_the_journal_file_is_private_to_the_user(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record_intent(tenant_id=TENANT, check_id="c", action="create-service-principal", target={"app_id": "a"})
    assert (tmp_path / "journal.jsonl").stat().st_mode & 0o077 == 0


def test_a_runs_options_are_read_back_and_not_counted_as_damage(tmp_path: Path) -> None:
    # revert takes the options of the run that left rights in place from these records:
    # the damaged-line reader must know them (it once skipped them, and `revert --yes`
    # then asked for --tenant).
    journal = Journal(tmp_path / "journal.jsonl")
    journal.record_run(tenant_id="tid-1", options={"--tenant": "contoso.example", "--generation": "legacy"})
    assert journal.run_options() == [("tid-1", {"--tenant": "contoso.example", "--generation": "legacy"})]
    assert journal.damaged_lines == 0
