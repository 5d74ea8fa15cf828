"""report.md: a report to paste into a ticket. Pure function of `ReportData`.

Order: the verdict and run facts, a summary table (one row per check), the action plan
(what to do next, in order), each failure with cause, evidence and remediation, then
warnings and, for fix and the wizard, the changes made. Values that are identifiers,
commands or settings sit in code spans, which no Markdown renderer reinterprets; prose
is escaped just enough that a display name cannot become markup.
"""

from __future__ import annotations

import re

from cipp_setup import __version__
from cipp_setup.engine.model import CheckResult, Status
from cipp_setup.render.action_plan import ActionItem, action_plan
from cipp_setup.render.report_data import (
    ReportData,
    cause_meaning,
    count_phrase,
    fix_for,
    run_status,
    verdict,
)
from cipp_setup.render.text import result_remediation

STATUS_WORD = {
    Status.PASS: "pass",
    Status.WARN: "warn",
    Status.FAIL: "**FAIL**",
    Status.SKIP: "skip",
    Status.ERROR: "**ERROR**",
    Status.NOT_NEEDED: "not needed",
}
# Intra-word underscores (user_impersonation) are literal in CommonMark; others may not be.
_MD_SPECIAL = re.compile(r"([\\`*<>|]|(?<!\w)_|_(?!\w))")


