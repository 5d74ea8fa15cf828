"""`--report DIR` and `--redact-ids`: the report files of check, fix and the wizard.

`--report DIR` writes report.json (the `--json` envelope), report.md, report.html and
junit.xml into DIR, and always a zip of DIR beside it (`DIR.zip`): the bundle a hosted
client sends to a helpdesk (see `cipp-setup helpdesk`). Secrets never reach the files;
`--redact-ids` also replaces tenant ids, user names and object ids by placeholders.

Each command builds one `ReportData` from what it already has (the same results its
terminal report and `--json` come from) and calls `write_reports`; the files are written
after the run, whatever its outcome (a failed sign-in is reported too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.model import CheckResult, CheckSpec
    from cipp_setup.render.report_data import ReportData

def requested(run_inputs: RunInputs) -> bool:
    return bool(run_inputs.output.report)


def write_reports(run_inputs: RunInputs, terminal: Terminal, data: ReportData, options: Any = None) -> bool:
    """Render and write the bundle when --report was given; say where it went. A write
    failure is reported on stderr and does not change the run's exit code (the terminal
    report above it is complete); returns False then. `options` (suggested.RunOptions):
    the run's options, which the report's suggested commands repeat."""
    if not requested(run_inputs):
        return True
    from dataclasses import replace

    data = replace(data, **_run_commands(run_inputs, terminal.secrets, options))
    from cipp_setup.render.bundle import render_reports, write_bundle

    directory = Path(str(run_inputs.output.report)).expanduser().resolve()
    files = render_reports(data, secrets=terminal.secrets, redact_ids=run_inputs.output.redact_ids)
    try:
        bundle = write_bundle(directory, files)
    except OSError as exc:
        terminal.error(f"could not write the report to {directory}: {exc.strerror or exc}")
        return False
    names = ", ".join(p.name for p in bundle.files)
    terminal.status(f"Report written to {bundle.directory} ({names}); bundle: {bundle.zip_path}")
    return True


# --- one ReportData per command --------------------------------------------------------


def _fix_command() -> str | None:
    from cipp_setup.cli.commands import fix_command

    return fix_command()


def _specs(specs: Mapping[str, CheckSpec] | Iterable[Any] | None, run_inputs: RunInputs | None = None) -> dict[str, CheckSpec]:
    """Specs by id, from a mapping, a list of specs or checks, or (None) the run's catalogue."""
    if specs is None:
        from cipp_setup.engine.builtin import builtin_catalogue

        specs = builtin_catalogue(run_inputs.catalogue if run_inputs is not None else None)
    if isinstance(specs, Mapping):
        return dict(specs)
    found: dict[str, CheckSpec] = {}
    for entry in cast("Iterable[Any]", specs):
        spec = cast("CheckSpec", getattr(entry, "spec", entry))
        found[spec.id] = spec
    return found


def _run_commands(run_inputs: RunInputs, secrets: list[str], options: Any) -> dict[str, Any]:
    """command_line, fix_command and revert_command for a report: what produced it, and
    the commands it suggests, with the run's options."""
    from cipp_setup.cli.suggested import command_line, run_options

    opts = options if options is not None else run_options(run_inputs)
    return {
        "command_line": command_line(list(run_inputs.argv), secrets),
        "fix_command": opts.command("fix") if _fix_command() else None,
        "revert_command": opts.command("revert"),
    }


def check_data(
    *,
    command: str,
    exit_code: int,
    run_inputs: RunInputs,
    cloud: str | None,
    diagnosis: Any = None,
    specs: Mapping[str, CheckSpec] | None = None,
    error: tuple[str, str] | None = None,
    signed_in: str | None = None,
) -> ReportData:
    """`check`'s report: a Diagnosis, or the error that stopped the run before one."""
    from cipp_setup.render.json_report import RunError
    from cipp_setup.render.report_data import ReportData, now_iso

    admin = getattr(diagnosis, "admin", None)
    report = getattr(diagnosis, "report", None)
    generation = getattr(diagnosis, "generation", None) or _generation_word(run_inputs)
    return ReportData(
        command=command, exit_code=exit_code,
        results=tuple(report.results) if report is not None else (),
        specs=_specs(specs if specs is not None else getattr(diagnosis, "specs", None), run_inputs),
        required=report.required if report is not None else frozenset(),
        tenant_id=getattr(diagnosis, "tenant_id", None) or (admin.tenant_id if admin else run_inputs.identities.tenant),
        generation=generation,
        generation_evidence=tuple(getattr(diagnosis, "generation_evidence", ()) or ()) + profile_sentences(diagnosis),
        signed_in=admin.user_principal_name if admin else signed_in,
        cloud=cloud, error=RunError(*error) if error else None,
        generated_at=now_iso(), fix_command=_fix_command(),
    )


