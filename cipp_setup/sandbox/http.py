"""Request and response values passed between the sandbox transport and its services.

Each emulated service (identity platform, Graph, ARM, CIPP, front end, processor) is a
plain object with `name` and `handle(request) -> Response`; the transport owns sockets,
TLS, faults, latency and the request log, so services contain only service behaviour and
can be unit-tested without a socket.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs


class Headers:
    """Case-insensitive header map (SDKs send headers in different cases)."""

    def __init__(self, items: dict[str, str] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for k, v in (items or {}).items():
            self[k] = v

    def __setitem__(self, key: str, value: str) -> None:
        self._items[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def get(self, key: str, default: str | None = None) -> str | None:
        item = self._items.get(key.lower())
        return item[1] if item else default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def items(self) -> list[tuple[str, str]]:
        return list(self._items.values())


@dataclass
class Request:
    method: str
    path: str  # percent-decoded path, no query string
    raw_path: str  # the request target as sent (path and query, still encoded)
    query: dict[str, str]  # first value of each query parameter, decoded
    headers: Headers
    body: bytes = b""
    client_ip: str = "127.0.0.1"
    # Filled in by services that authenticate the caller, for the request log.
    caller: str | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def bearer_token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Set by the transport's fault layer: drop the connection instead of answering.
    reset_connection: bool = False


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    h = {"Content-Type": "application/json; charset=utf-8"}
    h.update(headers or {})
    return Response(status=status, body=body, headers=h)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, body=b"", headers=dict(headers or {}))


class Service(Protocol):
    name: str

    def handle(self, request: Request) -> Response: ...


@dataclass(frozen=True)
class SandboxUrls:
    """Base URL (https://127.0.0.1:PORT, no trailing slash) of each emulated host."""

    idp: str  # the identity platform: authority host
    graph: str  # Microsoft Graph (requests go to {graph}/v1.0/...)
    arm: str  # Azure Resource Manager
    cipp: str  # the CIPP API Function App (the right API URL)
    frontend: str  # the CIPP Static Web App front end (a wrong API URL)
    processor: str  # an offloaded CIPP processor Function App (a wrong API URL)
