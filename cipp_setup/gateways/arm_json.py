"""ARM documents as the service sends them, through azure-mgmt-* operations.

A read-modify-write must not pass through an SDK model: a model keeps only the fields
its (possibly older) API version knows, and its `as_dict()` shape differs between SDK
generations (azure-mgmt-web 7.x flattens `properties` away; 8+ keeps them). So the
operations are called with azure-core's `cls` hook, which hands over the HTTP response
before any model is involved, and bodies are sent as JSON bytes, which every operation
since azure-mgmt-web 7.1 passes through untouched (7.0 deserialized a dict into a model
first, dropping what the model does not know: pyproject.toml asks for 7.1 or later).
"""

from __future__ import annotations

import json
from typing import Any


def raw_json(pipeline_response: Any, _deserialized: Any, _headers: Any) -> Any:
    """azure-core `cls` hook: the response body exactly as ARM sent it (None when empty)."""
    response = pipeline_response.http_response
    body = response.text() if callable(getattr(response, "text", None)) else ""
    return json.loads(body) if body else None


def json_body(document: Any) -> bytes:
    """A request body that the operation sends as it is (no model, no serializer)."""
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def as_object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
