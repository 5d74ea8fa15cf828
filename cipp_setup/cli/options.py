"""Common options, input validation, and the usage-error style every command shares.

Everything here is stdlib only: `cipp-setup --help` builds the whole parser, so this
module must stay cheap to import (no rich, no SDKs).

Bad input always ends the same way: one line on stderr naming the option and what was
expected, exit 2, never a traceback. argparse's own "usage: ... error: ..." block is
replaced by raising `UsageError` from `CliParser.error`, and validators raise it
directly with the option's name.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from cipp_setup.shell import env
from urllib.parse import urlsplit

PROG = "cipp-setup"

# Exit codes (gh, az, Terraform conventions; see docs in README "Exit codes").
EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_SIGN_IN_REQUIRED = 4
EXIT_INTERRUPTED = 130

SECRET_ENV = "CIPP_API_CLIENT_SECRET"
AUTH_METHODS = ("device-code", "browser", "azure-cli", "client-secret")
GENERATIONS = ("legacy", "current", "auto")
# Clouds the sandbox can pose as (cipp_setup/sandbox/clouds.py has their resource URIs).
SANDBOX_CLOUDS = ("public", "usgov", "usgov-dod", "china")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A DNS name with at least two labels (contoso.onmicrosoft.com, contoso.com).
_DOMAIN = re.compile(
    r"^(?=.{4,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$"
)
# UPN: a local part without spaces or a second @, then a domain as above.
_UPN_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


class UsageError(Exception):
    """Bad input from the user. str() is the one line shown on stderr; exit code 2."""


def usage_error(option: str, expected: str, got: str | None = None) -> UsageError:
    """`--tenant: expected a tenant id (GUID) or a domain, got 'x y'`."""
    suffix = f", got {got!r}" if got is not None else ""
    return UsageError(f"{option}: expected {expected}{suffix}")


# --- validators: pure functions (value) -> normalised value, raising UsageError -------


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def parse_guid(option: str, value: str) -> str:
    value = value.strip()
    if not is_guid(value):
        raise usage_error(option, "a GUID such as 00000000-0000-0000-0000-000000000000", value)
    return value.lower()


def parse_tenant(value: str, option: str = "--tenant") -> str:
    value = value.strip()
    if is_guid(value):
        return value.lower()
    if _DOMAIN.match(value):
        return value.lower()
    raise usage_error(
        option, "a tenant id (GUID) or a domain such as contoso.onmicrosoft.com", value
    )


def parse_upn(value: str, option: str) -> str:
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if at and _UPN_LOCAL.match(local) and _DOMAIN.match(domain) and not local.startswith("."):
        return value
    raise usage_error(option, "a user principal name such as cipp-sam@contoso.com", value)


def parse_user(value: str, option: str = "--sam-user") -> str:
    """A user given by object id (GUID) or UPN."""
    value = value.strip()
    if is_guid(value):
        return value.lower()
    if "@" not in value:
        raise usage_error(
            option, "a user principal name (name@domain) or a user object id (GUID)", value
        )
    return parse_upn(value, option)


def parse_api_url(value: str, option: str = "--api-url") -> str:
    """The CIPP API URL, normalised to `https://host[:port]` with no path.

    Accepted with or without a trailing slash or `/api` (people copy it from different
    places); `http://`, anything with a query or another path, and malformed URLs are
    usage errors — the token would be sent in clear, or to the wrong place.
    """
    raw = value.strip()
    expected = "an https:// URL such as https://cippxxxxx.azurewebsites.net"
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError for a non-numeric port
    except ValueError:
        raise usage_error(option, expected, raw) from None
    if parts.scheme.lower() == "http":
        raise UsageError(
            f"{option}: expected an https:// URL (the API token must not travel in clear), got {raw!r}"
        )
    if parts.scheme.lower() != "https" or not parts.hostname or parts.username or parts.password:
        raise usage_error(option, expected, raw)
    if parts.query or parts.fragment:
        raise usage_error(option, expected + " without a query or fragment", raw)
    host = parts.hostname.lower()
    if not (_DOMAIN.match(host) or host == "localhost" or re.match(r"^\d{1,3}(\.\d{1,3}){3}$", host)):
        raise usage_error(option, expected, raw)
    from cipp_setup.cloud import is_valid_host

    if not is_valid_host(host):  # 999.999.999.999: four numbers that are no IPv4 address
        raise usage_error(option, expected + " (the host is neither a DNS name nor an IP address)", raw)
    path = parts.path.rstrip("/")
    if path.lower() == "/api":
        path = ""
    if path:
        raise usage_error(option, expected + " (the Function App's address, optionally ending in /api)", raw)
    netloc = host if port is None else f"{host}:{port}"
    return f"https://{netloc}"


def parse_ca_bundle(value: str, option: str = "--ca-bundle") -> str:
    """A readable PEM file of CA certificates, as an absolute path (ssl only: stdlib)."""
    from cipp_setup.gateways.transport import TransportConfigError, validate_ca_bundle

    try:
        return validate_ca_bundle(value.strip())
    except TransportConfigError as exc:
        raise UsageError(str(exc)) from None


_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]$")
_SITE_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.Web/sites/[A-Za-z0-9-]{2,60}/?$",
    re.IGNORECASE,
)


def parse_function_app(value: str, option: str = "--function-app") -> str:
    """A Function App name (2-60 letters, digits, hyphens) or its full resource id."""
    value = value.strip()
    if _SITE_NAME.match(value) or _SITE_ID.match(value):
        return value.rstrip("/")
    raise usage_error(
        option,
        "a Function App name such as cippxxxxx, or its resource id "
        "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name>",
        value,
    )


def parse_cipp_version(value: str, option: str = "--cipp-version") -> str:
    """A CIPP version as CIPP shows it: 7.3.1, 7.4, v10.8.2."""
    from cipp_setup.engine.result import version_numbers

    numbers = version_numbers(value)
    if numbers is None:
        raise usage_error(option, "a CIPP version such as 7.3.1 or 10.8.2 (CIPP shows it in its menu)", value)
    return ".".join(str(n) for n in numbers)


def parse_secret(value: str, source: str) -> str:
    """A client secret; `source` names where it came from (env var or stdin)."""
    secret = value.strip()
    if not secret:
        raise UsageError(f"{source}: expected the API client's secret value, got an empty value")
    if not secret.isascii() or not secret.isprintable():
        # Entra secrets are printable ASCII; anything else is a paste gone wrong (or bytes
        # that are not text), which the identity platform would only answer with a 401.
        raise UsageError(
            f"{source}: the secret holds a character that is not printable ASCII (a client secret "
            "value never does); copy the secret's Value column again"
        )
    return secret


def parse_check_ids(values: Sequence[str], option: str, known: Sequence[str]) -> frozenset[str]:
    """--only / --ignore: ids separated by spaces or commas; every id must exist."""
    ids: list[str] = []
    for value in values:
        ids.extend(part for part in re.split(r"[,\s]+", value.strip()) if part)
    if not ids:
        raise usage_error(option, "one or more check ids (see 'cipp-setup explain')")
    for check_id in ids:
        if check_id not in known:
            raise usage_error(option, f"a check id, one of {', '.join(known)}", check_id)
    return frozenset(ids)


# --- argparse with the project's error style ------------------------------------------


def _translate_argparse_message(message: str) -> str:
    """Turn argparse's messages into 'what was wrong / what was expected' lines."""
    m = re.match(r"unrecognized arguments: (.+)$", message)
    if m:
        first = m.group(1).split()[0]
        if first.startswith("-"):
            return f"unknown option {first}"
        return f"unexpected argument {first!r}"
    m = re.match(r"argument (\S+): invalid choice: '?([^' ]*)'? \(choose from (.+)\)$", message)
    if m:
        name, got, choices = m.groups()
        choices = choices.replace("'", "")
        if name.startswith("-"):
            return f"{name.split('/')[-1]}: expected one of {choices}, got {got!r}"
        return f"unknown command {got!r}: expected one of {choices}"
    m = re.match(r"argument (\S+): expected one argument$", message)
    if m:
        return f"{m.group(1).split('/')[-1]}: expected a value after it"
    m = re.match(r"argument (\S+): expected at least one argument$", message)
    if m:
        return f"{m.group(1).split('/')[-1]}: expected at least one value after it"
    m = re.match(r"argument (\S+): ignored explicit argument '(.*)'$", message)
    if m:
        return f"{m.group(1).split('/')[-1]}: takes no value, got {m.group(2)!r}"
    m = re.match(r"the following arguments are required: (.+)$", message)
    if m:
        return f"missing {m.group(1)}"
    m = re.match(r"argument (\S+): invalid \S+ value: '(.*)'$", message)
    if m:
        return f"{m.group(1).split('/')[-1]}: expected a whole number, got {m.group(2)!r}"
    m = re.match(r"argument (\S+): (.+)$", message)
    if m:
        return f"{m.group(1).split('/')[-1]}: {m.group(2)}"
    return message


