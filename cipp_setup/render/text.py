"""Check results as terminal lines: pure functions, no I/O, no rich import.

A rendered line is a tuple of (text, style) spans; `cipp_setup.cli.terminal` turns the
styles into colour when the terminal wants it, and `plain()` joins the text for golden
tests and for streams that are not terminals. Styles are rich style strings, but this
module never imports rich, so rendering stays cheap and deterministic.

Layout (flutter doctor's, with kubeadm's quotable ids):

    [✓] sam-user-global-admin: cipp-sam@contoso.com holds Global Administrator (active).
    [✗] sam-app-azure-management-consent: The permission is in the manifest but not consented.
        Cause: consent-missing - <what it means>
        What to do: ... (for causes no portal page fixes: retry, use the other URL)
        In the portal: ...
        Azure CLI: ...
        PowerShell: ...
        Details: cipp-setup explain sam-app-azure-management-consent

    1 passed, 1 failed. A required check failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cipp_setup.engine.model import COMMON_CAUSES, CheckResult, CheckSpec, Remediation, Status

Span = tuple[str, str]  # (text, rich style; "" for none)
Line = tuple[Span, ...]

INDENT = "    "
# A span style that says "do not break inside me" (commands the user pastes); the terminal
# strips it before rich sees the style.
NOWRAP = "nowrap"


@dataclass(frozen=True)
class Marks:
    passed: str
    warned: str
    failed: str
    skipped: str
    errored: str
    not_needed: str = "[o]"

    def for_status(self, status: Status) -> str:
        return {
            Status.PASS: self.passed,
            Status.WARN: self.warned,
            Status.FAIL: self.failed,
            Status.SKIP: self.skipped,
            Status.ERROR: self.errored,
            Status.NOT_NEEDED: self.not_needed,
        }[status]


UNICODE_MARKS = Marks("[✓]", "[!]", "[✗]", "[-]", "[E]", "[○]")
# Windows consoles with a legacy code page (cp437, cp1252) cannot print ✓ or ✗.
ASCII_MARKS = Marks("[+]", "[!]", "[x]", "[-]", "[E]", "[o]")

STATUS_STYLE: Mapping[Status, str] = {
    Status.PASS: "green",
    Status.WARN: "yellow",
    Status.FAIL: "bold red",
    Status.SKIP: "dim",
    Status.ERROR: "bold magenta",
    Status.NOT_NEEDED: "cyan",
}


def marks_for_encoding(encoding: str | None) -> Marks:
    """The marks a stream with this encoding can print."""
    try:
        "✓✗○→".encode(encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return ASCII_MARKS
    return UNICODE_MARKS


def plain(lines: Iterable[Line]) -> str:
    """The text of `lines`, one per line, with a final newline (empty input → "")."""
    out = ["".join(text for text, _ in line) for line in lines]
    return "".join(f"{line}\n" for line in out)


def text_line(text: str, style: str = "") -> Line:
    return ((text, style),)


def _arrow(text: str, marks: Marks) -> str:
    # Remediation texts use → for portal paths; keep them readable on ASCII consoles.
    return text if marks is UNICODE_MARKS else text.replace("→", ">").replace("…", "...")


def _cause_meaning(spec: CheckSpec | None, code: str) -> str:
    if spec is not None:
        try:
            return spec.cause(code).meaning
        except KeyError:
            pass
    for cause in COMMON_CAUSES:
        if cause.code == code:
            return cause.meaning
    return ""


def result_remediation(result: CheckResult, spec: CheckSpec | None) -> Remediation | None:
    """What to do about `result`: its cause's filled remediation, else the cause's template."""
    if result.remediation is not None and not result.remediation.empty:
        return result.remediation
    return spec.remediation_for(result.cause) if spec is not None else None


def remediation_lines(remediation: Remediation, marks: Marks = UNICODE_MARKS, indent: str = INDENT) -> list[Line]:
    """A remediation's parts, one line each; commands are never wrapped (they are pasted)."""
    lines: list[Line] = []
    if remediation.steps:
        lines.append(text_line(f"{indent}What to do: {_arrow(remediation.steps, marks)}"))
    if remediation.portal:
        lines.append(text_line(f"{indent}In the portal: {_arrow(remediation.portal, marks)}"))
    if remediation.cli:
        lines.append(((f"{indent}Azure CLI: ", ""), (remediation.cli, NOWRAP)))
    if remediation.powershell:
        lines.append(((f"{indent}PowerShell: ", ""), (remediation.powershell, NOWRAP)))
    return lines


