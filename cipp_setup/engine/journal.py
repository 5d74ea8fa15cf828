"""The change journal: an append-only record of every write the tool makes to a tenant.

One JSON object per line in `journal.jsonl` in the user's state directory (platformdirs;
`CIPP_SETUP_STATE_DIR` overrides it, for tests and portable installs). Every write gets
two records:

- an ``intent`` before the request goes out: when, tenant, check, action, the object it
  targets (ids), and the previous value where the write changes one;
- an ``outcome`` after it: applied / already-present / failed / already-gone, and the id
  of the object created.

Each record is flushed and fsync'd before the write (or the next step) proceeds, so a
crash or Ctrl-C between the two leaves an intent without an outcome, which the next run
reports as "interrupted change: verify …". An interrupted change stops being reported
once a later run completes the same action on the same target (a re-run converged).

The journal never holds a secret or a token: `record_intent` / `record_outcome` accept
plain ids and values only, refuse `Secret` objects and anything shaped like a token, and
there is no free-text field a caller could paste an error body into unchecked.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from cipp_setup.engine.result import Secret

JOURNAL_FILE_NAME = "journal.jsonl"
STATE_DIR_ENV = "CIPP_SETUP_STATE_DIR"
RECORD_VERSION = 1

# Outcome statuses. "already-gone" is a removal whose object had already disappeared.
APPLIED = "applied"
ALREADY_PRESENT = "already-present"
ALREADY_GONE = "already-gone"
FAILED = "failed"
OUTCOME_STATUSES = frozenset({APPLIED, ALREADY_PRESENT, ALREADY_GONE, FAILED})

# Strings that must never be journaled, whatever field they arrive in: a JWT (three
# base64url segments, the first starting with eyJ), a bearer header, or something long
# and unbroken enough to be a client secret or refresh token. Ids, scopes, role names,
# UPNs and ARM scopes all stay well clear of these.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")
_BEARER = re.compile(r"(?i)\bbearer\s+\S")
_SECRETISH = re.compile(r"[A-Za-z0-9~._\-+=]{60,}")
# Entra ID client secret values: three characters, a digit, "Q~", then 31-34 more.
_ENTRA_SECRET = re.compile(r"[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}")
_MAX_STRING = 400


class JournalValueError(ValueError):
    """A value offered to the journal is not a plain id/value (or looks like a secret)."""


class JournalUnusable(Exception):
    """The journal file cannot be read or written at all (a directory, no permission);
    str() is one line naming the file and what to do (exit 2)."""

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"journal {path}: {problem}; {remedy}")
        self.path = path


def state_dir() -> Path:
    """Where cipp-setup keeps its state; created on first use."""
    override = os.environ.get(STATE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs  # lazily: only commands that write need it

    return Path(platformdirs.user_state_dir("cipp-setup", appauthor=False))


def default_journal_path() -> Path:
    return state_dir() / JOURNAL_FILE_NAME


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _check_plain(value: Any, where: str) -> Any:
    """Return `value` if it is a plain JSON value free of anything secret-shaped."""
    if isinstance(value, Secret):
        raise JournalValueError(f"{where}: a Secret cannot be written to the journal")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        if len(value) > _MAX_STRING:
            raise JournalValueError(f"{where}: value too long for a plain id ({len(value)} chars)")
        if any(p.search(value) for p in (_JWT, _BEARER, _ENTRA_SECRET, _SECRETISH)):
            raise JournalValueError(f"{where}: value looks like a token or secret; refused")
        return value
    if isinstance(value, (list, tuple)):
        return [_check_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise JournalValueError(f"{where}: keys must be strings")
            out[k] = _check_plain(v, f"{where}.{k}")
        return out
    raise JournalValueError(f"{where}: {type(value).__name__} is not a plain value")


_INTENT_STRINGS = ("change_id", "run_id", "at", "tenant_id", "check_id", "action")
_OUTCOME_STRINGS = ("change_id", "status")
_OPTIONAL_STRINGS = ("reverts", "object_id", "error_cause", "error_code", "at", "run_id")


def _well_formed(record: Mapping[str, Any]) -> bool:
    """A record this version can use: the fields it reads have the types it wrote."""
    kind = record.get("kind")
    if kind == "run":  # a run's options, for revert (record_run)
        return isinstance(record.get("tenant_id"), str) and isinstance(record.get("options"), Mapping)
    required = _INTENT_STRINGS if kind == "intent" else _OUTCOME_STRINGS if kind == "outcome" else None
    if required is None:
        return False
    if kind == "outcome" and not (isinstance(record.get("status"), str) and record["status"] in OUTCOME_STATUSES):
        return False
    if not all(isinstance(record.get(name), str) for name in required if name in record or name == "change_id"):
        return False
    if kind == "intent" and not isinstance(record.get("target", {}), Mapping):
        return False
    return all(record.get(name) is None or isinstance(record.get(name), str) for name in _OPTIONAL_STRINGS)


@dataclass(frozen=True)
class JournalEntry:
    """One intent, with its outcome when there is one."""

    change_id: str
    at: str
    tenant_id: str
    check_id: str
    action: str
    target: Mapping[str, Any]  # ids that name the object (principal, role, scope, ...)
    previous: Any  # the value the write replaces, when it changes one
    run_id: str
    reverts: str | None = None  # change_id this write undoes (revert)
    outcome: str | None = None  # None: interrupted (no outcome was recorded)
    outcome_at: str | None = None
    object_id: str | None = None
    error_cause: str | None = None
    error_code: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.outcome is None

    @property
    def created_object(self) -> bool:
        """The tool itself created the object (not found already present)."""
        return self.outcome == APPLIED

    def target_key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.action, json.dumps(dict(self.target), sort_keys=True))

    def describe(self) -> str:
        """One line naming the change, for the 'interrupted change: verify …' report."""
        parts = ", ".join(f"{k} {v}" for k, v in self.target.items())
        return f"{self.action} ({parts}) for check {self.check_id} in tenant {self.tenant_id}, started {self.at}"


class Journal:
    """Append-only JSON-lines journal; safe to share between runs, one writer at a time."""

    def __init__(self, path: Path | None = None, *, now: Callable[[], str] = _now_iso) -> None:
        self.path = path if path is not None else default_journal_path()
        self._now = now
        self.run_id = str(uuid.uuid4())
        self.damaged_lines = 0  # lines the last read skipped (see _records)

    # ----- writing -----

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND: each line lands whole at the end even if two runs overlap.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._unusable(exc, "cannot be written") from None
        try:
            # A damaged last line (a crash mid-write) must not swallow this record.
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = "\n" + line
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                return handle.read(1) == b"\n"
        except OSError:
            return True

    def _unusable(self, exc: OSError, what: str) -> JournalUnusable:
        if self.path.is_dir():
            return JournalUnusable(
                self.path, "is a directory, not the journal file",
                f"move it away (cipp-setup recreates the journal), or set {STATE_DIR_ENV} to another directory",
            )
        return JournalUnusable(
            self.path, f"{what} ({exc.strerror or exc})",
            f"check its permissions, or set {STATE_DIR_ENV} to a directory you can write",
        )

    def preflight(self) -> None:
        """Before any write goes out: the journal must be usable, or nothing is changed
        (a change the journal cannot record could never be reverted)."""
        if self.path.is_dir():
            raise self._unusable(IsADirectoryError(21, "Is a directory"), "cannot be written")
        try:
            if self.path.exists():  # opened, never created: a dry run leaves no journal behind
                os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND))
                return
        except OSError as exc:
            raise self._unusable(exc, "cannot be written") from None
        folder = self.path.parent
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise self._unusable(PermissionError(13, f"{folder} is not a folder this user can write in"),
                                 "cannot be created")

    def record_intent(
        self,
        *,
        tenant_id: str,
        check_id: str,
        action: str,
        target: Mapping[str, Any],
        previous: Any = None,
        reverts: str | None = None,
    ) -> str:
        """Write the intent record; returns the change id the outcome must quote."""
        change_id = str(uuid.uuid4())
        self._append({
            "v": RECORD_VERSION,
            "kind": "intent",
            "change_id": change_id,
            "run_id": self.run_id,
            "at": self._now(),
            "tenant_id": _check_plain(tenant_id, "tenant_id"),
            "check_id": _check_plain(check_id, "check_id"),
            "action": _check_plain(action, "action"),
            "target": _check_plain(dict(target), "target"),
            "previous": _check_plain(previous, "previous"),
            "reverts": _check_plain(reverts, "reverts"),
        })
        return change_id

    def record_outcome(
        self,
        change_id: str,
        status: str,
        *,
        object_id: str | None = None,
        error_cause: str | None = None,
        error_code: str | None = None,
    ) -> None:
        if status not in OUTCOME_STATUSES:
            raise JournalValueError(f"unknown outcome status {status!r}")
        self._append({
            "v": RECORD_VERSION,
            "kind": "outcome",
            "change_id": change_id,
            "run_id": self.run_id,
            "at": self._now(),
            "status": status,
            "object_id": _check_plain(object_id, "object_id"),
            "error_cause": _check_plain(error_cause, "error_cause"),
            "error_code": _check_plain(error_code, "error_code"),
        })

    def record_run(self, *, tenant_id: str, options: Mapping[str, str]) -> None:
        """The options of a run that changed the tenant (flag → value: cloud or cloud
        file, generation, CIPP-SAM user, subscription...), so `revert` needs none of them
        again. Plain values only, like every record; never a secret."""
        self._append({
            "v": RECORD_VERSION,
            "kind": "run",
            "run_id": self.run_id,
            "at": self._now(),
            "tenant_id": _check_plain(tenant_id, "tenant_id"),
            "options": _check_plain({str(k): str(v) for k, v in options.items()}, "options"),
        })

    def run_options(self) -> list[tuple[str, dict[str, str]]]:
        """(tenant id, options) of every recorded run, oldest first."""
        out: list[tuple[str, dict[str, str]]] = []
        for record in self._records():
            if record.get("kind") == "run" and isinstance(record.get("options"), dict):
                out.append((str(record.get("tenant_id", "")), {str(k): str(v) for k, v in record["options"].items()}))
        return out

    # ----- reading -----

    def _records(self) -> Iterator[dict[str, Any]]:
        """The readable records. A damaged line (cut short by a crash, bytes that are not
        UTF-8, a record of the wrong shape) is skipped and counted in `damaged_lines`, so
        revert still works from the readable part; a journal that cannot be read at all
        raises JournalUnusable."""
        self.damaged_lines = 0
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._unusable(exc, "cannot be read") from None
        for raw in data.splitlines():
            raw = raw.strip()
            if not raw:
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                # A line cut short by a crash mid-write: the intent it belonged to has
                # no outcome, so it is reported as interrupted; skip the fragment.
                self.damaged_lines += 1
                continue
            if isinstance(record, dict) and _well_formed(record):
                yield record
            else:
                self.damaged_lines += 1

    def entries(self, tenant_id: str | None = None) -> list[JournalEntry]:
        """Every intent in file order, joined with its outcome (None when interrupted)."""
        intents: dict[str, dict[str, Any]] = {}
        outcomes: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for record in self._records():
            kind = record.get("kind")
            cid = record.get("change_id")
            if not isinstance(cid, str):
                continue
            if kind == "intent":
                intents[cid] = record
                order.append(cid)
            elif kind == "outcome":
                outcomes[cid] = record
        out: list[JournalEntry] = []
        for cid in order:
            i = intents[cid]
            if tenant_id is not None and str(i.get("tenant_id", "")).lower() != tenant_id.lower():
                continue
            o = outcomes.get(cid, {})
            out.append(JournalEntry(
                change_id=cid,
                at=str(i.get("at", "")),
                tenant_id=str(i.get("tenant_id", "")),
                check_id=str(i.get("check_id", "")),
                action=str(i.get("action", "")),
                target=dict(i.get("target") or {}),
                previous=i.get("previous"),
                run_id=str(i.get("run_id", "")),
                reverts=i.get("reverts"),
                outcome=o.get("status"),
                outcome_at=o.get("at"),
                object_id=o.get("object_id"),
                error_cause=o.get("error_cause"),
                error_code=o.get("error_code"),
            ))
        return out

    def interrupted(self, tenant_id: str | None = None) -> list[JournalEntry]:
        """Intents with no outcome that no later run has completed since.

        A later intent for the same action on the same target that did get an outcome
        means the change was re-run and converged; the earlier interruption is then moot.
        """
        entries = self.entries(tenant_id)
        pending: list[JournalEntry] = []
        for index, entry in enumerate(entries):
            if not entry.interrupted or entry.run_id == self.run_id:
                continue
            key = entry.target_key()
            resolved = any(
                later.target_key() == key and later.outcome in (APPLIED, ALREADY_PRESENT, ALREADY_GONE)
                for later in entries[index + 1:]
            )
            if not resolved:
                pending.append(entry)
        return pending


class RunInProgress(Exception):
    """Another cipp-setup run holds this tenant's journal lock; str() is one line."""


