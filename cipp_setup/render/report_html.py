"""report.html: one self-contained file. Pure function of `ReportData`.

Inline CSS only: no script, no font, no image, no stylesheet from elsewhere, so the file
reads the same offline, in a mail attachment or a ticket system's preview. Documentation
links are shown as text rather than hyperlinks, so nothing in the file points outside
it. Same content as report.md, plus every check's documentation (in a `<details>`
element, which opens without JavaScript).
"""

from __future__ import annotations

from html import escape

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

_CSS = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a; --line: #d0d7de;
  --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --error: #8250df; --skip: #6e7781; --code: #f6f8fa; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8b949e;
  --line: #30363d; --pass: #3fb950; --warn: #d29922; --fail: #f85149; --error: #a371f7; --skip: #8b949e;
  --code: #161b22; } }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; } h2 { border-bottom: 1px solid var(--line); padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin: 0 0 .4rem; }
code { font: .9em/1.4 ui-monospace, SFMono-Regular, Consolas, monospace; background: var(--code);
  padding: .05em .3em; border-radius: 4px; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--code); }
.verdict { font-size: 1.1rem; font-weight: 600; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: .5rem 0; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; }
.badge { display: inline-block; min-width: 4.2em; text-align: center; font-weight: 700; font-size: .8rem;
  border-radius: 4px; padding: .05em .4em; color: #fff; }
.s-pass .badge, .badge.s-pass { background: var(--pass); } .s-warn .badge, .badge.s-warn { background: var(--warn); }
.s-fail .badge, .badge.s-fail { background: var(--fail); } .s-error .badge, .badge.s-error { background: var(--error); }
.s-skip .badge, .badge.s-skip { background: var(--skip); }
.s-not-needed .badge, .badge.s-not-needed { background: var(--pass); opacity: .7; }
.run-passed { color: var(--pass); } .run-failed { color: var(--fail); } .run-error { color: var(--error); }
article.check { border: 1px solid var(--line); border-left: 6px solid var(--skip); border-radius: 6px;
  padding: .7rem 1rem; margin: .8rem 0; }
article.s-pass { border-left-color: var(--pass); } article.s-warn { border-left-color: var(--warn); }
article.s-fail { border-left-color: var(--fail); } article.s-error { border-left-color: var(--error); }
article.s-not-needed { border-left-color: var(--pass); }
.detail { margin: .2rem 0; } .label { color: var(--muted); }
ol.plan > li { margin-bottom: .6rem; } .muted { color: var(--muted); }
details { margin-top: .4rem; } summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media print { details { display: block; } article.check { break-inside: avoid; } }
""".strip()


def _c(value: str) -> str:
    return f"<code>{escape(value)}</code>"


def _badge(status: Status) -> str:
    word = "NOT NEEDED" if status is Status.NOT_NEEDED else status.value.upper()
    return f'<span class="badge s-{status.value}">{word}</span>'


def _header(data: ReportData) -> list[str]:
    status = run_status(data)
    facts = [
        ("Tenant", data.tenant_id), ("Signed in as", data.signed_in), ("Cloud", data.cloud),
        ("CIPP generation", data.generation), ("Tool", f"cipp-setup {__version__}"),
        ("Generated", data.generated_at), ("Command", data.command_line),
    ]
    out = [
        "<header>",
        f"<h1>cipp-setup {escape(data.command)} report</h1>",
        (f'<p class="verdict run-{status}">Result: {escape(status)} (exit code {data.exit_code}). '
        f"{escape(verdict(data))}</p>"),
        '<dl class="facts">',
    ]
    out += [f"<dt>{label}</dt><dd>{_c(value)}</dd>" for label, value in facts if value]
    if data.generation_evidence:
        out.append(f"<dt>Why this generation</dt><dd>{escape(' '.join(data.generation_evidence))}</dd>")
    if data.sam_user:
        out.append(f"<dt>CIPP-SAM user tested</dt><dd>{_c(str(data.sam_user.get('upn', '')))}</dd>")
        if data.sam_user.get("found_by"):
            out.append(f"<dt>Why this user</dt><dd>{escape(str(data.sam_user['found_by']))}</dd>")
    out.append("</dl>")
    out += [f'<p class="muted">{escape(note)}</p>' for note in data.notes]
    if data.error is not None:
        out.append(f'<p class="run-error">Error {_c(data.error.code)}: {escape(data.error.message)}</p>')
    out.append("</header>")
    return out


def _summary(data: ReportData) -> list[str]:
    phrase = count_phrase(data.results)
    out = ['<section id="summary">', "<h2>Summary</h2>", f"<p>{escape(phrase.capitalize())}.</p>"]
    if data.results:
        out += ["<table>", ("<thead><tr><th>Status</th><th>Check</th><th>Severity</th><th>Required</th>"
                "<th>Summary</th></tr></thead>"), "<tbody>"]
        for result in data.results:
            spec = data.spec(result.check_id)
            out.append(
                f'<tr class="s-{result.status.value}"><td>{_badge(result.status)}</td>'
                f'<td><a href="#check-{escape(result.check_id)}">{_c(result.check_id)}</a></td>'
                f"<td>{escape(spec.severity.value) if spec else ''}</td>"
                f"<td>{'yes' if result.check_id in data.required else 'no'}</td>"
                f"<td>{escape(result.summary)}</td></tr>"
            )
        out += ["</tbody>", "</table>"]
    out.append("</section>")
    return out


def _action_plan(items: tuple[ActionItem, ...]) -> list[str]:
    out = ['<section id="action-plan">', "<h2>Action plan</h2>"]
    if not items:
        return out + ["<p>Nothing to do: no required check failed.</p>", "</section>"]
    out += ["<p>What to do next, in this order:</p>", '<ol class="plan">']
    for item in items:
        parts = [f"<li>{_c(item.check_id)}: {escape(item.summary)}"]
        if item.cause:
            meaning = f" &mdash; {escape(item.cause_meaning)}" if item.cause_meaning else ""
            parts.append(f'<div class="detail"><span class="label">Cause:</span> {_c(item.cause)}{meaning}</div>')
        if item.fix_command:
            parts.append(f'<div class="detail"><span class="label">Let cipp-setup fix it:</span> {_c(item.fix_command)}</div>')
        if item.steps:
            parts.append(f'<div class="detail"><span class="label">What to do:</span> {escape(item.steps)}</div>')
        if item.portal:
            parts.append(f'<div class="detail"><span class="label">In the portal:</span> {escape(item.portal)}</div>')
        if item.cli:
            parts.append(f'<div class="detail"><span class="label">Azure CLI:</span> {_c(item.cli)}</div>')
        if item.powershell:
            parts.append(f'<div class="detail"><span class="label">PowerShell:</span> {_c(item.powershell)}</div>')
        if item.unblocks:
            ids = ", ".join(_c(c) for c in item.unblocks)
            parts.append(f'<div class="detail"><span class="label">Then these checks can run:</span> {ids}</div>')
        out.append("".join(parts) + "</li>")
    out += ["</ol>", "<p>Then run the same command again to confirm.</p>", "</section>"]
    return out


def _check(data: ReportData, result: CheckResult) -> list[str]:
    spec = data.spec(result.check_id)
    title = f" {escape(spec.title)}" if spec else ""
    out = [
        f'<article class="check s-{result.status.value}" id="check-{escape(result.check_id)}">',
        f"<h3>{_badge(result.status)} {_c(result.check_id)}{title}</h3>",
        f"<p>{escape(result.summary)}</p>",
    ]

    def detail(label: str, body: str) -> None:
        out.append(f'<div class="detail"><span class="label">{label}:</span> {body}</div>')

    if result.ignored:
        detail("Ignored", "demoted to a warning by --ignore; it does not fail the run")
    if result.cause:
        meaning = cause_meaning(spec, result.cause)
        detail("Cause", _c(result.cause) + (f" &mdash; {escape(meaning)}" if meaning else ""))
    for message in result.messages:
        label = {"error": "Error", "hint": "Hint", "info": "Note"}[message.kind]
        link = f" ({_c(message.url)})" if message.url else ""
        detail(label, escape(message.text) + link)
    problem = result.status.is_problem or result.ignored
    remediation = result_remediation(result, spec)
    if (problem or result.cause) and remediation is not None:
        if remediation.steps:
            detail("What to do", escape(remediation.steps))
        if remediation.portal:
            detail("In the portal", escape(remediation.portal))
        if remediation.cli:
            detail("Azure CLI", _c(remediation.cli))
        if remediation.powershell:
            detail("PowerShell", _c(remediation.powershell))
    fix = fix_for(data, result)
    if fix:
        detail("Let cipp-setup fix it", _c(fix))
    if result.evidence:
        out += ["<table>", "<thead><tr><th>Setting</th><th>Found</th><th>Expected</th></tr></thead>", "<tbody>"]
        for item in result.evidence:
            out.append(f"<tr><td>{escape(item.setting)}</td><td>{_c(item.found)}</td>"
                       f"<td>{_c(item.expected) if item.expected else ''}</td></tr>")
        out += ["</tbody>", "</table>"]
    if result.duration_ms > 0:
        out.append(f'<p class="muted">Took {result.duration_ms:.0f} ms.</p>')
    if spec is not None:
        out.append("<details><summary>About this check</summary>")
        required = "Required" if spec.required else "Optional (never fails the run)"
        out.append(f"<p>{required}; severity {escape(spec.severity.value)}."
                   + (f" Runs after {', '.join(_c(d) for d in spec.depends_on)}." if spec.depends_on else "")
                   + "</p>")
        out += [f"<p>{escape(p.strip())}</p>" for p in spec.docs.strip().split("\n\n") if p.strip()]
        if spec.causes:
            out.append("<p>Causes:</p><ul>")
            out += [f"<li>{_c(c.code)}: {escape(c.meaning)}</li>" for c in spec.causes]
            out.append("</ul>")
        out.append("</details>")
    out.append("</article>")
    return out


def _changes(data: ReportData) -> list[str]:
    if data.changes is None:
        return []
    out = ['<section id="changes">', "<h2>Changes</h2>"]
    if not data.changes:
        return out + ["<p>No change was made.</p>", "</section>"]
    out += ["<table>", ("<thead><tr><th>Check</th><th>Action</th><th>Status</th><th>Target</th><th>Detail</th>"
            "</tr></thead>"), "<tbody>"]
    for change in data.changes:
        out.append(
            f"<tr><td>{_c(str(change.get('check_id', '')))}</td><td>{_c(str(change.get('action', '')))}</td>"
            f"<td>{escape(str(change.get('status', '')))}</td><td>{escape(str(change.get('target', '')))}</td>"
            f"<td>{escape(str(change.get('detail') or ''))}</td></tr>"
        )
    out += ["</tbody>", "</table>"]
    if data.journal:
        out.append(f"<p>Every change is recorded in the journal {_c(data.journal)}; "
                   f"{_c(data.revert_command)} gives the temporary rights back.</p>")
    out.append("</section>")
    return out


def render_html(data: ReportData) -> str:
    """The whole report.html for an already redacted `data`."""
    status = run_status(data)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>cipp-setup {escape(data.command)} report: {escape(status)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
    ]
    out += _header(data)
    out.append("<main>")
    out += _summary(data)
    out += _action_plan(action_plan(data))
    if data.results:
        out += ['<section id="checks">', "<h2>Checks</h2>"]
        for result in data.results:
            out += _check(data, result)
        out.append("</section>")
    out += _changes(data)
    out.append("</main>")
    ids = ("Tenant ids, user names and object ids are replaced by placeholders (--redact-ids)."
           if data.ids_redacted else "")
    out.append(
        f"<footer>Written by cipp-setup {escape(__version__)}. Secrets and tokens are never "
        f"included. {ids}</footer>"
    )
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
