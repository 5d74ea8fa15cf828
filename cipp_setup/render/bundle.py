"""The report bundle: the four report files in a directory, and a zip of that directory.

`render_reports` is pure: one redaction over the run's `ReportData`, then every file
rendered from the redacted copy (so placeholders agree across files), then a last sweep
of each rendered file for known secrets and secret-shaped strings. `write_bundle` does
the I/O: `DIR/report.json`, `report.md`, `report.html`, `junit.xml`, and `DIR.zip` beside
the directory — the one file a hosted client sends back to a helpdesk.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cipp_setup.render.json_report import dumps
from cipp_setup.render.junit import render_junit
from cipp_setup.render.redact import Redactor, scrub_secrets
from cipp_setup.render.report_data import ReportData, envelope
from cipp_setup.render.report_html import render_html
from cipp_setup.render.report_md import render_markdown

REPORT_FILES = ("report.json", "report.md", "report.html", "junit.xml")


@dataclass(frozen=True)
class WrittenBundle:
    directory: Path
    files: tuple[Path, ...]
    zip_path: Path


def render_reports(
    data: ReportData, *, secrets: Iterable[str] = (), redact_ids: bool = False
) -> dict[str, str]:
    """File name → content, for the four report files."""
    secrets = tuple(s for s in secrets if s)
    redacted = Redactor(secrets, redact_ids=redact_ids).report(data)
    files = {
        "report.json": dumps(envelope(redacted)),
        "report.md": render_markdown(redacted),
        "report.html": render_html(redacted),
        "junit.xml": render_junit(redacted),
    }
    return {name: scrub_secrets(text, secrets) for name, text in files.items()}


def zip_path_for(directory: Path) -> Path:
    return directory.parent / f"{directory.name}.zip"


def write_bundle(directory: Path, files: Mapping[str, str]) -> WrittenBundle:
    """Write the files (replacing earlier ones) and the zip; OSError on failure."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, content in files.items():
        path = directory / name
        # Write then rename, so a reader (or a zip) never sees half a report.
        partial = path.with_name(f".{name}.partial")
        partial.write_text(content, encoding="utf-8", newline="\n")
        os.replace(partial, path)
        written.append(path)
    archive = zip_path_for(directory)
    partial_zip = archive.with_name(f".{archive.name}.partial")
    with zipfile.ZipFile(partial_zip, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in written:
            bundle.write(path, arcname=f"{directory.name}/{path.name}")
    os.replace(partial_zip, archive)
    return WrittenBundle(directory, tuple(written), archive)