class CliParser(argparse.ArgumentParser):
    """argparse, but errors raise UsageError instead of printing usage and exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # --ten must not silently mean --tenant
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{_translate_argparse_message(message)} (see '{self.prog} --help')")


def validated(option: str, parse: Callable[[str, str], str]) -> Callable[[str], str]:
    """An argparse `type=` that reports errors in the project's style.

    UsageError is not a ValueError, so argparse lets it through untouched.
    """

    def convert(value: str) -> str:
        return parse(value, option)

    convert.__name__ = option.lstrip("-").replace("-", "_")
    return convert


def _guid_type(option: str) -> Callable[[str], str]:
    return validated(option, lambda value, opt: parse_guid(opt, value))


# --- shared option groups -------------------------------------------------------------


REPORT_OPTION = "--report"


def parse_report_dir(value: str) -> str:
    raw = value.strip()
    if not raw:
        raise UsageError(f"{REPORT_OPTION}: expected a directory to write the report files to, got ''")
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{REPORT_OPTION}: expected a directory, got {raw!r}, which is a file")
    # The nearest folder that exists must be one this user can write in: found now, not
    # after the run (an unwritable report directory is bad input, never exit 0).
    existing = path.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{REPORT_OPTION}: cannot create {raw!r}: {str(existing)!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{REPORT_OPTION}: cannot write in {str(existing)!r} (permission denied); choose another folder")
    return raw


def add_report_options(group: Any) -> None:
    """Adds --report and --redact-ids to an argparse group (or parser)."""
    group.add_argument(
        REPORT_OPTION, type=parse_report_dir, metavar="DIR", default=None,
        help="also write report.json, report.md, report.html and junit.xml to DIR, and DIR.zip "
        "(secrets are never written)",
    )
    group.add_argument(
        "--redact-ids", action="store_true",
        help="in the report files, replace tenant ids, user names and object ids by placeholders",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument(
        "--json", action="store_true",
        help="write a versioned JSON report to stdout; human output goes to stderr",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", help="show evidence and informational messages",
    )
    add_report_options(group)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Sign-in and endpoint options: the same meaning on every command that talks to a tenant."""
    group = parser.add_argument_group("sign-in and endpoints")
    group.add_argument(
        "--tenant", type=validated("--tenant", parse_tenant), metavar="ID|DOMAIN",
        help="the tenant to sign in to: tenant id (GUID) or a verified domain",
    )
    group.add_argument(
        "--auth", choices=AUTH_METHODS, default=None,
        help="how the admin signs in (default: browser when one can open, else device code; "
        "client-secret reads AZURE_CLIENT_ID and AZURE_CLIENT_SECRET)",
    )
    group.add_argument(
        "--cloud", metavar="NAME|FILE", default=None,
        help="public (default), usgov, china, or a JSON cloud file (a sandbox ready file works)",
    )
    group.add_argument(
        "--sandbox", metavar="NAME|FILE", default=None,
        help="run against an in-process sandbox tenant loaded from a built-in scenario or file",
    )
    group.add_argument(
        "--sandbox-cloud", choices=SANDBOX_CLOUDS, default=None, metavar="NAME",
        help="with --sandbox: the sandbox poses as this cloud (its Graph and ARM resource URIs); "
        f"one of {', '.join(SANDBOX_CLOUDS)}",
    )
    group.add_argument(
        "--ca-bundle", type=validated("--ca-bundle", parse_ca_bundle), metavar="FILE", default=None,
        help="also trust the CA certificates in this PEM file (a TLS-inspecting proxy's CA); "
        "proxies come from HTTPS_PROXY and NO_PROXY",
    )
    group.add_argument(
        "--non-interactive", action="store_true",
        help="never prompt or wait for a person; fail naming the missing flag instead",
    )
    group.add_argument(
        "--profile", metavar="NAME", default=None,
        help="use the API details saved with 'cipp-setup profile add NAME' (flags given win; "
        "without it the default profile applies when --tenant is absent or matches it)",
    )


