"""A sign-in that sticks: azure-identity's persistent token cache plus an account record.

`cipp-setup login` signs the admin in once with the token cache persisted
(`TokenCachePersistenceOptions(name=cache_name())`, one name per state directory) and keeps the `AuthenticationRecord`
it returns in `sign-in.json` in the state directory. The record is an account pointer
(authority, client id, tenant, home account id, user name), never a token: the tokens
stay in the cache, which msal-extensions encrypts with the OS (DPAPI on Windows, the
Keychain on macOS, libsecret on Linux).

Later runs find the record for their cloud and tenant and hand both to the credential,
which then signs in silently from the refresh token. A non-interactive run
(`disable_automatic_authentication=True`) that cannot do so gets
`AuthenticationRequiredError` at once, which the CLI turns into exit 4 "run
cipp-setup login" instead of waiting on a device code nobody will enter.

Two details of azure-identity 1.27 (read in `_internal/interactive.py`):

- with `authentication_record=` the credential takes its authority *from the record*
  and passing `authority=` as well raises TypeError (a keyword given twice). So the
  record is rebuilt with the authority host this cloud signed in to (a sandbox's
  `127.0.0.1:port`, a sovereign cloud's host) and `authority=` is dropped. msal files
  tokens under that host, so the record must name it exactly or nothing is found.
- on Linux without usable libsecret (headless, SSH) the cache cannot be encrypted, and
  azure-identity raises unless `allow_unencrypted_storage=True`. That fallback (a file
  with 0600 permissions in ~/.IdentityService) is used only when the user opts in
  (`--allow-unencrypted-token-cache` or `CIPP_SETUP_ALLOW_UNENCRYPTED_TOKEN_CACHE=1`),
  and the opt-in is remembered in the record so later runs can read the cache.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cipp_setup.cloud import Cloud

if TYPE_CHECKING:
    from azure.identity import AuthenticationRecord, TokenCachePersistenceOptions

CACHE_NAME_PREFIX = "cipp-setup"
RECORDS_FILE_NAME = "sign-in.json"
UNENCRYPTED_ENV = "CIPP_SETUP_ALLOW_UNENCRYPTED_TOKEN_CACHE"
RECORDS_VERSION = 1
# azure-identity's cache file suffixes (azure.identity._constants): non-CAE and CAE caches.
_CACHE_SUFFIXES = (".nocae", ".cae")


class UnencryptedCacheRefused(Exception):
    """The cache cannot be encrypted here and the user has not opted in to a plain file."""


@dataclass(frozen=True)
class CacheChoice:
    """How `login` persists the cache: `allow_unencrypted` only after the explicit opt-in."""

    allow_unencrypted: bool


@dataclass(frozen=True)
class SavedSignIn:
    authority: str  # the authority host the sign-in used, as `host[:port]`
    tenant: str  # --tenant as given (lower case): a GUID or a domain
    tenant_id: str  # the tenant id the identity platform answered with
    username: str
    record: str  # AuthenticationRecord.serialize(): an account pointer, no token
    unencrypted: bool  # the token cache is a plain file (the user opted in at login)


def authority_netloc(cloud: Cloud) -> str:
    """`login.microsoftonline.com`, `127.0.0.1:50123`: how records name an authority."""
    parts = urlsplit(cloud.authority_host if "//" in cloud.authority_host else f"https://{cloud.authority_host}")
    return parts.netloc.lower()


def records_path() -> Path:
    from cipp_setup.engine.journal import state_dir

    return state_dir() / RECORDS_FILE_NAME


# --- encryption ---------------------------------------------------------------------------


def encryption_available() -> bool:
    """Can msal-extensions encrypt the cache on this machine? (Windows and macOS: yes;
    Linux: only when libsecret loads and answers, which needs PyGObject and a session bus.)"""
    if sys.platform.startswith("win") or sys.platform == "darwin":
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        from msal_extensions.libsecret import trial_run

        trial_run()
    except Exception:  # noqa: BLE001 - ImportError (no gi), no bus, no keyring daemon...
        return False
    return True


def unencrypted_opt_in(flag: bool, environ: Any = None) -> bool:
    from cipp_setup.profiles import env_flag

    return flag or env_flag(UNENCRYPTED_ENV, environ)


def cache_name() -> str:
    """The token cache's name, one per state directory: azure-identity keeps every named
    cache in one place (~/.IdentityService, the Keychain, DPAPI files), so a fixed name
    would share tokens between installs with different state directories (a token from
    one sandbox handed to another with the same tenant id), and `logout` in one would
    delete the other's. The name is derived from where this install's state lives."""
    import hashlib

    from cipp_setup.engine.journal import state_dir

    where = str(state_dir().expanduser().absolute()).encode("utf-8", "surrogatepass")
    return f"{CACHE_NAME_PREFIX}-{hashlib.sha256(where).hexdigest()[:16]}"


def persistence_options(allow_unencrypted: bool) -> TokenCachePersistenceOptions:
    from azure.identity import TokenCachePersistenceOptions

    return TokenCachePersistenceOptions(name=cache_name(), allow_unencrypted_storage=allow_unencrypted)


def cache_files() -> list[Path]:
    """Where azure-identity keeps this cache (its layout: `_persistent_cache._get_persistence`):
    the store itself on Windows and for the plain-file fallback, the change-signal file
    beside libsecret / the Keychain."""
    if sys.platform.startswith("win") and "LOCALAPPDATA" in os.environ:
        base = Path(os.environ["LOCALAPPDATA"]) / ".IdentityService"
    else:
        base = Path(os.path.expanduser(os.path.join("~", ".IdentityService")))
    files = []
    for suffix in _CACHE_SUFFIXES:
        path = base / f"{cache_name()}{suffix}"
        files += [path, path.with_name(path.name + ".lockfile")]
    return files


# --- the records --------------------------------------------------------------------------


def load_saved() -> list[SavedSignIn]:
    path = records_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []  # unreadable: as if never logged in; `login` rewrites it
    saved: list[SavedSignIn] = []
    for raw in data.get("sign_ins", []) if isinstance(data, dict) else []:
        try:
            saved.append(SavedSignIn(
                authority=str(raw["authority"]), tenant=str(raw["tenant"]),
                tenant_id=str(raw["tenant_id"]), username=str(raw["username"]),
                record=str(raw["record"]), unencrypted=bool(raw.get("unencrypted", False)),
            ))
        except (KeyError, TypeError):
            continue
    return saved


def _write_saved(saved: list[SavedSignIn]) -> None:
    from dataclasses import asdict

    from cipp_setup.profiles import write_file_atomically

    path = records_path()
    if not saved:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    text = json.dumps({"version": RECORDS_VERSION, "sign_ins": [asdict(s) for s in saved]}, indent=2) + "\n"
    write_file_atomically(path, text, private=True)


def find_saved(cloud: Cloud, tenant: str) -> SavedSignIn | None:
    """The saved sign-in for this cloud and tenant (given as a domain or as its id)."""
    host = authority_netloc(cloud)
    wanted = tenant.lower()
    for saved in load_saved():
        if saved.authority == host and wanted in (saved.tenant, saved.tenant_id.lower()):
            return saved
    return None


def save_sign_in(cloud: Cloud, tenant: str, record: AuthenticationRecord, *, unencrypted: bool) -> SavedSignIn:
    host = authority_netloc(cloud)
    entry = SavedSignIn(
        authority=host, tenant=tenant.lower(), tenant_id=record.tenant_id,
        username=record.username, record=record.serialize(), unencrypted=unencrypted,
    )
    others = [s for s in load_saved() if not (s.authority == host and s.tenant == entry.tenant)]
    _write_saved(others + [entry])
    return entry


def record_for(saved: SavedSignIn) -> AuthenticationRecord:
    """The saved record, naming the authority host the sign-in used (see the module doc)."""
    from azure.identity import AuthenticationRecord

    original = AuthenticationRecord.deserialize(saved.record)
    return AuthenticationRecord(
        # With the scheme: a bare "localhost:port" would parse as scheme "localhost".
        tenant_id=original.tenant_id, client_id=original.client_id, authority=f"https://{saved.authority}",
        home_account_id=original.home_account_id, username=original.username,
    )


# --- the credential hook ------------------------------------------------------------------


def interactive_credential_options(
    cloud: Cloud, tenant: str, common: dict[str, Any], choice: CacheChoice | None = None
) -> dict[str, Any]:
    """The keyword arguments for a DeviceCode / InteractiveBrowser credential.

    `choice` (login): persist the cache, no record yet. Otherwise a saved sign-in for
    this cloud and tenant, when there is one, adds the cache and the record (and drops
    `authority=`, which the record carries); without one, `common` unchanged.
    """
    if choice is not None:
        return {**common, "cache_persistence_options": persistence_options(choice.allow_unencrypted)}
    saved = find_saved(cloud, tenant)
    if saved is None:
        return common
    options = {k: v for k, v in common.items() if k != "authority"}
    options["authentication_record"] = record_for(saved)
    options["cache_persistence_options"] = persistence_options(saved.unencrypted)
    return options


# --- logout -------------------------------------------------------------------------------


def _wipe_persisted_cache(allow_unencrypted: bool) -> None:
    """Remove every entry from the persisted cache, wherever the OS keeps it (a Keychain
    or libsecret item outlives the signal file). Best effort: a store that cannot be
    opened holds nothing this tool can use either."""
    try:
        from azure.identity._persistent_cache import _load_persistent_cache
        from msal import TokenCache
    except ImportError:
        return
    kinds = TokenCache.CredentialType
    for is_cae in (False, True):
        try:
            cache = _load_persistent_cache(persistence_options(allow_unencrypted), is_cae=is_cae)
            removers = ((kinds.REFRESH_TOKEN, cache.remove_rt), (kinds.ACCESS_TOKEN, cache.remove_at),
                        (kinds.ID_TOKEN, cache.remove_idt), (kinds.ACCOUNT, cache.remove_account))
            for kind, remove in removers:
                for entry in list(cache.search(kind)):
                    remove(entry)
        except Exception:  # noqa: BLE001, S112 - see the docstring
            continue


def forget_all() -> list[SavedSignIn]:
    """`logout`: the records and the token cache go; returns the sign-ins forgotten."""
    saved = load_saved()
    # Every store keeps a file at these paths (the store, or its change signal): without
    # one there is nothing to wipe, and opening the store would create its directory.
    if any(path.exists() for path in cache_files()):
        _wipe_persisted_cache(any(s.unencrypted for s in saved) or not encryption_available())
    for path in cache_files():
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # a locked file on Windows: its entries were wiped above
    _write_saved([])
    return saved


# --- one token request at a time over a persisted cache --------------------------------------


class SerializedCredential:
    """A credential whose token requests run one at a time.

    msal-extensions' cache re-reads its store whenever the file changed and does so
    without the lock writers take (optimistic reads). With the plain-file store a
    second thread can read the file while a first one is rewriting it (truncate, then
    write), find it empty, and conclude there is no account: the Graph and ARM token
    requests of one run raced like this and the run failed with "sign-in required".
    Serialising the requests of this process removes the race; silent tokens come from
    memory in microseconds, so the cost is one refresh waiting for another.
    """

    def __init__(self, inner: Any) -> None:
        import threading

        self._inner = inner
        self._lock = threading.Lock()
        # azure-core asks get_token_info of any credential that has it; azure-identity
        # before 1.18 has none, so the wrapper offers it only where the inner one does.
        if hasattr(inner, "get_token_info"):
            self.get_token_info = self._get_token_info

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        with self._lock:
            return self._inner.get_token(*scopes, **kwargs)

    def _get_token_info(self, *scopes: str, options: Any = None) -> Any:
        with self._lock:
            return self._inner.get_token_info(*scopes, options=options)

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:  # authenticate(), ... pass through
        return getattr(self._inner, name)


def guard_credential(credential: Any, *, cloud: Cloud, tenant: str, auth: str) -> Any:
    """`credential`, serialised when it reads a saved sign-in's persisted cache."""
    if auth in ("device-code", "browser") and find_saved(cloud, tenant) is not None:
        return SerializedCredential(credential)
    return credential
