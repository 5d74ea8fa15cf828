"""api-list-logs: `GET {api url}/api/ListLogs` with the API client's token answers a JSON list."""

from __future__ import annotations

from typing import Any

from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    Check,
    CheckResult,
    CheckSpec,
    Evidence,
    Message,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.api import LIST_LOGS_TIMEOUT_S, ApiAnswer, ApiTimeout, normalise_api_url

from . import _lookups as lk
from . import _remediations

__all__ = ["SPEC", "ApiListLogs", "normalise_api_url"]

SPEC = CheckSpec(
    id="api-list-logs",
    title="The CIPP API answers GET /api/ListLogs with a JSON list",
    severity=Severity.HIGH,
    required=True,
    depends_on=("api-token",),
    services=frozenset({"api"}),
    # ListLogs answering a client's token is what "the API is activated" means.
    proves_activation=True,
    timeout_s=LIST_LOGS_TIMEOUT_S + 30,
    remediation=Remediation(
        portal=(
            "Use the Function App's URL (Azure portal → Function App → Overview → Default domain, "
            "https://<name>.azurewebsites.net), not the CIPP front end. In CIPP: Integrations → "
            "CIPP-API → API Clients → the client: Enabled, a role, its IP range → Save to Azure "
            "(restarts the app; allow a minute)."
        ),
        cli=(
            "az functionapp list --query \"[].defaultHostName\" -o tsv   # the API host; then "
            "curl -H \"Authorization: Bearer $TOKEN\" https://<name>.azurewebsites.net/api/ListLogs"
        ),
    ),
    docs=(
        "Calls GET {api url}/api/ListLogs with the api-token check's token, without following "
        f"redirects, and waits up to {LIST_LOGS_TIMEOUT_S:.0f} s: a Function App that was idle starts "
        "cold and can take tens of seconds. A 200 with a JSON array passes; the evidence gives the "
        "latency, the number of entries and the newest entry's time. The URL is accepted with or "
        "without a trailing slash or /api. CIPP answers most refusals as text without an error "
        "code, so its 403 texts are told apart by their wording: the processor app's 'not "
        "accepted on this function app', the IP allow-list's 'API Client does not have the "
        "required permission', a role's 'you do not have the required permission', and a "
        "hosted instance's 'subscription has ended'."
    ),
    causes=with_remediations(_remediations.API_LIST_LOGS, (
        Cause("front-end-url", "The URL is the Static Web App front end (302 to /.auth/login or an HTML page), not the Function App."),
        Cause("processor-app-url", "The URL is an offloaded processor Function App, which refuses API calls."),
        Cause("easy-auth-rejected", "Easy Auth answered 401: the client is not enabled / saved to Azure, or its audience or tenant is not allowed."),
        Cause("ip-not-allowed", "The caller's IP address is outside the API client's allowed range (CIPP says 'does not have the required permission')."),
        Cause("role-missing", "The API client's role lacks the permission ListLogs needs (CIPP.Core.Read)."),
        Cause("subscription-ended", "The hosted CIPP instance's subscription has ended."),
        Cause("function-app-stopped", "App Service answered 'This web app is stopped': the Function App is stopped "
                                      "(by an admin, or because its Azure subscription is Disabled or Deleted)."),
        Cause("endpoint-not-found", "404: the host answers but has no /api/ListLogs (wrong host or path)."),
        Cause("server-error", "The API answered a 5xx server error."),
        Cause("not-json", "The API answered 200 but not with a JSON list."),
        Cause("forbidden", "The API answered 403 with a reason cipp-setup does not recognise."),
        Cause("unexpected-status", "The API answered a status cipp-setup does not expect."),
        # Current generation: the 401/403 from Easy Auth, explained by api-token's comparison.
        Cause("client-not-saved-to-azure", "Easy Auth answered 401: the client is not in Easy Auth (enabled in CIPP but never saved to Azure)."),
        Cause("audience-not-allowed", "Easy Auth answered 401: the token's aud is not an allowed audience (v2 tokens carry the bare client id)."),
        Cause("app-not-allowed", "Easy Auth answered 403: the client is not among the allowed applications."),
        Cause("tenant-not-allowed", "Easy Auth answered 401: the token's tenant is not allowed."),
        Cause("easy-auth-disabled", "Easy Auth's Microsoft Entra provider is off, so CIPP saw no caller."),
    )),
)

# CIPP's refusals carry no error code; these fragments of its fixed texts are the only
# thing that tells them apart (order matters: the IP text ends like the role texts).
_FORBIDDEN_TEXTS = (
    ("not accepted on this function app", "processor-app-url"),
    ("subscription has ended", "subscription-ended"),
    # App Service's own page for a stopped app (an admin stopped it, or its subscription is
    # Disabled or Deleted): answered before Easy Auth.
    ("this web app is stopped", "function-app-stopped"),
    ("the api client does not have the required permission", "ip-not-allowed"),
    ("does not have the required permission", "role-missing"),
    # App Service's own text when the token's app is not in Easy Auth's allowedApplications.
    ("you do not have permission to view this directory or page", "easy-auth-rejected"),
)


# api-token's Easy Auth verdicts, as api-list-logs names the refusal they explain.
_EASY_AUTH_CAUSES = {
    "client-not-saved-to-azure": "the client is not in Easy Auth; if it is enabled in CIPP, save it to Azure.",
    "audience-not-allowed": "the token's aud is not an allowed audience.",
    "tenant-not-allowed": "the token's tenant is not allowed.",
    "easy-auth-disabled": "Easy Auth's Microsoft Entra provider is off.",
}