def signed_in_line(upn: str, tenant_id: str, tenant_hint: str | None = None) -> Line:
    """"Signed in as X in tenant Y" — shown before any check (wrong-tenant MFA surprises)."""
    tenant = tenant_id if not tenant_hint or tenant_hint == tenant_id else f"{tenant_id} ({tenant_hint})"
    return (("Signed in as ", ""), (upn, "bold"), (" in tenant ", ""), (tenant, "bold"))


def generation_lines(generation: str | None, evidence: Sequence[str]) -> list[Line]:
    """Which CIPP generation was checked and why (the evidence auto found, or the flag),
    then a blank line. Nothing when no generation was needed (API checks only)."""
    if generation is None and not evidence:
        return []
    names = {"legacy": "legacy (CIPP 7.1 and older)", "current": "current (CIPP 7.2+, API clients)"}
    head: Line = (("CIPP generation: ", ""), (names.get(generation or "", "undetermined"), "bold"))
    return [head, *(text_line(f"{INDENT}{sentence}", "dim") for sentence in evidence), ()]


def profile_lines(profile: str | None, evidence: Sequence[str], dependent: Sequence[str]) -> list[Line]:
    """Current generation: who writes the API clients and why; when unknown, which checks
    depend on it. Nothing for legacy or API-only runs."""
    if profile in (None, "legacy") and not evidence and not dependent:
        return []
    from cipp_setup.engine.result import PROFILE_LABELS

    head: Line = (("CIPP profile: ", ""), (PROFILE_LABELS.get(profile or "", "undetermined"), "bold"))
    lines: list[Line] = [head, *(text_line(f"{INDENT}{sentence}", "dim") for sentence in evidence)]
    if dependent:
        lines.append(text_line(
            f"{INDENT}Depend on the CIPP version (shown as warnings, not counted, never fixed): "
            f"{', '.join(dependent)}. Pass --cipp-version VERSION to decide them."
        ))
    return [*lines, ()]


SAM_USER_UNDECIDED = frozenset({"sam-user-ambiguous", "sam-user-unknown"})


def sam_user_lines(results: Sequence[CheckResult]) -> list[Line]:
    """Which CIPP-SAM user the checks tested and why (--sam-user, or the evidence that
    found it), then a blank line. Nothing when no check tested the user."""
    for result in results:
        upn = result.facts.get("sam_user_upn")
        if upn:
            why = str(result.facts.get("sam_user_found_by") or "")
            head: Line = (("CIPP-SAM user tested: ", ""), (str(upn), "bold"))
            return [head, *([text_line(f"{INDENT}from {why}", "dim")] if why else []), ()]
    return []


def sam_user_undecided(results: Sequence[CheckResult]) -> CheckResult | None:
    """The result saying the run could not tell who the CIPP-SAM user is, if any."""
    return next((r for r in results if r.cause in SAM_USER_UNDECIDED), None)