def add_cipp_options(parser: argparse.ArgumentParser) -> None:
    """What identifies the CIPP instance in the tenant (used by check, fix, wizard, verify)."""
    group = parser.add_argument_group("CIPP instance")
    group.add_argument(
        "--sam-user", type=validated("--sam-user", parse_user), metavar="UPN|ID",
        help="the CIPP-SAM user (default: the one account the tenant shows as CIPP's; several → exit 2)",
    )
    group.add_argument(
        "--sam-app", type=_guid_type("--sam-app"), metavar="APP_ID",
        help="the CIPP-SAM application's app id (default: the application named CIPP-SAM)",
    )
    group.add_argument(
        "--subscription", type=_guid_type("--subscription"), metavar="ID",
        help="the subscription hosting CIPP (default: the one in --function-app's resource id, else the only one you can see)",
    )
    group.add_argument(
        "--generation", choices=GENERATIONS, default="auto",
        help="which CIPP generation to check: legacy (7.1 and older), current (7.2+, API "
        "clients; whether the CIPP-SAM user (7.2-7.3) or app (7.4+) writes them is decided "
        "from the evidence, --cipp-version or asked), or auto: decided from the tenant, which "
        "says why (default)",
    )
    group.add_argument(
        "--cipp-version", type=validated("--cipp-version", parse_cipp_version), metavar="VERSION",
        help="the version CIPP shows (e.g. 7.3.1): decides the generation and who writes API "
        "clients: 7.1 and older legacy, 7.2-7.3 the CIPP-SAM user, 7.4+ the CIPP-SAM app "
        "(default: from GetVersion once a client works, or the tenant's evidence)",
    )
    group.add_argument(
        "--function-app", type=validated("--function-app", parse_function_app), metavar="NAME|ID",
        help="the CIPP Function App: its name or resource id (default: from the --api-url host "
        "NAME.azurewebsites.net)",
    )
    group.add_argument(
        "--api-url", type=validated("--api-url", parse_api_url), metavar="URL",
        help="the CIPP Function App's https:// URL (with or without /api)",
    )
    group.add_argument(
        "--api-client-id", type=_guid_type("--api-client-id"), metavar="ID",
        help="the CIPP API client's application (client) id",
    )
    group.add_argument(
        "--client-secret-stdin", action="store_true",
        help=f"read the API client secret from stdin (else from {env(SECRET_ENV)}; never an argument)",
    )


def read_api_client_secret(from_stdin: bool, environ: dict[str, str] | None = None) -> str | None:
    """The API client secret from stdin or the environment; never from argv."""
    env = os.environ if environ is None else environ
    if from_stdin:
        if sys.stdin is None:
            raise UsageError("--client-secret-stdin: expected the secret on stdin, but there is no stdin")
        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:
            raise UsageError(
                "--client-secret-stdin: the input is not text (a byte that is not UTF-8); "
                "copy the secret's Value column again"
            ) from None
        return parse_secret(line, "--client-secret-stdin")
    if SECRET_ENV in env:
        return parse_secret(env[SECRET_ENV], SECRET_ENV)
    return None
