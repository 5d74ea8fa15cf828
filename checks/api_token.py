"""api-token: the API client gets a client-credentials token for its own API."""

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
)
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.api import TokenRefused

from . import _lookups as lk

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
    causes=(
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
    ),
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
        return self.passed(
            f"Token issued (aud {c.aud}, v{c.ver or '?'}).",
            evidence=(
                client_ev,
                Evidence("aud", c.aud, f"api://{client_id}"),
                Evidence("tid", c.tid, identifiers=("tenant",)),
                Evidence("appid", c.appid, client_id, identifiers=("object-id",)),
                Evidence("ver", c.ver),
                Evidence("exp", _when(c.exp)),
            ),
            facts={"aud": c.aud, "tid": c.tid, "appid": c.appid, "ver": c.ver, "exp": c.exp},
        )