def result_lines(
    result: CheckResult,
    spec: CheckSpec | None,
    *,
    verbose: bool = False,
    marks: Marks = UNICODE_MARKS,
    fix_command: str | None = None,
) -> list[Line]:
    """The lines for one check: its mark and summary, then what to do when it failed.

    `fix_command` ("cipp-setup fix") is offered for fixable failures only when the
    front end has that command, so the report never advertises one that does not exist.
    """
    style = STATUS_STYLE[result.status]
    lines: list[Line] = [
        (
            (marks.for_status(result.status), style),
            (" ", ""),
            (result.check_id, "bold"),
            (": ", ""),
            (_arrow(result.summary, marks), ""),
        )
    ]
    if verbose and spec is not None:
        lines.append(text_line(f"{INDENT}Expected: {_arrow(spec.title, marks)}", "dim"))
    if result.ignored:
        lines.append(text_line(f"{INDENT}Ignored by --ignore: this failure does not fail the run.", "yellow"))
    problem = result.status.is_problem or result.ignored
    if result.cause and (problem or result.status is Status.WARN):
        meaning = _cause_meaning(spec, result.cause)
        lines.append(
            (
                (f"{INDENT}Cause: ", "dim"),
                (result.cause, "bold"),
                ((f" - {_arrow(meaning, marks)}" if meaning else ""), ""),
            )
        )
    for message in result.messages:
        if message.kind == "info" and not verbose:
            continue
        if message.kind == "info" and message.text.startswith("This failure was demoted"):
            continue  # said above, in the project's words
        label = {"error": "Error", "hint": "Hint", "info": "Note"}[message.kind]
        text = _arrow(message.text, marks)
        if message.url:
            text = f"{text} ({message.url})"
        lines.append(text_line(f"{INDENT}{label}: {text}", "yellow" if message.kind != "info" else "dim"))
    remediation = result_remediation(result, spec)
    if (problem or (result.status is Status.WARN and result.cause)) and remediation is not None:
        lines.extend(remediation_lines(remediation, marks))
        if problem and result.fix_available and fix_command:
            lines.append(((f"{INDENT}Or let cipp-setup do it: ", ""), (f"{fix_command} --only {result.check_id}", NOWRAP)))
    if problem and spec is not None:
        lines.append(text_line(f"{INDENT}Details: cipp-setup explain {result.check_id}", "dim"))
    if verbose:
        for item in result.evidence:
            found = _arrow(item.found, marks)
            expected = f" (expected: {_arrow(item.expected, marks)})" if item.expected else ""
            lines.append(text_line(f"{INDENT}{item.setting}: {found}{expected}", "dim"))
        if result.duration_ms >= 1:
            lines.append(text_line(f"{INDENT}Took {result.duration_ms:.0f} ms", "dim"))
        elif result.duration_ms > 0:
            lines.append(text_line(f"{INDENT}Took under 1 ms", "dim"))
    return lines


def _count_phrase(results: Sequence[CheckResult]) -> str:
    counts = {status: 0 for status in Status}
    for result in results:
        counts[result.status] += 1
    words = (
        (Status.PASS, "passed"),
        (Status.WARN, "warned"),
        (Status.FAIL, "failed"),
        (Status.ERROR, "could not run"),
        (Status.SKIP, "skipped"),
        (Status.NOT_NEEDED, "not needed any more"),
    )
    parts = [f"{counts[status]} {word}" for status, word in words if counts[status]]
    return ", ".join(parts) if parts else "no checks ran"


def summary_line(results: Sequence[CheckResult], required: frozenset[str]) -> Line:
    """The closing line: counts, then the verdict the exit code carries."""
    failed_required = [r for r in results if r.check_id in required and r.status.is_problem]
    counts = _count_phrase(results)
    if failed_required:
        noun = "check" if len(failed_required) == 1 else "checks"
        verdict = f"{len(failed_required)} required {noun} did not pass."
        return ((f"{counts}. ", ""), (verdict, "bold red"))
    after = " or is not needed any more (the API answers)" if any(r.status is Status.NOT_NEEDED for r in results) else ""
    if any(r.status is Status.WARN for r in results):
        return ((f"{counts}. ", ""), (f"Every required check passed{after} (with warnings).", "bold yellow"))
    return ((f"{counts}. ", ""), (f"Every required check passed{after}.", "bold green"))


def report_lines(
    results: Sequence[CheckResult],
    specs: Mapping[str, CheckSpec],
    required: frozenset[str],
    *,
    verbose: bool = False,
    marks: Marks = UNICODE_MARKS,
    fix_command: str | None = None,
) -> list[Line]:
    """Every check in the order given (catalogue order), then the summary line."""
    lines: list[Line] = []
    for result in results:
        lines.extend(
            result_lines(
                result, specs.get(result.check_id), verbose=verbose, marks=marks, fix_command=fix_command
            )
        )
    lines.append(())
    lines.append(summary_line(results, required))
    return lines


