"""api-token: the API client gets a client-credentials token for its own API.

For a current-generation instance (and whenever an admin signed in and the Function App
is known), the issued token's aud, tid and appid are also compared with what the
Function App's Easy Auth allows — read through the same shared look-up api-easy-auth
uses, so no request is sent twice and no ordering between the two checks is needed.
A token Easy Auth would refuse makes this check *warn* (the token was issued; the call
will fail) with the reason as its cause, and api-list-logs, which runs after it, names
the same cause for the 401 it then meets.

Facts: aud, tid, appid, ver, exp (the token's claims; never the token), and
easy_auth_cause (client-not-saved-to-azure, audience-not-allowed, app-not-allowed,
tenant-not-allowed, easy-auth-disabled, or None when Easy Auth accepts the token or was
not compared) with easy_auth_compared (bool).
"""

from __future__ import annotations

from datetime import datetime, timezone

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
from cipp_setup.gateways.api import TokenRefused

from . import _current as cur
from . import _lookups as lk
from . import _remediations

SPEC = CheckSpec(
    id="api-token",
    title="The API client is issued a token for api://{client id}",
    severity=Severity.HIGH,
    required=True,
    services=frozenset({"api"}),
    timeout_s=90.0,
    remediation=Remediation(
        portal=(
            "Microsoft Entra admin center → Identity → Applications → App registrations → the API "
            "client (CIPP-API, or the client's name) → Certificates & secrets → New client secret: "
            "copy the Value (not the Secret ID); Expose an API → Application ID URI = api://{client id}. "
            "In CIPP (7.2+): Integrations → CIPP-API → API Clients → Reset secret."
        ),
        cli=(
            "az ad app credential reset --id <client-id> --append --display-name cipp-setup "
            "--query password -o tsv   # and, if missing: "
            "az ad app update --id <client-id> --identifier-uris api://<client-id>"
        ),
    ),
    docs=(
        "A CIPP API caller first asks the identity platform for a client-credentials token "
        "(POST {authority}/{tenant}/oauth2/v2.0/token, scope api://{client id}/.default). This "
        "check does exactly that with msal, with a 30 s network timeout, and shows the token's "
        "aud, tid, appid, ver and exp (decoded for display; the token itself is never shown). "
        "The identity platform's AADSTS error code tells the causes apart: 7000215 wrong secret "
        "(often the secret's ID pasted instead of its value), 7000222 expired secret, 700016 no "
        "such app in the tenant, 90002 no such tenant, 500011 no api://{id} identifier URI. "
        "Skipped when no API client id is given (--api-client-id). The secret comes from "
        "CIPP_API_CLIENT_SECRET or --client-secret-stdin, never from the command line."
    ),
    causes=with_remediations(_remediations.API_TOKEN, (
        Cause("invalid-secret", "The client secret is wrong (AADSTS7000215)."),
        Cause(
            "secret-id-pasted",
            "The 'secret' has the shape of a GUID: that is the secret's ID, not its value (AADSTS7000215).",
        ),
        Cause("secret-expired", "The client secret has expired (AADSTS7000222)."),
        Cause("app-not-found", "No application with that client id in the tenant (AADSTS700016)."),
        Cause("tenant-not-found", "The tenant does not exist (AADSTS90002)."),
        Cause("identifier-uri-missing", "The app has no api://{client id} identifier URI (AADSTS500011)."),
        Cause("secret-missing", "An API client id was given without a secret."),
        Cause("token-refused", "The identity platform refused the token for another reason (see the AADSTS code)."),
        # Warnings, current generation: the token is issued, but Easy Auth will refuse it.
        Cause("client-not-saved-to-azure", "Easy Auth knows nothing of this client: enabled in CIPP but never saved to Azure (a warning)."),
        Cause("audience-not-allowed", "The token's aud is not among Easy Auth's allowed audiences: calls will get 401 (a warning)."),
        Cause("app-not-allowed", "The token's appid is not among Easy Auth's allowed applications: calls will get 403 (a warning)."),
        Cause("tenant-not-allowed", "The token's tid is not a tenant Easy Auth accepts: calls will get 401 (a warning)."),
        Cause("easy-auth-disabled", "Easy Auth's Microsoft Entra provider is off: CIPP will see no caller (a warning)."),
    )),
)

_CAUSE_BY_AADSTS = {
    "7000222": "secret-expired",
    "700016": "app-not-found",
    "90002": "tenant-not-found",
    "500011": "identifier-uri-missing",
}