def profile_sentences(diagnosis: Any) -> tuple[str, ...]:
    """The current profile for a report's "why this generation" row: which, why, and the
    checks that depend on it while it is unknown."""
    if getattr(diagnosis, "generation", None) != "current":
        return ()
    from cipp_setup.engine.result import PROFILE_LABELS

    profile = getattr(diagnosis, "profile", None)
    out = [f"Profile: {PROFILE_LABELS.get(profile or '', 'undetermined')}."]
    out.extend(getattr(diagnosis, "profile_evidence", ()) or ())
    dependent = tuple(getattr(diagnosis, "profile_dependent", ()) or ())
    if dependent:
        out.append(f"Depend on the CIPP version (warnings, not counted): {', '.join(dependent)}; pass --cipp-version.")
    return tuple(out)


def _generation_word(run_inputs: RunInputs) -> str | None:
    value = run_inputs.generation
    return value if value in ("legacy", "current") else None


def fix_data(
    *,
    run_inputs: RunInputs,
    cloud: str | None,
    state: Mapping[str, Any],
    outcomes: Iterable[Any],
    exit_code: int,
    error: tuple[str, str] | None,
    command: str = "fix",
) -> ReportData:
    """`fix`'s report: the checks as re-run after the fixes, and the changes."""
    from cipp_setup.render.json_report import RunError
    from cipp_setup.render.plans import change_entries
    from cipp_setup.render.report_data import ReportData, now_iso

    session = state.get("session")
    report = state.get("after") or state.get("before")
    admin = getattr(session, "admin", None)
    journal = getattr(session, "journal", None)
    outcomes = list(outcomes)
    return ReportData(
        command=command, exit_code=exit_code,
        results=tuple(report.results) if report is not None else (),
        specs=_specs([c.spec for c in session.checks] if session is not None else None, run_inputs),
        required=report.required if report is not None else frozenset(),
        tenant_id=admin.tenant_id if admin else run_inputs.identities.tenant,
        generation=_generation_word(run_inputs) or ("legacy" if report is not None else None),
        signed_in=admin.user_principal_name if admin else None,
        cloud=cloud, error=RunError(*error) if error else None,
        changes=tuple(change_entries(outcomes)),
        journal=str(journal.path) if journal is not None and any(o.applied for o in outcomes) else None,
        generated_at=now_iso(), fix_command=_fix_command(),
    )


def wizard_data(*, state: Any, journal: Any, cloud: str | None, exit_code: int,
                catalogue: Any = None) -> ReportData:
    """The wizard's report: each prerequisite as it stands after its fix (a fix that was
    verified replaces the failing first result), the API checks, and every change —
    fixes and the temporary rights given back."""
    from cipp_setup.render.plans import change_entries
    from cipp_setup.render.report_data import ReportData, now_iso

    verified = {o.plan.check_id: o.verified for o in state.fix_outcomes if o.verified is not None}
    results: list[CheckResult] = []
    required: set[str] = set()
    for report in (state.first_report, getattr(state.api_diagnosis, "report", None)):
        if report is None:
            continue
        results += [verified.get(r.check_id, r) for r in report.results]
        required |= report.required
    outcomes = list(state.fix_outcomes) + list(state.revert_outcomes)
    admin = state.admin
    notes = []
    if state.stopped:
        notes.append(f"The wizard stopped: {state.stopped}.")
    if state.revert_outcomes:
        notes.append("The temporary rights were given back after the API answered; the checks "
                     "above show the state before that.")
    elif state.rights_kept:
        notes.append("The temporary rights were kept; 'cipp-setup revert' removes them.")
    return ReportData(
        command="wizard", exit_code=exit_code, results=tuple(results), specs=_specs(catalogue),
        required=frozenset(required),
        tenant_id=admin.tenant_id if admin else state.tenant,
        generation=state.generation if state.generation in ("legacy", "current") else None,
        signed_in=admin.user_principal_name if admin else None, cloud=cloud,
        changes=tuple(change_entries(outcomes)),
        journal=str(journal.path) if journal is not None and any(o.applied for o in outcomes) else None,
        generated_at=now_iso(), fix_command=_fix_command(), notes=tuple(notes),
    )