def _newest(entries: list[Any]) -> str:
    times = [str(e.get("DateTime")) for e in entries if isinstance(e, dict) and e.get("DateTime")]
    return max(times) if times else "no entries"


class ApiListLogs(Check):
    spec = SPEC

    async def run(self, ctx: CheckContext) -> CheckResult:
        inputs = ctx.inputs
        if not inputs.api_url:
            return self.skipped("Skipped: no API URL given (--api-url).")
        if not (inputs.api_client_id or "").strip() or not inputs.api_client_secret:
            return self.skipped("Skipped: no API client given (--api-client-id).")
        api_url = normalise_api_url(inputs.api_url)
        try:
            token = await lk.api_token(ctx)
            answer = await lk.gateways(ctx).api.get(api_url, "ListLogs", token)
        except ApiTimeout as exc:
            return self.errored(
                "timeout", f"{api_url} did not answer within {exc.seconds:.0f} s.",
                evidence=(Evidence("GET /api/ListLogs", "no answer", f"an answer within {exc.seconds:.0f} s"),),
                messages=(Message("hint", "A cold Function App can be slow once; run the check again. If it persists, the app may be stopped."),),
            )
        except ServiceFailure as exc:
            return self.errored(exc.cause, exc.message)
        prior = ctx.results.get("api-token")
        easy_auth_cause = prior.facts.get("easy_auth_cause") if prior is not None else None
        return self._judge(api_url, answer, easy_auth_cause=easy_auth_cause)

    def _judge(self, api_url: str, a: ApiAnswer, *, easy_auth_cause: str | None = None) -> CheckResult:
        """`easy_auth_cause`: why api-token expects Easy Auth to refuse the token, if it
        compared them; a 401 (or Easy Auth's 403) is then named by that cause."""
        url_ev = Evidence("API URL", api_url, "the Function App, https://<name>.azurewebsites.net")
        status_ev = Evidence("GET /api/ListLogs", f"HTTP {a.status} in {a.latency_ms:.0f} ms", "HTTP 200, a JSON array")
        ev = (url_ev, status_ev)
        html = "html" in a.content_type.lower() or a.text.lstrip()[:1] == "<"
        if 300 <= a.status < 400:
            where = a.location or "(no Location)"
            return self.failed(
                "front-end-url", f"{api_url} redirects to {where}: that is the CIPP front end, not the API.",
                evidence=ev + (Evidence("Location", where, "no redirect"),),
            )
        if a.status == 200 and html:
            return self.failed("front-end-url", f"{api_url} answers with an HTML page: that is the CIPP front end, not the API.", evidence=ev)
        if a.status == 200:
            if a.is_json and isinstance(a.json, list):
                noun = "entry" if len(a.json) == 1 else "entries"
                return self.passed(
                    f"ListLogs answered {len(a.json)} {noun} in {a.latency_ms:.0f} ms.",
                    evidence=ev + (
                        Evidence("entries", str(len(a.json))),
                        Evidence("newest entry", _newest(a.json)),
                    ),
                    facts={"latency_ms": round(a.latency_ms), "entries": len(a.json)},
                )
            found = "JSON, but not a list" if a.is_json else f"not JSON ({a.content_type or 'no content type'})"
            return self.failed("not-json", f"ListLogs answered 200 with {found}.", evidence=ev)
        if a.status == 401 and easy_auth_cause in _EASY_AUTH_CAUSES:
            return self.failed(
                easy_auth_cause, f"Easy Auth rejected the token (401): {_EASY_AUTH_CAUSES[easy_auth_cause]}",
                evidence=ev, messages=(Message("hint", "See api-easy-auth for what to change."),),
            )
        if a.status == 401:
            return self.failed(
                "easy-auth-rejected",
                "The Function App's Easy Auth rejected the token (401).",
                evidence=ev,
                messages=(Message(
                    "hint",
                    "Check in CIPP that the client is Enabled and was saved with 'Save to Azure'; a token "
                    "whose aud is the bare client id (v2 tokens) is not accepted.",
                ),),
            )
        if a.status == 403:
            text = a.text.lower()
            cause = next((c for fragment, c in _FORBIDDEN_TEXTS if fragment in text), "forbidden")
            if cause == "easy-auth-rejected" and easy_auth_cause == "app-not-allowed":
                cause = "app-not-allowed"
            summary = {
                "processor-app-url": f"{api_url} is CIPP's processor Function App, which refuses API calls.",
                "subscription-ended": "The hosted CIPP subscription has ended.",
                "function-app-stopped": "The Function App is stopped (App Service: 'This web app is stopped'); "
                                        "a Disabled or Deleted Azure subscription stops every app in it.",
                "ip-not-allowed": "This computer's IP address is outside the API client's allowed range.",
                "role-missing": "The API client's role may not read logs (needs CIPP.Core.Read).",
                "easy-auth-rejected": "Easy Auth refused the client: it is not among the allowed applications.",
                "app-not-allowed": "Easy Auth refused the client: it is not among the allowed applications.",
            }.get(cause, "The API refused the call (403).")
            return self.failed(cause, summary, evidence=ev + (Evidence("answer", a.text.strip()[:200]),))
        if a.status == 404:
            return self.failed("endpoint-not-found", f"{api_url} has no /api/ListLogs (404).", evidence=ev)
        if a.status >= 500:
            return self.failed("server-error", f"The API answered {a.status}.", evidence=ev)
        return self.failed("unexpected-status", f"The API answered {a.status}.", evidence=ev)
