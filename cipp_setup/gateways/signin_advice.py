"""Sign-in errors explained, each with the alternative to try.

The identity platform's AADSTS number is its machine-readable error code (also in
`error_codes`); the explanation is chosen by that number, never by the message text.
Each explanation is one line: what happened, then "Try: ..." — the shape of azd's
ErrorWithSuggestion, kept on one line because the CLI's error output is one line.
"""

from __future__ import annotations

from dataclasses import dataclass

LOGIN = "cipp-setup login"


@dataclass(frozen=True)
class SignInAdvice:
    what: str  # what happened, in the admin's terms
    suggestion: str  # the alternative to try

    def line(self) -> str:
        return f"{self.what} Try: {self.suggestion}"


def _tenant_flag(tenant: str | None) -> str:
    return f"--tenant {tenant}" if tenant else "--tenant TENANT"


def admin_consent_url(tenant: str | None, authority: str | None = None) -> str:
    """The admin-consent URL for the tool's client and everything it asks (Graph read and
    write permissions, ARM user_impersonation): an administrator opens it once."""
    from urllib.parse import quote

    from cipp_setup import wellknown
    from cipp_setup.cloud import CLOUDS
    from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS
    from cipp_setup.gateways.permissions import READ_GRAPH_PERMISSIONS

    public = CLOUDS["public"]
    host = (authority or public.authority_host).rstrip("/")
    scopes = [public.graph_permission(p) for p in dict.fromkeys(READ_GRAPH_PERMISSIONS + WRITE_GRAPH_PERMISSIONS)]
    scopes.append(public.arm_permission("user_impersonation"))
    return (f"{host}/{tenant or 'TENANT'}/v2.0/adminconsent?client_id={wellknown.TOOL_PUBLIC_CLIENT_ID}"
            f"&scope={quote(' '.join(scopes), safe='/:')}")


def advice_for(code: str | None, *, tenant: str | None = None, authority: str | None = None) -> SignInAdvice | None:
    """The explanation for AADSTS`code` signing in to `tenant`, or None when unknown."""
    flag = _tenant_flag(tenant)
    consenters = ("an administrator who may consent for the organization (Global Administrator, "
                  "Privileged Role Administrator, Cloud Application Administrator or Application "
                  "Administrator)")
    table: dict[str, SignInAdvice] = {
        # Conditional Access: commonly a policy that blocks the device code flow.
        "53003": SignInAdvice(
            "Conditional Access blocked this sign-in (policies often block device-code sign-in).",
            "--auth browser on a machine with a browser, or 'az login' then --auth azure-cli.",
        ),
        "530003": SignInAdvice(
            "Conditional Access requires a managed or compliant device for this sign-in.",
            "sign in from a managed device with --auth browser, or 'az login' there and --auth azure-cli.",
        ),
        "53000": SignInAdvice(
            "Conditional Access requires a compliant device for this sign-in.",
            "sign in from a compliant device with --auth browser, or use --auth azure-cli there.",
        ),
        # MFA demanded by a tenant the session did not do MFA for (often a guest tenant).
        "50076": SignInAdvice(
            "This tenant requires multi-factor authentication, and the sign-in did not satisfy it "
            "(common when the account's MFA was done in another tenant).",
            f"sign in to that tenant explicitly: '{LOGIN} {flag}' (or the command with {flag}), "
            "completing MFA when asked.",
        ),
        "50079": SignInAdvice(
            "The account must register for multi-factor authentication before it can sign in.",
            f"register MFA at https://aka.ms/mfasetup, then '{LOGIN} {flag}'.",
        ),
        "50020": SignInAdvice(
            "The account that signed in is not a member or guest of the tenant asked for.",
            f"sign in with an account of that tenant, or check {flag} names the right tenant.",
        ),
        "50034": SignInAdvice(
            "No such user in this tenant.",
            f"check the account name, and that {flag} names the account's tenant.",
        ),
        "50126": SignInAdvice(
            "The user name or password was wrong.",
            "sign in again with the right credentials (check for a different account in the browser).",
        ),
        "50053": SignInAdvice(
            "The account is locked after too many failed sign-ins.",
            "wait, or have another administrator unlock it, then sign in again.",
        ),
        "50057": SignInAdvice(
            "The account is disabled.",
            "sign in with another administrator account, or have this one enabled.",
        ),
        "50105": SignInAdvice(
            "The account is not assigned to the sign-in application (assignment is required).",
            "have an administrator assign the account in Enterprise applications, or use --auth azure-cli.",
        ),
        # The tool's public client does not exist there: wrong cloud or tenant.
        "700016": SignInAdvice(
            "The tool's sign-in application is unknown to this tenant (often: a tenant of another "
            "cloud, or a mistyped tenant).",
            f"check {flag} and --cloud (public, usgov, china), or use --auth azure-cli.",
        ),
        "65001": SignInAdvice(
            "The tool's application holds no consent for a permission this run needs, and a saved "
            "sign-in cannot consent (only an interactive sign-in shows the consent page).",
            f"'{LOGIN} {flag}' (or '{LOGIN} --for fix {flag}' before fix).",
        ),
        "65004": SignInAdvice(
            "The consent page was declined: nothing was granted.",
            f"sign in again and accept, or have {consenters} open {admin_consent_url(tenant, authority)}",
        ),
        "650057": SignInAdvice(
            "The sign-in asked a resource as .default that the application's registration does not list.",
            "report it: cipp-setup asks explicit scopes for its own client.",
        ),
        "90002": SignInAdvice(
            "The tenant was not found in this cloud.",
            f"check {flag} (a tenant id or a verified domain) and --cloud.",
        ),
        "90094": SignInAdvice(
            "This tenant needs an administrator's approval (consent) for the tool's application, "
            "and this account may not give it.",
            f"have {consenters} open {admin_consent_url(tenant, authority)} once, or run '{LOGIN} {flag}' themselves.",
        ),
        # A saved sign-in that can no longer refresh.
        "700082": SignInAdvice(
            "The saved sign-in expired (the refresh token was unused for too long).",
            f"sign in again: '{LOGIN} {flag}'.",
        ),
        "70008": SignInAdvice(
            "The saved sign-in expired.",
            f"sign in again: '{LOGIN} {flag}'.",
        ),
        "50173": SignInAdvice(
            "The saved sign-in was revoked (a password change or an administrator's action).",
            f"sign in again: '{LOGIN} {flag}'.",
        ),
        "70043": SignInAdvice(
            "The saved sign-in is too old for this tenant's Conditional Access sign-in frequency.",
            f"sign in again: '{LOGIN} {flag}'.",
        ),
    }
    return table.get(code or "")


# What --auth azure-cli cannot do for fix, said wherever a suggestion names it to a run
# that will fix: the Azure CLI's token has no role-management scope (Azure/azure-cli#26471).
AZURE_CLI_FIX_CAVEAT = (
    " (for fix: with --auth azure-cli the Global Administrator change is not offered, since the "
    "Azure CLI's token cannot use Graph's role management; the other fixes work)"
)


def explain(code: str | None, message: str, *, tenant: str | None = None, authority: str | None = None,
            for_fix: bool = False) -> str:
    """The one line the user sees for a failed sign-in: the explanation and suggestion
    when the code is known, else the identity platform's own first line. `for_fix`: a
    suggestion of --auth azure-cli says what that mode cannot do for fix."""
    advice = advice_for(code, tenant=tenant, authority=authority)
    if advice is None:
        return message
    line = advice.line()
    return line.rstrip(".") + AZURE_CLI_FIX_CAVEAT + "." if for_fix and "--auth azure-cli" in line else line