def _when(exp: int | None) -> str:
    if exp is None:
        return "absent"
    return datetime.fromtimestamp(exp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class ApiTokenCheck(Check):
    spec = SPEC

    async def run(self, ctx: CheckContext) -> CheckResult:
        inputs = ctx.inputs
        client_id = (inputs.api_client_id or "").strip()
        if not client_id:
            return self.skipped("Skipped: no API client given (--api-client-id).")
        client_ev = Evidence("API client id", client_id, identifiers=("object-id",))
        if not inputs.api_client_secret:
            return self.failed(
                "secret-missing", "No secret for the API client: set CIPP_API_CLIENT_SECRET or use --client-secret-stdin.",
                evidence=(client_ev,),
            )
        try:
            token = await lk.api_token(ctx)
        except TokenRefused as exc:
            code = exc.code or ""
            cause = _CAUSE_BY_AADSTS.get(code, "token-refused")
            if code == "7000215":
                guid_shaped = lk.is_guid(inputs.api_client_secret.reveal())
                cause = "secret-id-pasted" if guid_shaped else "invalid-secret"
            summary = {
                "invalid-secret": "The client secret is wrong.",
                "secret-id-pasted": "The secret given is the secret's ID (a GUID), not its value.",
                "secret-expired": "The client secret has expired.",
                "app-not-found": f"No application {client_id} in tenant {inputs.tenant}.",
                "tenant-not-found": f"Tenant {inputs.tenant} does not exist.",
                "identifier-uri-missing": f"The app has no identifier URI api://{client_id}.",
            }.get(cause, f"The identity platform refused the token ({exc.error}).")
            found = f"AADSTS{code}: {exc.description}" if code else exc.description
            return self.failed(
                cause, summary,
                evidence=(client_ev, Evidence("token request", found, "an access token")),
                messages=(Message("hint", "Create a new secret and copy its Value column.")
                          if cause in ("secret-id-pasted", "invalid-secret", "secret-expired") else
                          Message("info", f"Tenant: {inputs.tenant}"),),
            )
        except ServiceFailure as exc:
            return self.errored(exc.cause, exc.message, evidence=(client_ev,))
        c = token.claims
        evidence = (
            client_ev,
            Evidence("aud", c.aud, f"api://{client_id}"),
            Evidence("tid", c.tid, identifiers=("tenant",)),
            Evidence("appid", c.appid, client_id, identifiers=("object-id",)),
            Evidence("ver", c.ver),
            Evidence("exp", _when(c.exp)),
        )
        facts: dict[str, object] = {
            "aud": c.aud, "tid": c.tid, "appid": c.appid, "ver": c.ver, "exp": c.exp,
            "easy_auth_cause": None, "easy_auth_compared": False,
        }
        verdict, note = await _easy_auth_verdict(ctx, client_id, c.aud, c.tid, c.appid)
        if verdict is not None:
            facts["easy_auth_compared"] = True
            facts["easy_auth_cause"] = verdict.cause
            if verdict.cause is not None:
                return self.warned(
                    f"Token issued, but the Function App's Easy Auth will refuse it: {verdict.reason}",
                    cause=verdict.cause, evidence=evidence, facts=facts,
                    messages=(Message("hint", "See api-easy-auth for what to change."),),
                )
        return self.passed(
            f"Token issued (aud {c.aud}, v{c.ver or '?'})"
            + (", and Easy Auth accepts it." if verdict is not None else "."),
            evidence=evidence, facts=facts,
            messages=(Message("info", note),) if note else (),
        )


async def _easy_auth_verdict(
    ctx: CheckContext, client_id: str, aud: str, tid: str, appid: str
) -> tuple[cur.EasyAuthVerdict | None, str]:
    """Compare the token with Easy Auth (current generation, admin signed in, Function App
    known); (None, why not) when no comparison was possible. Never raises for a read."""
    if ctx.inputs.generation != "current" or getattr(lk.gateways(ctx), "web", None) is None:
        return None, ""
    try:
        ea = await cur.easy_auth(ctx)
    except cur.FunctionAppUnknown:
        return None, "Easy Auth not compared: the Function App is unknown (--function-app)."
    except (cur.FunctionAppNotFound, ServiceFailure) as exc:
        return None, f"Easy Auth not compared: {exc}"
    # The token's appid is the caller Easy Auth checks; it is the client id when all is well.
    return cur.easy_auth_verdict(ea, client_id=appid or client_id, aud=aud, tid=tid), ""
