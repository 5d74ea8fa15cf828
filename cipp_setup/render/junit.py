"""junit.xml: one test case per check, for CI test tabs. Pure function of `ReportData`.

Mapping: pass → a passing test case; warn → passing, with the warning in system-out;
fail → <failure>; error (the check could not run) → <error>; skip → <skipped>. The
failure's message is the check's summary and its type the cause code; the body carries
the cause's meaning, the evidence and the remediation, as report.md does.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cipp_setup.engine.model import CheckResult, Status
from cipp_setup.render.report_data import ReportData, cause_meaning, fix_for, status_counts
from cipp_setup.render.text import result_remediation

# Characters XML 1.0 cannot carry at all; a stray one would make the whole file unreadable.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(value: str) -> str:
    return _INVALID_XML.sub("", value)


def _seconds(duration_ms: float) -> str:
    return f"{duration_ms / 1000:.3f}"


def _body(data: ReportData, result: CheckResult) -> str:
    spec = data.spec(result.check_id)
    lines = [result.summary]
    if result.cause:
        meaning = cause_meaning(spec, result.cause)
        lines.append(f"Cause: {result.cause}" + (f" - {meaning}" if meaning else ""))
    for message in result.messages:
        label = {"error": "Error", "hint": "Hint", "info": "Note"}[message.kind]
        lines.append(f"{label}: {message.text}" + (f" ({message.url})" if message.url else ""))
    for item in result.evidence:
        expected = f" (expected: {item.expected})" if item.expected else ""
        lines.append(f"{item.setting}: {item.found}{expected}")
    remediation = result_remediation(result, spec)
    if remediation is not None:
        for label, value in (("What to do", remediation.steps), ("In the portal", remediation.portal),
                             ("Azure CLI", remediation.cli), ("PowerShell", remediation.powershell)):
            if value:
                lines.append(f"{label}: {value}")
    fix = fix_for(data, result)
    if fix:
        lines.append(f"Let cipp-setup fix it: {fix}")
    if result.check_id not in data.required:
        lines.append("Optional check: it does not fail the run.")
    return _clean("\n".join(lines))


def render_junit(data: ReportData) -> str:
    """The whole junit.xml for an already redacted `data`."""
    counts = status_counts(data.results)
    total_s = _seconds(sum(r.duration_ms for r in data.results))
    # A run that could not complete (sign-in impossible, interrupted) is one more error
    # case, so CI never reads an empty file as "nothing failed".
    run_errors = 1 if data.error is not None else 0
    stats = {
        "tests": str(len(data.results) + run_errors),
        "failures": str(counts[Status.FAIL]),
        "errors": str(counts[Status.ERROR] + run_errors),
        "skipped": str(counts[Status.SKIP]),
        "time": total_s,
    }
    suites = ET.Element("testsuites", {"name": "cipp-setup", **stats})
    suite_attrs = {"name": f"cipp-setup {data.command}", **stats}
    if data.generated_at:
        suite_attrs["timestamp"] = data.generated_at
    suite = ET.SubElement(suites, "testsuite", suite_attrs)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("tenant_id", data.tenant_id), ("signed_in", data.signed_in), ("cloud", data.cloud),
        ("generation", data.generation), ("exit_code", str(data.exit_code)),
        ("command_line", data.command_line),
    ):
        if value:
            ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    for result in data.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"cipp-setup.{data.command}",
            "name": result.check_id,
            "time": _seconds(result.duration_ms),
        })
        if result.status is Status.FAIL:
            element = ET.SubElement(case, "failure", {"message": _clean(result.summary), "type": result.cause or "fail"})
            element.text = _body(data, result)
        elif result.status is Status.ERROR:
            element = ET.SubElement(case, "error", {"message": _clean(result.summary), "type": result.cause or "error"})
            element.text = _body(data, result)
        elif result.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": _clean(result.summary)})
        elif result.status is Status.WARN:
            out = ET.SubElement(case, "system-out")
            out.text = "warning: " + _body(data, result)
        elif result.status is Status.NOT_NEEDED:
            out = ET.SubElement(case, "system-out")
            out.text = "not needed any more: " + _clean(result.summary)
    if data.error is not None:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"cipp-setup.{data.command}", "name": "run", "time": "0.000",
        })
        err = ET.SubElement(case, "error", {"message": _clean(data.error.message), "type": data.error.code})
        err.text = _clean(f"{data.error.code}: {data.error.message}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
