"""Saved API details ("profiles"): what `Set-CIPPAPIDetails` keeps, kept between runs.

A profile names one CIPP API client: the tenant, the API URL and the client id. Those
are not secret and live in `profiles.json` in the user's config directory (platformdirs;
`CIPP_SETUP_CONFIG_DIR` overrides it, for tests and portable installs). The client
secret never goes there: it goes to the OS keyring (`keyring`: Windows Credential
Manager, macOS Keychain, Secret Service on a Linux desktop) under the service
`cipp-setup` and the profile's name.

Headless Linux has no keyring (keyring picks its `fail` backend). Only when the user
opts in explicitly (`--insecure-store-secret` or `CIPP_SETUP_INSECURE_STORE_SECRET=1`)
does the secret go to `profile-secrets.json` beside the config instead, created with
0600 permissions (owner only) where the OS has them; the CLI warns when it does.

Every write is atomic (a temporary file in the same directory, fsync'd, then renamed),
so a crash never leaves half a config behind. This module never prints; its errors are
`ProfileError` with a one-line message the CLI shows as a usage error.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cipp_setup.shell import env

CONFIG_DIR_ENV = "CIPP_SETUP_CONFIG_DIR"
INSECURE_STORE_ENV = "CIPP_SETUP_INSECURE_STORE_SECRET"
CONFIG_FILE_NAME = "profiles.json"
SECRETS_FILE_NAME = "profile-secrets.json"
KEYRING_SERVICE = "cipp-setup"
CONFIG_VERSION = 1

# Where a profile's secret lives.
STORE_KEYRING = "keyring"
STORE_FILE = "file"
STORE_NONE = "none"
SECRET_STORES = (STORE_KEYRING, STORE_FILE, STORE_NONE)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ProfileError(Exception):
    """Bad or missing profile data; str() is one line for the user (exit code 2)."""


class NoKeyringError(ProfileError):
    """No OS keyring is usable and the user did not opt in to the file fallback."""


@dataclass(frozen=True)
class Profile:
    name: str
    tenant: str
    api_url: str
    api_client_id: str
    secret_store: str = STORE_NONE  # keyring | file | none


@dataclass
class ProfileConfig:
    profiles: dict[str, Profile] = field(default_factory=dict)
    default_profile: str | None = None


def env_flag(name: str, environ: Any = None) -> bool:
    """A yes/no environment variable: 1, true, yes, on (any case) mean yes."""
    env = os.environ if environ is None else environ
    return str(env.get(name, "")).strip().lower() in ("1", "true", "yes", "on")


def validate_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ProfileError(
            f"profile name: expected letters, digits, '.', '_' or '-' (up to 64, starting with a "
            f"letter or digit), got {name!r}"
        )
    return name


# --- paths and atomic files --------------------------------------------------------------


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs  # lazily: only the profile commands need it

    # roaming=True: on Windows the details follow the user (%APPDATA%), like az's config.
    return Path(platformdirs.user_config_dir("cipp-setup", appauthor=False, roaming=True))


def config_path() -> Path:
    return config_dir() / CONFIG_FILE_NAME


def secrets_file_path() -> Path:
    return config_dir() / SECRETS_FILE_NAME


def write_file_atomically(path: Path, text: str, *, private: bool = False) -> None:
    """Replace `path` with `text` in one step. `private`: owner-only (0600) where the OS
    has POSIX permissions (on Windows the file inherits the user profile's ACL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if not private:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path} is not a text file (not UTF-8); fix or delete it") from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProfileError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    if not isinstance(value, dict):
        raise ProfileError(f"{path}: expected a JSON object; fix or delete it")
    return value


# --- the config file ---------------------------------------------------------------------


def load_config() -> ProfileConfig:
    data = _read_json(config_path())
    if data is None:
        return ProfileConfig()
    path = config_path()
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise ProfileError(f"{path}: 'profiles' must be an object; fix or delete it")
    profiles: dict[str, Profile] = {}
    for name, raw in raw_profiles.items():
        if not isinstance(raw, dict):
            raise ProfileError(f"{path}: profile {name!r} must be an object")
        try:
            profile = Profile(
                name=name, tenant=str(raw["tenant"]), api_url=str(raw["api_url"]),
                api_client_id=str(raw["api_client_id"]),
                secret_store=str(raw.get("secret_store", STORE_NONE)),
            )
        except KeyError as exc:
            raise ProfileError(f"{path}: profile {name!r} lacks {exc.args[0]!r}") from None
        if profile.secret_store not in SECRET_STORES:
            raise ProfileError(f"{path}: profile {name!r} has an unknown secret_store {profile.secret_store!r}")
        profiles[name] = profile
    default = data.get("default_profile")
    return ProfileConfig(profiles, default if isinstance(default, str) and default in profiles else None)


def save_config(config: ProfileConfig) -> None:
    data = {
        "version": CONFIG_VERSION,
        "default_profile": config.default_profile,
        "profiles": {
            name: {k: v for k, v in asdict(p).items() if k != "name"}
            for name, p in sorted(config.profiles.items())
        },
    }
    write_file_atomically(config_path(), json.dumps(data, indent=2) + "\n")


def get_profile(name: str, config: ProfileConfig | None = None) -> Profile:
    config = config or load_config()
    profile = config.profiles.get(name)
    if profile is None:
        known = ", ".join(sorted(config.profiles)) or "none yet"
        raise ProfileError(
            f"--profile: no profile named {name!r} (saved profiles: {known}; add one with "
            f"'cipp-setup profile add {name} ...')"
        )
    return profile


# --- the secret ----------------------------------------------------------------------------


def keyring_available() -> bool:
    """Is there a real OS keyring? keyring falls back to its `fail` backend (every call
    raises) or, when configured so, the `null` one (stores nothing): both mean no."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring install is "no keyring"
        return False
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return True


def _keyring_user(name: str) -> str:
    return f"profile:{name}"


def _read_secret_file() -> dict[str, str]:
    data = _read_json(secrets_file_path()) or {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


def _write_secret_file(secrets: dict[str, str]) -> None:
    path = secrets_file_path()
    if not secrets:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    write_file_atomically(path, json.dumps(secrets, indent=2, sort_keys=True) + "\n", private=True)


def store_secret(name: str, secret: str, *, allow_file: bool) -> str:
    """Keep `secret` for profile `name`; returns the store used (keyring or file).

    The file is used only when no keyring exists and `allow_file` (the explicit opt-in).
    """
    if keyring_available():
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(KEYRING_SERVICE, _keyring_user(name), secret)
            return STORE_KEYRING
        except KeyringError as exc:
            if not allow_file:
                raise NoKeyringError(
                    f"the OS keyring refused to store the secret ({type(exc).__name__}); pass "
                    f"--insecure-store-secret (or set {INSECURE_STORE_ENV}=1) to keep it in a "
                    "file only your account can read"
                ) from None
    elif not allow_file:
        raise NoKeyringError(
            "no OS keyring is available to keep the client secret (on Linux: no Secret "
            "Service such as GNOME Keyring or KWallet is running). Pass --insecure-store-secret "
            f"(or set {INSECURE_STORE_ENV}=1) to keep it in a file only your account can "
            "read, or save the profile with --no-secret and give the secret on each run "
            f"({env('CIPP_API_CLIENT_SECRET')} or --client-secret-stdin)"
        )
    secrets = _read_secret_file()
    secrets[name] = secret
    _write_secret_file(secrets)
    return STORE_FILE


def read_secret(profile: Profile) -> str | None:
    """The profile's saved secret, or None when it has none (or its store lost it)."""
    if profile.secret_store == STORE_KEYRING:
        if not keyring_available():
            return None
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, _keyring_user(profile.name)) or None
        except KeyringError:
            return None
    if profile.secret_store == STORE_FILE:
        return _read_secret_file().get(profile.name) or None
    return None