def _lock_name(tenant_id: str) -> str:
    safe = re.sub(r"[^a-z0-9.-]", "_", tenant_id.lower())[:80] or "tenant"
    return f".journal-{safe}.lock"


class TenantLock:
    """One run at a time may change a tenant (per journal): the second waits, saying so,
    then gives up naming the other run, so a change is never applied twice and never
    reported as "interrupted" while it is merely in flight in another process."""

    def __init__(self, journal: Journal, tenant_id: str) -> None:
        from filelock import FileLock

        self.path = journal.path.parent / _lock_name(tenant_id)
        self._lock = FileLock(str(self.path))

    def acquire(self, wait_s: float, on_wait: Callable[[str], None] | None = None) -> None:
        from filelock import Timeout

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._lock.acquire(timeout=0)
                return
            except Timeout:
                pass
            if on_wait is not None:
                on_wait(f"Another cipp-setup run is changing this tenant; waiting up to {wait_s:.0f} s for it to finish "
                        f"(lock: {self.path}).")
            self._lock.acquire(timeout=wait_s)
        except Timeout:
            raise RunInProgress(
                f"another cipp-setup run is still changing this tenant (lock {self.path}); "
                "run again when it has finished"
            ) from None
        except OSError as exc:
            raise JournalUnusable(self.path, f"the lock cannot be taken ({exc.strerror or exc})",
                                  f"check the permissions of {self.path.parent}") from None

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()


