"""Redaction for report files: secrets always, identifiers on request (`--redact-ids`).

Secrets: the run's known secret values (the API client secret, an admin client secret)
and anything shaped like one — a JWT, a bearer header, an Entra ID client secret value
(`xxx8Q~…`), a long base64 run — become `[redacted]`. Reports are attached to tickets and
mailed around; a token that slipped into an error message must not travel with them.

Identifiers (`--redact-ids`): tenant ids, user principal names (and their domains),
and object ids are replaced *consistently*: the same value gets the same placeholder in
every file of one report (`tenant-1`, `user-1@domain-1.example`, `object-1`,
`subscription-1`), so "object-2 holds the role on subscription-1" still reads.
Identifiers that are the same in every tenant (Microsoft Graph's app id, role template
ids, built-in role definitions; `cipp_setup.wellknown`) are facts, not secrets, and stay.

The evidence's `identifiers` hints say which kinds an evidence line holds; a GUID in a
line hinted "tenant" is a tenant id everywhere it appears.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from cipp_setup import wellknown
from cipp_setup.engine.model import CheckResult, Evidence, Message, Remediation
from cipp_setup.render.report_data import ReportData

REDACTED = "[redacted]"

GUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
# A user principal name or mail address; guests' "#EXT#" names included.
UPN = re.compile(r"(?<![\w.%+#'-])([A-Za-z0-9._%+#'-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_SUBSCRIPTION_SCOPE = re.compile(r"/subscriptions/(" + GUID.pattern[2:-2] + r")", re.IGNORECASE)
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

# Secret shapes. Kept in step with the journal's refusal rules (engine/journal.py).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_ENTRA_SECRET = re.compile(r"[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}")
# Long unbroken runs: base64url-ish (no slash) of 60+ with a digit, or standard base64 of
# 40+ with "+", "/" or "=" whose slash-free stretches are long (ARM resource paths have
# short segments; Graph's 43-45 character grant and role assignment ids have none of them).
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9~._+=-])[A-Za-z0-9~._+=-]{60,}")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40,}={0,2}")


def _well_known_ids() -> frozenset[str]:
    values = (getattr(wellknown, name) for name in dir(wellknown) if name.isupper())
    return frozenset(v.lower() for v in values if isinstance(v, str) and GUID.fullmatch(v))


WELL_KNOWN_IDS = _well_known_ids()


def _looks_random(run: str) -> bool:
    return any(c.isdigit() for c in run) and any(c.isupper() for c in run) and any(c.islower() for c in run)


def _base64_secret(match: re.Match[str]) -> str:
    run = match.group(0)
    # Plain alphanumeric runs of this length are Microsoft Graph ids (oauth2PermissionGrant
    # and role assignment ids are base64url without padding): only a run with base64's
    # own "+", "/" or "=" padding counts as a secret here.
    if not _looks_random(run):
        return run
    if "+" in run or run.endswith("="):
        return REDACTED
    if "/" not in run:
        return run
    # A slash: a URL or resource path ("/roleManagement/directory/roleAssignments/<id>")
    # starts with one or has plain words between them; random base64 does neither.
    segments = run.split("/")
    if run.startswith("/") or any(len(p) >= 6 and p.isalpha() for p in segments):
        return run
    return REDACTED if max(len(p) for p in segments) >= 20 else run


def _long_run(match: re.Match[str]) -> str:
    run = match.group(0)
    return REDACTED if any(c.isdigit() for c in run) else run


def scrub_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Known secret values and secret-shaped strings replaced by `[redacted]`."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        # Also the forms a secret takes once escaped for HTML or JSON.
        for form in {secret, html.escape(secret), json.dumps(secret)[1:-1]}:
            text = text.replace(form, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _ENTRA_SECRET.sub(REDACTED, text)
    text = _LONG_RUN.sub(_long_run, text)
    return _BASE64.sub(_base64_secret, text)


def secret_shaped(text: str) -> list[str]:
    """The secret-shaped strings in `text` (for tests and self-checks)."""
    found = [m.group(0) for m in _JWT.finditer(text)] + [m.group(0) for m in _ENTRA_SECRET.finditer(text)]
    found += [m.group(0) for m in _LONG_RUN.finditer(text) if _long_run(m) == REDACTED]
    found += [m.group(0) for m in _BASE64.finditer(text) if _base64_secret(m) == REDACTED]
    return found


class Redactor:
    """One report's redaction: the same instance for every file, so placeholders agree.

    Call `learn_*` (or `prepare(report)`) before `text`, so a value's kind is known
    before its first placeholder is handed out.
    """

    def __init__(self, secrets: Iterable[str] = (), *, redact_ids: bool = False) -> None:
        self.secrets = tuple(s for s in secrets if s)
        self.redact_ids = redact_ids
        self._tenants: set[str] = set()
        self._subscriptions: set[str] = set()
        self._domains: set[str] = set()
        self._placeholders: dict[tuple[str, str], str] = {}
        self._counters: dict[str, int] = {}
        self._pattern: re.Pattern[str] | None = None

    # --- learning what kind each identifier is -------------------------------------------

    def learn_tenant(self, value: str | None) -> None:
        if not value:
            return
        for guid in GUID.findall(value):
            self._tenants.add(guid.lower())
        if _DOMAIN.match(value.strip()):
            self._domains.add(value.strip().lower())
        self._pattern = None

    def learn_text(self, value: str) -> None:
        for guid in _SUBSCRIPTION_SCOPE.findall(value):
            self._subscriptions.add(guid.lower())
        for _local, domain in UPN.findall(value):
            self._domains.add(domain.lower())
        self._pattern = None

    def prepare(self, report: ReportData) -> None:
        self.learn_tenant(report.tenant_id)
        for result in report.results:
            for item in result.evidence:
                if "tenant" in item.identifiers:
                    self.learn_tenant(item.found)
                    self.learn_tenant(item.expected)
                elif "subscription" in item.setting.lower():
                    self._subscriptions.update(g.lower() for g in GUID.findall(item.found))
        for value in _strings(report):
            self.learn_text(value)

    # --- replacing ------------------------------------------------------------------------

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, value.lower())
        found = self._placeholders.get(key)
        if found is None:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            found = f"{kind}-{self._counters[kind]}"
            self._placeholders[key] = found
        return found

    def _domain(self, domain: str) -> str:
        return self._placeholder("domain", domain) + ".example"

    def _ids_pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            domains = sorted(self._domains, key=len, reverse=True)
            alternatives = [UPN.pattern, GUID.pattern]
            if domains:
                alternatives.append(
                    r"(?<![\w.-])(" + "|".join(re.escape(d) for d in domains) + r")(?![\w-]|\.[\w-])"
                )
            self._pattern = re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)
        return self._pattern

    def _replace_id(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if "@" in text:
            local, domain = text.rsplit("@", 1)
            return f"{self._placeholder('user', local + '@' + domain)}@{self._domain(domain)}"
        if GUID.fullmatch(text):
            lowered = text.lower()
            if lowered in WELL_KNOWN_IDS:
                return text
            if lowered in self._tenants:
                return self._placeholder("tenant", lowered)
            if lowered in self._subscriptions:
                return self._placeholder("subscription", lowered)
            return self._placeholder("object", lowered)
        return self._domain(text)

    def text(self, value: str) -> str:
        value = scrub_secrets(value, self.secrets)
        if self.redact_ids:
            value = self._ids_pattern().sub(self._replace_id, value)
        return value

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def value(self, value: Any) -> Any:
        """Any JSON-like value, every string in it redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        return value

    # --- a whole report -------------------------------------------------------------------

    def result(self, result: CheckResult) -> CheckResult:
        return replace(
            result,
            summary=self.text(result.summary),
            messages=tuple(
                Message(m.kind, self.text(m.text), self.optional(m.url)) for m in result.messages
            ),
            evidence=tuple(
                Evidence(self.text(e.setting), self.text(e.found), self.text(e.expected), e.identifiers)
                for e in result.evidence
            ),
            facts={},  # machine facts (object ids) are never rendered; drop them here
            remediation=(
                Remediation(
                    portal=self.text(result.remediation.portal), cli=self.text(result.remediation.cli),
                    powershell=self.text(result.remediation.powershell), steps=self.text(result.remediation.steps),
                ) if result.remediation is not None else None
            ),
        )

    def report(self, report: ReportData) -> ReportData:
        """`report` with every string redacted; specs are the catalogue's own text and
        hold no tenant's values, but go through the secret scrub all the same."""
        self.prepare(report)
        error = report.error
        # Placeholders number in reading order: the run's tenant and admin, then the checks.
        tenant_id, signed_in = self.optional(report.tenant_id), self.optional(report.signed_in)
        return replace(
            report,
            tenant_id=tenant_id,
            signed_in=signed_in,
            results=tuple(self.result(r) for r in report.results),
            generation_evidence=tuple(self.text(e) for e in report.generation_evidence),
            error=replace(error, message=self.text(error.message)) if error is not None else None,
            changes=(
                tuple(self.value(c) for c in report.changes) if report.changes is not None else None
            ),
            journal=self.optional(report.journal),
            notes=tuple(self.text(n) for n in report.notes),
            command_line=self.text(report.command_line),
            revert_command=self.text(report.revert_command),
            fix_command=self.optional(report.fix_command),
            ids_redacted=self.redact_ids,
            sam_user=self.value(report.sam_user) if report.sam_user is not None else None,
        )


def _strings(report: ReportData) -> Iterator[str]:
    """Every string of a report, in a fixed order (placeholders number in this order)."""
    for value in (report.tenant_id, report.signed_in):
        if value:
            yield value
    for result in report.results:
        yield result.summary
        for m in result.messages:
            yield m.text
        for e in result.evidence:
            yield e.found
            yield e.expected
        if result.remediation is not None:
            yield from (result.remediation.steps, result.remediation.portal,
                        result.remediation.cli, result.remediation.powershell)
    for change in report.changes or ():
        for v in change.values():
            if isinstance(v, str):
                yield v
    if report.error is not None:
        yield report.error.message
    yield from report.notes
    yield from (report.command_line, report.revert_command, report.fix_command or "")