def delete_secret(profile: Profile) -> None:
    if profile.secret_store == STORE_KEYRING and keyring_available():
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, _keyring_user(profile.name))
        except (PasswordDeleteError, KeyringError):
            pass  # already gone: the goal is reached
    secrets = _read_secret_file()
    if profile.name in secrets:
        del secrets[profile.name]
        _write_secret_file(secrets)


def secret_location(profile: Profile) -> str:
    """Where the secret lives, in words for `profile list` (never the secret)."""
    if profile.secret_store == STORE_KEYRING:
        return f"OS keyring (service {KEYRING_SERVICE}, user {_keyring_user(profile.name)})"
    if profile.secret_store == STORE_FILE:
        return f"file {secrets_file_path()} (unencrypted, owner-only)"
    return f"not saved (give {env('CIPP_API_CLIENT_SECRET')} or --client-secret-stdin)"


# --- the operations ------------------------------------------------------------------------


def add_profile(profile: Profile, secret: str | None, *, replace: bool, allow_file: bool) -> Profile:
    """Save `profile` (and its secret unless None); the first profile becomes the default."""
    validate_name(profile.name)
    config = load_config()
    existing = config.profiles.get(profile.name)
    if existing is not None and not replace:
        raise ProfileError(
            f"profile {profile.name!r} already exists; pass --replace to overwrite it, or "
            f"'cipp-setup profile remove {profile.name}' first"
        )
    store = STORE_NONE
    if secret is not None:
        store = store_secret(profile.name, secret, allow_file=allow_file)
    if existing is not None and existing.secret_store != store:
        delete_secret(existing)  # never leave the old copy behind in the other store
    saved = Profile(profile.name, profile.tenant, profile.api_url, profile.api_client_id, store)
    config.profiles[profile.name] = saved
    if config.default_profile is None:
        config.default_profile = profile.name
    save_config(config)
    return saved


def remove_profile(name: str) -> Profile:
    config = load_config()
    profile = get_profile(name, config)
    delete_secret(profile)
    del config.profiles[name]
    if config.default_profile == name:
        config.default_profile = None
    save_config(config)
    return profile


def use_profile(name: str) -> Profile:
    config = load_config()
    profile = get_profile(name, config)
    config.default_profile = name
    save_config(config)
    return profile