def run_summary(journal: Journal, tenant_id: str | None = None) -> tuple[list[JournalEntry], list[JournalEntry]]:
    """This run's writes as the journal has them: (landed, may have landed). For the
    message of an interrupted run: every change that landed or may have, by name."""
    mine = [e for e in journal.entries(tenant_id) if e.run_id == journal.run_id]
    landed = [e for e in mine if e.outcome == APPLIED]
    in_flight = [e for e in mine if e.outcome is None]
    return landed, in_flight


def interrupted_run_message(journal: Journal, verb: str = "changed") -> str:
    """One line: what an interrupted run changed (or may have), named from the journal."""
    landed, in_flight = run_summary(journal)

    def name(entry: JournalEntry) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in entry.target.items())
        return f"{entry.action} ({parts})" + (f" -> {entry.object_id}" if entry.object_id else "")

    said = []
    if landed:
        said.append(f"{verb}: " + "; ".join(name(e) for e in landed))
    if in_flight:
        said.append("in flight, may have landed: " + "; ".join(name(e) for e in in_flight)
                    + " (the next run reads it back)")
    return "Interrupted; " + (". ".join(said) if said else f"nothing was {verb}") + "."


def interrupted_messages(entries: Iterable[JournalEntry]) -> list[str]:
    """Lines for the admin: what may or may not have been written."""
    return [f"interrupted change: verify {e.describe()}" for e in entries]