def text(value: str) -> str:
    """Prose, escaped so it renders as written; one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(value.split()))


def code(value: str) -> str:
    """A code span that holds `value` literally, whatever backticks it contains."""
    value = " ".join(value.split())
    if not value:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def cell_code(value: str) -> str:
    """A code span inside a table cell: GFM splits cells on `|` even inside code spans."""
    return code(value).replace("|", "\\|")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(data: ReportData) -> list[str]:
    status = run_status(data)
    lines = [
        f"# cipp-setup {data.command} report",
        "",
        f"**Result: {status}** (exit code {data.exit_code}). {text(verdict(data))}",
        "",
        _row(["Run", ""]),
        _row(["---", "---"]),
    ]
    facts = [
        ("Tenant", data.tenant_id),
        ("Signed in as", data.signed_in),
        ("Cloud", data.cloud),
        ("CIPP generation", data.generation),
        ("Tool", f"cipp-setup {__version__}"),
        ("Generated", data.generated_at),
        ("Command", data.command_line),
    ]
    lines += [_row([label, cell_code(value)]) for label, value in facts if value]
    if data.generation_evidence:
        lines.append(_row(["Why this generation", text(" ".join(data.generation_evidence))]))
    if data.sam_user:
        lines.append(_row(["CIPP-SAM user tested", cell_code(str(data.sam_user.get("upn", "")))]))
        if data.sam_user.get("found_by"):
            lines.append(_row(["Why this user", text(str(data.sam_user["found_by"]))]))
    for note in data.notes:
        lines += ["", f"> {text(note)}"]
    if data.ids_redacted:
        lines += ["", "Tenant ids, user names and object ids are replaced by placeholders (--redact-ids)."]
    return lines


def _summary(data: ReportData) -> list[str]:
    phrase = count_phrase(data.results)
    lines = ["", "## Summary", "", f"{phrase.capitalize()}.", ""]
    if not data.results:
        return lines
    lines += [_row(["Check", "Status", "Severity", "Required", "Summary"]),
              _row(["---", "---", "---", "---", "---"])]
    for result in data.results:
        spec = data.spec(result.check_id)
        lines.append(_row([
            cell_code(result.check_id),
            STATUS_WORD[result.status] + (" (ignored)" if result.ignored else ""),
            spec.severity.value if spec else "",
            "yes" if result.check_id in data.required else "no",
            text(result.summary),
        ]))
    return lines


def action_plan_lines(items: tuple[ActionItem, ...]) -> list[str]:
    lines = ["", "## Action plan", ""]
    if not items:
        return lines + ["Nothing to do: no required check failed."]
    lines += ["What to do next, in this order:", ""]
    for number, item in enumerate(items, 1):
        lines.append(f"{number}. {code(item.check_id)}: {text(item.summary)}")
        if item.cause:
            meaning = f" - {text(item.cause_meaning)}" if item.cause_meaning else ""
            lines.append(f"   - Cause: {code(item.cause)}{meaning}")
        if item.fix_command:
            lines.append(f"   - Let cipp-setup fix it: {code(item.fix_command)}")
        if item.steps:
            lines.append(f"   - What to do: {text(item.steps)}")
        if item.portal:
            lines.append(f"   - In the portal: {text(item.portal)}")
        if item.cli:
            lines.append(f"   - Azure CLI: {code(item.cli)}")
        if item.powershell:
            lines.append(f"   - PowerShell: {code(item.powershell)}")
        if item.unblocks:
            lines.append(f"   - Then these checks can run: {', '.join(code(c) for c in item.unblocks)}")
    lines += ["", "Then run the same command again to confirm."]
    return lines


def _evidence(result: CheckResult) -> list[str]:
    if not result.evidence:
        return []
    lines = ["", _row(["Setting", "Found", "Expected"]), _row(["---", "---", "---"])]
    for item in result.evidence:
        lines.append(_row([text(item.setting), cell_code(item.found), cell_code(item.expected)]))
    return lines


def _messages(result: CheckResult) -> list[str]:
    lines = []
    for message in result.messages:
        label = {"error": "Error", "hint": "Hint", "info": "Note"}[message.kind]
        link = f" ({message.url})" if message.url else ""
        lines.append(f"- {label}: {text(message.text)}{link}")
    return lines


def _failure(data: ReportData, result: CheckResult) -> list[str]:
    spec = data.spec(result.check_id)
    title = f": {text(spec.title)}" if spec else ""
    lines = ["", f"### {result.status.value.upper()} {code(result.check_id)}{title}", "", text(result.summary), ""]
    if result.cause:
        meaning = cause_meaning(spec, result.cause)
        lines.append(f"- Cause: {code(result.cause)}" + (f" - {text(meaning)}" if meaning else ""))
    if result.check_id not in data.required:
        lines.append("- Optional: this check does not fail the run.")
    lines += _messages(result)
    remediation = result_remediation(result, spec)
    if remediation is not None:
        if remediation.steps:
            lines.append(f"- What to do: {text(remediation.steps)}")
        if remediation.portal:
            lines.append(f"- In the portal: {text(remediation.portal)}")
        if remediation.cli:
            lines.append(f"- Azure CLI: {code(remediation.cli)}")
        if remediation.powershell:
            lines.append(f"- PowerShell: {code(remediation.powershell)}")
    fix = fix_for(data, result)
    if fix:
        lines.append(f"- Let cipp-setup fix it: {code(fix)}")
    lines.append(f"- Details: {code(f'cipp-setup explain {result.check_id}')}")
    return lines + _evidence(result)


def _problems(data: ReportData) -> list[str]:
    failed = [r for r in data.results if r.status.is_problem]
    if not failed:
        return []
    lines = ["", "## Failures"]
    for result in failed:
        lines += _failure(data, result)
    return lines


def _warnings(data: ReportData) -> list[str]:
    warned = [r for r in data.results if r.status is Status.WARN]
    if not warned:
        return []
    lines = ["", "## Warnings", ""]
    for result in warned:
        cause = f" ({code(result.cause)})" if result.cause else ""
        ignored = " Ignored by --ignore." if result.ignored else ""
        lines.append(f"- {code(result.check_id)}: {text(result.summary)}{cause}{ignored}")
    return lines


def _not_needed(data: ReportData) -> list[str]:
    """Activation-time prerequisites after the activation: what was found, and why it is fine."""
    done = [r for r in data.results if r.status is Status.NOT_NEEDED]
    if not done:
        return []
    lines = ["", "## Not needed any more", "",
             "The API answers: these rights were needed only while it was activated.", ""]
    for result in done:
        cause = f" ({code(result.cause)})" if result.cause else ""
        lines.append(f"- {code(result.check_id)}: {text(result.summary)}{cause}")
    return lines


def _changes(data: ReportData) -> list[str]:
    if data.changes is None:
        return []
    lines = ["", "## Changes", ""]
    if not data.changes:
        return lines + ["No change was made."]
    lines += [_row(["Check", "Action", "Status", "Target", "Detail"]), _row(["---"] * 5)]
    for change in data.changes:
        lines.append(_row([
            cell_code(str(change.get("check_id", ""))), cell_code(str(change.get("action", ""))),
            text(str(change.get("status", ""))), text(str(change.get("target", ""))),
            text(str(change.get("detail") or "")),
        ]))
    if data.journal:
        lines += ["", (f"Every change is recorded in the journal {code(data.journal)}; "
                      f"{code(data.revert_command)} gives the temporary rights back.")]
    return lines


def render_markdown(data: ReportData) -> str:
    """The whole report.md for an already redacted `data`."""
    lines = _header(data)
    if data.error is not None:
        lines += ["", "## Error", "", f"{code(data.error.code)}: {text(data.error.message)}"]
    lines += _summary(data)
    lines += action_plan_lines(action_plan(data))
    lines += _problems(data)
    lines += _warnings(data)
    lines += _not_needed(data)
    lines += _changes(data)
    return "\n".join(lines).rstrip() + "\n"
