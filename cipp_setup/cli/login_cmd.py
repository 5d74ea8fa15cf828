"""`cipp-setup login` and `cipp-setup logout`: a sign-in kept between runs.

login signs the admin in (device code or browser) with azure-identity's persistent token
cache and saves the account record (cipp_setup.gateways.signin_cache); later runs
against the same cloud and tenant sign in silently, non-interactive ones included.
logout removes the records and the cache. `logout_cmd` is logout's entry in COMMANDS.

Where the OS cannot encrypt the cache (Linux without a usable libsecret: headless
machines, SSH sessions) login refuses unless the user opts in to a plain file
(`--allow-unencrypted-token-cache` or CIPP_SETUP_ALLOW_UNENCRYPTED_TOKEN_CACHE=1), and
says so in a warning when they do: the file holds refresh tokens.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import (
    EXIT_OK,
    EXIT_SIGN_IN_REQUIRED,
    UsageError,
    add_connection_options,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.render.text import Line

NAME = "login"
LOGIN_MODES = ("device-code", "browser")


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="sign in once; later runs (non-interactive ones too) sign in silently",
        description=(
            "Sign the admin in to a tenant and keep the sign-in (azure-identity's persistent "
            "token cache, encrypted by the OS, and an account record in the state directory). "
            "Later runs against the same tenant sign in without asking; 'cipp-setup logout' "
            "forgets it."
        ),
        epilog="Exit codes: 0 signed in, 2 usage error, 4 sign-in failed, 130 interrupted.",
    )
    add_connection_options(parser)
    parser.add_argument(
        "--allow-unencrypted-token-cache", action="store_true",
        help="where the OS cannot encrypt the token cache (Linux without libsecret), keep it in "
        "a file only your account can read (also: CIPP_SETUP_ALLOW_UNENCRYPTED_TOKEN_CACHE=1)",
    )
    parser.add_argument(
        "--for", dest="login_for", choices=("check", "fix"), default="check",
        help="what the sign-in is for: 'check' (read permissions, the default) or 'fix' (the "
        "write permissions too, consented in the same sign-in, so that fix never asks mid-apply)",
    )
    return parser


def _login_mode(run_inputs: RunInputs) -> str:
    from cipp_setup.gateways.auth import default_interactive_mode

    auth = run_inputs.connection.auth or default_interactive_mode()
    if auth == "azure-cli":
        raise UsageError("--auth azure-cli: the Azure CLI keeps its own sign-in ('az login'); "
                         "use --auth azure-cli on each run instead of 'cipp-setup login'")
    if auth == "client-secret":
        raise UsageError("--auth client-secret: a service principal needs no login; set "
                         "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET on each run")
    return auth


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup.cli.profile_cmd import apply_profile
    from cipp_setup.cli.sandbox_session import open_target
    from cipp_setup.gateways import signin_cache

    if run_inputs.connection.sandbox:
        raise UsageError(
            "--sandbox: an in-process sandbox ends with this command, so there is nothing to stay "
            "signed in to; serve one ('cipp-setup sandbox serve --ready-file FILE') and use --cloud FILE"
        )
    if run_inputs.connection.non_interactive:
        raise UsageError("--non-interactive: login needs a person to sign in (device code or browser)")
    auth = _login_mode(run_inputs)
    run_inputs, _ = apply_profile(run_inputs, terminal, None)  # --profile NAME (or the default) gives the tenant
    tenant = run_inputs.identities.tenant
    if tenant is None:
        raise UsageError(
            "--tenant: expected a tenant id (GUID) or a domain such as contoso.onmicrosoft.com "
            "(required: login signs in to an explicit tenant)"
        )
    encrypted = signin_cache.encryption_available()
    if not encrypted:
        if not signin_cache.unencrypted_opt_in(run_inputs.options.allow_unencrypted_token_cache, terminal.environ):
            raise UsageError(
                "this machine cannot encrypt the sign-in cache (no usable libsecret: a headless or "
                "SSH session). Pass --allow-unencrypted-token-cache (or set "
                f"{signin_cache.UNENCRYPTED_ENV}=1) to keep it in a file only your account can read, "
                "or sign in on each run instead"
            )
        files = ", ".join(str(p) for p in signin_cache.cache_files()[:1])
        terminal.status(
            f"warning: the token cache will be stored UNENCRYPTED in {files} (owner-only "
            "permissions): anyone who can read your files can use this sign-in until "
            "'cipp-setup logout'.", "bold yellow",
        )
    with open_target(run_inputs) as target:
        return _sign_in_and_save(run_inputs, tenant, terminal, target.cloud, auth, unencrypted=not encrypted)


def _sign_in_and_save(run_inputs: RunInputs, tenant: str, terminal: Terminal, cloud: Any, auth: str, *,
                      unencrypted: bool) -> int:
    from cipp_setup.gateways import signin_cache
    from cipp_setup.gateways.auth import (
        USE_CAE,
        build_credential,
        consent_notice,
        graph_scopes,
        translate_auth_error,
    )
    from cipp_setup.gateways.errors import SignInFailed, SignInRequired
    from cipp_setup.render.text import signed_in_line

    from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS
    from cipp_setup.gateways.auth import arm_scope

    for_fix = run_inputs.options.login_for == "fix"
    writes = WRITE_GRAPH_PERMISSIONS if for_fix else ()
    scopes = graph_scopes(cloud, auth, write_permissions=writes)
    # Consent is a change to the tenant: say what the consent page will ask, and for whom.
    notice = consent_notice(cloud, auth, for_fix=for_fix)
    if notice:
        from cipp_setup.cli.suggested import run_options
        from cipp_setup.render.text import NOWRAP

        terminal.status(notice, "bold")
        terminal.status("    " + run_options(run_inputs, environ=terminal.environ).command("revert", "--remove-consent"),
                        NOWRAP)
    credential: Any = build_credential(
        cloud=cloud, tenant=tenant, auth=auth, interactive=True,
        device_code_callback=lambda message: terminal.status(message, "bold"),
        cache=signin_cache.CacheChoice(allow_unencrypted=unencrypted),
    )
    try:
        with terminal.progress("Signing in…"):
            record = credential.authenticate(scopes=scopes, enable_cae=USE_CAE)
            # ARM is a second resource: its consent (user_impersonation) is its own page.
            credential.get_token(arm_scope(cloud, auth), enable_cae=USE_CAE)
    except Exception as exc:  # noqa: BLE001 - translated into the project's sign-in errors
        error = translate_auth_error(exc, cloud.authority_host, tenant=tenant)
        if isinstance(error, SignInRequired):
            terminal.error(f"sign-in required: {error}")
            return EXIT_SIGN_IN_REQUIRED
        if isinstance(error, SignInFailed):
            terminal.error(f"sign-in failed: {error}")
            return EXIT_SIGN_IN_REQUIRED
        raise error from None
    saved = signin_cache.save_sign_in(cloud, tenant, record, unencrypted=unencrypted)
    terminal.report([
        signed_in_line(saved.username, saved.tenant_id, tenant),
        (("Later runs with --tenant ", ""), (tenant, "bold"),
         (" sign in from this saved sign-in; 'cipp-setup logout' forgets it.", "")),
    ])
    return EXIT_OK


# --- logout (registered through logout_cmd) -------------------------------------------------


def register_logout(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "logout",
        help="forget the saved sign-in (account records and the token cache)",
        description="Remove every sign-in 'cipp-setup login' saved: the account records in the "
        "state directory and azure-identity's persistent token cache named cipp-setup.",
    )
    return parser


def run_logout(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup.gateways import signin_cache

    forgotten = signin_cache.forget_all()
    if not forgotten:
        terminal.report([(("No saved sign-in; the token cache is cleared.", ""),)])
        return EXIT_OK
    lines: list[Line] = [(("Signed out: ", "bold"), (f"{s.username} in tenant {s.tenant_id} ({s.authority})", ""))
                         for s in forgotten]
    lines.append((("The saved sign-in records and the token cache are removed.", ""),))
    terminal.report(lines)
    return EXIT_OK
