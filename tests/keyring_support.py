"""An OS keyring that lives in the test process, and the isolation every profile test needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """What a desktop's keyring does, minus the OS: set with keyring.set_keyring()."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


@contextmanager
def keyring_backend(backend: KeyringBackend | None) -> Iterator[KeyringBackend]:
    """Use `backend` (None: keyring's `fail` backend, as on headless Linux) for a while."""
    previous = keyring.get_keyring()
    chosen = backend if backend is not None else fail.Keyring()
    keyring.set_keyring(chosen)
    try:
        yield chosen
    finally:
        keyring.set_keyring(previous)
