"""Golden tests of the terminal output, colour off, from fixed results (flutter doctor style).

Regenerate after an intended change with `UPDATE_GOLDEN=1 pytest tests/test_render_golden.py`
and review the diff of tests/golden/.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from cipp_setup.cli.terminal import Terminal, colour_wanted
from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    Message,
    Remediation,
    Severity,
    Status,
)
from cipp_setup.render.text import (
    ASCII_MARKS,
    UNICODE_MARKS,
    catalogue_lines,
    explain_lines,
    marks_for_encoding,
    plain,
    report_lines,
    signed_in_line,
)

GOLDEN = Path(__file__).parent / "golden"


def _spec(check_id: str, title: str, *, required: bool = True, fixable: bool = False,
          causes: tuple[Cause, ...] = ()) -> CheckSpec:
    return CheckSpec(
        id=check_id,
        title=title,
        severity=Severity.HIGH if required else Severity.LOW,
        required=required,
        remediation=Remediation(
            portal=f"Entra admin center → {title}",
            cli=f"az something --for {check_id}",
        ),
        docs=f"{title}.\nWhy it matters: CIPP needs it.",
        causes=causes,
        fixable=fixable,
    )


SPECS = {
    s.id: s
    for s in (
        _spec("sam-user-global-admin", "The CIPP-SAM user holds an active Global Administrator role",
              fixable=True, causes=(Cause("not-global-admin", "The user holds no Global Administrator role."),)),
        _spec("sam-app-azure-management-consent", "The CIPP-SAM app has consented Azure Service Management access",
              fixable=True, causes=(Cause("consent-missing", "The permission is in the manifest but not consented."),)),
        _spec("sam-user-subscription-contributor", "The CIPP-SAM user is Contributor on the subscription",
              causes=(Cause("no-contributor", "The user has no Contributor or Owner role on the subscription."),)),
        _spec("api-token", "A token for the CIPP API is issued to the API client"),
        _spec("api-list-logs", "The CIPP API answers ListLogs", required=False),
    )
}
REQUIRED = frozenset(s.id for s in SPECS.values() if s.required)

RESULTS = (
    CheckResult(
        "sam-user-global-admin", Status.PASS,
        "cipp-sam@contoso.onmicrosoft.com holds Global Administrator (active, direct).",
        evidence=(Evidence("role", "Global Administrator (active)", "Global Administrator (active)"),),
        messages=(Message("info", "Found through a direct assignment."),),
        duration_ms=120.4,
    ),
    CheckResult(
        "sam-app-azure-management-consent", Status.FAIL,
        "user_impersonation is in the manifest but nobody consented to it.",
        cause="consent-missing",
        evidence=(Evidence("oauth2PermissionGrant scope", "(none)", "user_impersonation"),),
        messages=(Message("hint", "An admin must grant consent once for the whole tenant.",
                          "https://learn.microsoft.com/entra/identity/enterprise-apps/grant-admin-consent"),),
        fix_available=True,
        duration_ms=88.0,
    ),
    CheckResult(
        "sam-user-subscription-contributor", Status.WARN,
        "cipp-sam@contoso.onmicrosoft.com has no Contributor or Owner role on the subscription.",
        cause="no-contributor",
        messages=(Message("info", "This failure was demoted to a warning by --ignore."),),
        ignored=True,
        duration_ms=45.0,
    ),
    CheckResult("api-token", Status.SKIP, "Skipped: no API client given (--api-client-id)."),
    CheckResult(
        "api-list-logs", Status.ERROR, "Graph kept answering 429 Too Many Requests.",
        cause="throttled", duration_ms=3000.0,
    ),
)

ALL_PASS = tuple(
    CheckResult(s.id, Status.PASS, f"{s.title}.") for s in SPECS.values()
)


def _render(results: tuple[CheckResult, ...], *, verbose: bool = False, ascii_only: bool = False) -> str:
    marks = ASCII_MARKS if ascii_only else UNICODE_MARKS
    lines = [signed_in_line("admin@contoso.onmicrosoft.com", "11111111-2222-3333-4444-555555555555",
                            "contoso.onmicrosoft.com"), ()]
    lines += report_lines(results, SPECS, REQUIRED, verbose=verbose, marks=marks,
                          fix_command="cipp-setup fix")
    return plain(lines)


def _assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 once and review it"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "results", "verbose", "ascii_only"),
    [
        ("check-mixed.txt", RESULTS, False, False),
        ("check-mixed-verbose.txt", RESULTS, True, False),
        ("check-mixed-ascii.txt", RESULTS, False, True),
        ("check-all-pass.txt", ALL_PASS, False, False),
    ],
)
def test_check_report_matches_golden(name: str, results: tuple[CheckResult, ...], verbose: bool,
                                     ascii_only: bool) -> None:
    _assert_golden(name, _render(results, verbose=verbose, ascii_only=ascii_only))


def test_explain_and_catalogue_match_golden() -> None:
    text = plain(explain_lines(SPECS["sam-app-azure-management-consent"], fix_command="cipp-setup fix"))
    text += "---\n" + plain(catalogue_lines(list(SPECS.values())))
    _assert_golden("explain.txt", text)


def test_ascii_output_is_pure_ascii() -> None:
    _render(RESULTS, verbose=True, ascii_only=True).encode("ascii")


def test_marks_follow_the_stream_encoding() -> None:
    assert marks_for_encoding("utf-8") is UNICODE_MARKS
    assert marks_for_encoding("cp1252") is ASCII_MARKS  # a legacy Windows console
    assert marks_for_encoding("cp437") is ASCII_MARKS
    assert marks_for_encoding("no-such-codec") is ASCII_MARKS


def test_evidence_and_info_only_with_verbose() -> None:
    quiet, loud = _render(RESULTS), _render(RESULTS, verbose=True)
    assert "oauth2PermissionGrant scope" not in quiet
    assert "oauth2PermissionGrant scope: (none) (expected: user_impersonation)" in loud
    assert "Found through a direct assignment." not in quiet
    assert "Found through a direct assignment." in loud


def test_ignored_failure_says_so_and_does_not_fail_the_summary() -> None:
    text = _render(RESULTS)
    assert "[!] sam-user-subscription-contributor:" in text
    assert "Ignored by --ignore" in text
    # The closing line counts only the real failure: the ignored one and the optional
    # check's error do not fail the run.
    assert text.splitlines()[-1].endswith(" 1 required check did not pass.")


def test_fix_is_offered_only_when_the_front_end_has_it() -> None:
    without = plain(report_lines(RESULTS, SPECS, REQUIRED))
    assert "cipp-setup fix" not in without
    assert "Or let cipp-setup do it: cipp-setup fix --only sam-app-azure-management-consent" in _render(RESULTS)


class _Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty = tty
        self._encoding = encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def _terminal_output(environ: dict[str, str], tty: bool) -> str:
    out = _Stream(tty)
    terminal = Terminal(stdout=out, stderr=_Stream(tty), stdin=_Stream(tty), environ=environ)
    terminal.report(report_lines(RESULTS, SPECS, REQUIRED))
    return out.getvalue()


def test_terminal_writes_plain_text_when_not_a_tty() -> None:
    expected = plain(report_lines(RESULTS, SPECS, REQUIRED))
    assert _terminal_output({}, tty=False) == expected


@pytest.mark.parametrize("environ", [{"NO_COLOR": "1"}, {"TERM": "dumb"}, {"NO_COLOR": "1", "FORCE_COLOR": "1"}])
def test_no_colour_on_a_tty_when_asked(environ: dict[str, str]) -> None:
    output = _terminal_output(environ, tty=True)
    assert "\x1b[" not in output
    assert output == plain(report_lines(RESULTS, SPECS, REQUIRED))


def test_colour_on_a_tty_and_when_forced() -> None:
    assert "\x1b[" in _terminal_output({}, tty=True)
    assert "\x1b[" in _terminal_output({"FORCE_COLOR": "1"}, tty=False)
    assert colour_wanted(_Stream(False), {"CLICOLOR_FORCE": "1"})
    assert not colour_wanted(_Stream(False), {"CLICOLOR_FORCE": "0"})


def test_terminal_scrubs_known_secrets() -> None:
    out = _Stream(False)
    terminal = Terminal(stdout=out, stderr=out, stdin=_Stream(False), environ={})
    terminal.add_secret("canary-secret-value")
    terminal.status("leaked canary-secret-value here")
    terminal.machine('{"x": "canary-secret-value"}')
    assert "canary-secret-value" not in out.getvalue()
    assert "********" in out.getvalue()


@pytest.mark.parametrize(
    ("environ", "tty", "non_interactive", "expected"),
    [
        ({}, True, False, True),
        ({}, False, False, False),
        ({}, True, True, False),
        ({"CI": "true"}, True, False, False),
        ({"GITHUB_ACTIONS": "true"}, True, False, False),
    ],
)
def test_can_prompt_gate(environ: dict[str, str], tty: bool, non_interactive: bool, expected: bool) -> None:
    terminal = Terminal(stdout=_Stream(tty), stderr=_Stream(tty), stdin=_Stream(tty), environ=environ,
                        non_interactive=non_interactive)
    assert terminal.can_prompt() is expected