def explain_lines(
    spec: CheckSpec, *, marks: Marks = UNICODE_MARKS, fix_command: str | None = None
) -> list[Line]:
    """`cipp-setup explain ID`: the check's docs, causes and remediation."""
    required = "required" if spec.required else "optional (never fails the run)"
    lines: list[Line] = [
        ((spec.id, "bold"), (f" - {_arrow(spec.title, marks)}", "")),
        text_line(f"Severity: {spec.severity.value}, {required}."),
    ]
    if spec.depends_on:
        lines.append(text_line(f"Runs after: {', '.join(spec.depends_on)}"))
    if spec.generations != frozenset({"legacy", "current"}):
        lines.append(text_line(f"Applies to CIPP generation: {', '.join(sorted(spec.generations))}"))
    if spec.lifecycle.activation_only:
        lines.append(text_line("Needed: during activation only (once the API answers: not needed any more"
                               + ("; still in place: give it back with cipp-setup revert)" if spec.lifecycle.give_back
                                  else "; harmless to keep)")))
    lines.append(())
    for paragraph in spec.docs.strip().splitlines():
        lines.append(text_line(_arrow(paragraph.rstrip(), marks)))
    lines.append(())
    lines.append(text_line("Causes:", "bold"))
    for cause in spec.causes:
        lines.append(text_line(f"{INDENT}{cause.code}: {_arrow(cause.meaning, marks)}"))
        lines.extend(remediation_lines(spec.remediation_for(cause.code), marks, INDENT * 2))
    lines.append(())
    lines.append(text_line("How to fix it:", "bold"))
    lines.extend(remediation_lines(spec.remediation, marks))
    if spec.fixable and fix_command:
        lines.append(text_line(f"{INDENT}Or let cipp-setup do it: {fix_command} --only {spec.id}"))
    return lines


def catalogue_lines(specs: Sequence[CheckSpec]) -> list[Line]:
    """`cipp-setup explain` without an id: the catalogue, one check per line."""
    width = max((len(s.id) for s in specs), default=0)
    return [((s.id.ljust(width), "bold"), (f"  {s.title}", "")) for s in specs]


def _tokens(line: Line) -> list[tuple[str, str, bool]]:
    """(text, style, breakable-after) pieces: words and their spaces; a NOWRAP span is one."""
    out: list[tuple[str, str, bool]] = []
    for text, style in line:
        if style == NOWRAP or style.endswith(f" {NOWRAP}"):
            out.append((text, style, False))
            continue
        for piece in re.findall(r"\S+|\s+", text):
            out.append((piece, style, piece.isspace()))
    return out


def wrap_line(line: Line, width: int) -> list[Line]:
    """`line` broken at spaces to fit `width` columns, continuations indented past its own
    indent; never inside a word or a command (one longer than the width stands alone)."""
    total = sum(len(text) for text, _ in line)
    if width <= 20 or total <= width:
        return [line]
    lead = ""
    first_text = line[0][0] if line else ""
    lead = first_text[: len(first_text) - len(first_text.lstrip(" "))]
    hang = lead + INDENT
    out: list[Line] = []
    current: list[Span] = []
    used = 0
    for text, style, is_space in _tokens(line):
        if is_space:
            if current or not out:  # the line's own indent stays; a continuation's is `hang`
                current.append((text, style))
                used += len(text)
            continue
        if used + len(text) > width and any(t.strip() for t, _ in current):
            while current and current[-1][0].isspace():
                used -= len(current.pop()[0])
            out.append(tuple(current))
            current, used = [(hang, "")], len(hang)
        current.append((text, style))
        used += len(text)
    if current:
        while current and current[-1][0].isspace():
            current.pop()
        out.append(tuple(current))
    return out


def wrap_lines(lines: Iterable[Line], width: int) -> list[Line]:
    return [wrapped for line in lines for wrapped in wrap_line(line, width)]


def strip_nowrap(style: str) -> str:
    """The rich style without the NOWRAP marker."""
    return " ".join(word for word in style.split() if word != NOWRAP)
