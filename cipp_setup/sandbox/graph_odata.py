"""The OData query surface of the sandbox's Microsoft Graph: $filter, $select, paging.

Graph's directory endpoints accept a small, documented subset of OData: `eq`, `ne`,
`in`, `startswith()`, `and`, `or`, `not` and parentheses over simple properties. This
module parses that subset into a tree the handlers evaluate against wire (camelCase)
dictionaries, and exposes the top-level `eq` clauses separately so a handler can answer
`userPrincipalName eq '...'` or `principalId eq '...'` from the tenant's indexes instead
of scanning every object.

Errors are raised as `GraphError` and turned into Graph's error body by the service.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999


class GraphError(Exception):
    """An error Graph answers with `{"error": {"code", "message", "innerError"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def not_found(object_id: str) -> GraphError:
    # The exact text directory endpoints answer for a missing object (see
    # examples/graph_error_404_Request_ResourceNotFound.json).
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def segment_not_found(segment: str) -> GraphError:
    # OData routing's answer for a path segment Graph does not know.
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def method_not_allowed() -> GraphError:
    return GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")


def unsupported_filter(prop: str, resource: str) -> GraphError:
    return GraphError(
        400,
        "Request_UnsupportedQuery",
        f"Unsupported or invalid query filter clause specified for property '{prop}' of "
        f"resource '{resource}'.",
    )


# --- $filter --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
      | (?P<num>-?\d+(?:\.\d+)?(?![\w-]))
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][\w./]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Compare:
    prop: str  # camelCase wire name; may be a path like "principal/displayName" (unused)
    op: str  # "eq" | "ne" | "startswith" | "in"
    value: Any  # str | bool | None | number | tuple for "in"


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Compare | BoolOp | Not


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise bad_request(f"Invalid filter clause: syntax error at position {pos} in '{text}'.",
                                  "BadRequest")
            kind = m.lastgroup or ""
            raw = m.group(kind)
            if kind == "str":
                self.tokens.append(("literal", raw[1:-1].replace("''", "'")))
            elif kind == "guid":
                self.tokens.append(("literal", raw.lower()))
            elif kind == "num":
                self.tokens.append(("literal", float(raw) if "." in raw else int(raw)))
            elif kind == "punct":
                self.tokens.append((raw, raw))
            else:
                low = raw.lower()
                if low in ("true", "false"):
                    self.tokens.append(("literal", low == "true"))
                elif low == "null":
                    self.tokens.append(("literal", None))
                else:
                    self.tokens.append(("word", raw))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0
        self.text = text

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (kind is not None and tok[0] != kind):
            raise bad_request(f"Invalid filter clause: syntax error in '{self.text}'.", "BadRequest")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek() is not None:
            raise bad_request(f"Invalid filter clause: syntax error in '{self.text}'.", "BadRequest")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self._word_is("or"):
            self.take()
            node = BoolOp("or", node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self._word_is("and"):
            self.take()
            node = BoolOp("and", node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        if self._word_is("not"):
            self.take()
            return Not(self.parse_unary())
        tok = self.peek()
        if tok and tok[0] == "(":
            self.take("(")
            node = self.parse_or()
            self.take(")")
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        _, word = self.take("word")
        if word.lower() == "startswith":
            self.take("(")
            _, prop = self.take("word")
            self.take(",")
            _, value = self.take("literal")
            self.take(")")
            return Compare(prop, "startswith", value)
        _, op = self.take("word")
        op = op.lower()
        if op in ("eq", "ne"):
            _, value = self.take("literal")
            return Compare(word, op, value)
        if op == "in":
            self.take("(")
            values: list[Any] = []
            while True:
                values.append(self.take("literal")[1])
                tok = self.take()
                if tok[0] == ")":
                    break
                if tok[0] != ",":
                    raise bad_request(f"Invalid filter clause: syntax error in '{self.text}'.", "BadRequest")
            return Compare(word, "in", tuple(values))
        raise bad_request(f"Invalid filter clause: operator '{op}' is not supported.", "BadRequest")

    def _word_is(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and str(tok[1]).lower() == word


@dataclass(frozen=True)
class Filter:
    root: Node

    @classmethod
    def parse(cls, text: str) -> Filter:
        return cls(_Parser(text).parse())

    def properties(self) -> set[str]:
        out: set[str] = set()

        def walk(n: Node) -> None:
            if isinstance(n, Compare):
                out.add(n.prop)
            elif isinstance(n, BoolOp):
                walk(n.left)
                walk(n.right)
            else:
                walk(n.operand)

        walk(self.root)
        return out

    def comparisons(self) -> list[Compare]:
        out: list[Compare] = []

        def walk(n: Node) -> None:
            if isinstance(n, Compare):
                out.append(n)
            elif isinstance(n, BoolOp):
                walk(n.left)
                walk(n.right)
            else:
                walk(n.operand)

        walk(self.root)
        return out

    def equalities(self) -> dict[str, Any]:
        """`prop eq value` clauses joined by top-level `and`: safe to answer from an index."""
        out: dict[str, Any] = {}

        def walk(n: Node) -> None:
            if isinstance(n, BoolOp) and n.op == "and":
                walk(n.left)
                walk(n.right)
            elif isinstance(n, Compare) and n.op == "eq":
                out.setdefault(n.prop, n.value)
            elif isinstance(n, Compare) and n.op == "in":
                out.setdefault(n.prop, tuple(n.value))  # a tuple: any of these values

        walk(self.root)
        return out

    def matches(self, item: dict[str, Any]) -> bool:
        return _evaluate(self.root, item)


def _norm(v: Any) -> Any:
    # Directory string comparisons are case-insensitive.
    return v.lower() if isinstance(v, str) else v


def _evaluate(n: Node, item: dict[str, Any]) -> bool:
    if isinstance(n, BoolOp):
        if n.op == "and":
            return _evaluate(n.left, item) and _evaluate(n.right, item)
        return _evaluate(n.left, item) or _evaluate(n.right, item)
    if isinstance(n, Not):
        return not _evaluate(n.operand, item)
    actual = item.get(n.prop)
    if n.op == "startswith":
        return isinstance(actual, str) and isinstance(n.value, str) and actual.lower().startswith(n.value.lower())
    if n.op == "in":
        if isinstance(actual, list):
            return any(_norm(a) in {_norm(v) for v in n.value} for a in actual)
        return _norm(actual) in {_norm(v) for v in n.value}
    if isinstance(actual, list):  # e.g. identifierUris/any(...) is not supported; eq on a list is a type error
        raise bad_request(f"Invalid filter clause: '{n.prop}' is a collection.", "BadRequest")
    equal = _norm(actual) == _norm(n.value)
    return equal if n.op == "eq" else not equal


MAX_IN_CLAUSES = 15


def parse_filter(query: dict[str, str], allowed: Iterable[str], resource: str) -> Filter | None:
    """Parse `$filter`, refusing properties this resource does not support filtering on."""
    text = query.get("$filter")
    if text is None:
        return None
    flt = Filter.parse(text)
    # Graph expands `in` into OR clauses and refuses more than 15 in a whole filter
    # (learn.microsoft.com/graph/filter-query-parameter).
    clauses = sum(len(c.value) for c in flt.comparisons() if c.op == "in")
    if clauses > MAX_IN_CLAUSES:
        raise GraphError(400, "Request_UnsupportedQuery",
                         "Too many child clauses specified in search filter expression containing "
                         f"'OR' operators: {clauses}. Max allowed: {MAX_IN_CLAUSES}.")
    allowed_lower = {a.lower(): a for a in allowed}
    for prop in flt.properties():
        if prop.lower() not in allowed_lower:
            raise unsupported_filter(prop, resource)
    # Normalise property names to the wire spelling (OData names are case-sensitive in
    # theory, but Graph's directory accepts any case for filter properties).
    return Filter(_rename(flt.root, allowed_lower))


def _rename(n: Node, names: dict[str, str]) -> Node:
    if isinstance(n, Compare):
        return Compare(names[n.prop.lower()], n.op, n.value)
    if isinstance(n, BoolOp):
        return BoolOp(n.op, _rename(n.left, names), _rename(n.right, names))
    return Not(_rename(n.operand, names))


# --- $select / $expand -----------------------------------------------------------------


def parse_select(query: dict[str, str], known: Iterable[str], type_name: str) -> list[str] | None:
    """The `$select` list in the wire spelling, or None. Unknown names answer 400 as Graph does."""
    text = query.get("$select")
    if not text:
        return None
    by_lower = {k.lower(): k for k in known}
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        wire = by_lower.get(name.lower())
        if wire is None:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        if wire not in out:
            out.append(wire)
    return out


def apply_select(item: dict[str, Any], select: Sequence[str] | None) -> dict[str, Any]:
    """Keep only the selected properties (plus `id` and annotations), in the $select order."""
    if select is None:
        return item
    out: dict[str, Any] = {k: v for k, v in item.items() if k.startswith("@odata.")}
    for name in select:
        if name in item:
            out[name] = item[name]
    if "id" in item and "id" not in out:
        out["id"] = item["id"]
    return out


def parse_expand(query: dict[str, str], allowed: Iterable[str], type_name: str) -> list[str]:
    text = query.get("$expand")
    if not text:
        return []
    by_lower = {a.lower(): a for a in allowed}
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip().split("(")[0]
        if name == "*":
            return list(by_lower.values())
        wire = by_lower.get(name.lower())
        if wire is None:
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        out.append(wire)
    return out


# --- paging ---------------------------------------------------------------------------


def page_size(query: dict[str, str]) -> int:
    raw = query.get("$top")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        top = int(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for $top query option found.") from None
    if top < 1:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for $top query option found.")
    return min(top, MAX_PAGE_SIZE)


def encode_skiptoken(offset: int) -> str:
    # Opaque to clients, as Graph's are; the sandbox only needs the offset back.
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(b"SBX" + raw).decode().rstrip("=")


def decode_skiptoken(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if not raw.startswith(b"SBX"):
            raise ValueError
        offset = int(json.loads(raw[3:])["o"])
        if offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, binascii.Error, json.JSONDecodeError):
        raise GraphError(400, "Directory_ExpiredPageToken",
                         "The specified page token value has expired and can no longer be included "
                         "in your request.") from None


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_offset: int | None


def take_page(items: Iterator[dict[str, Any]], offset: int, size: int) -> Page:
    """Skip `offset` items, take `size`, and look one further to know if a next page exists."""
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if index < offset:
            continue
        if len(out) == size:
            return Page(out, offset + size)
        out.append(item)
    return Page(out, None)


def next_link(base_url: str, path: str, query: dict[str, str], offset: int) -> str:
    """An absolute @odata.nextLink on the sandbox's Graph host, carrying the other options."""
    params = {k: v for k, v in query.items() if k != "$skiptoken"}
    params["$skiptoken"] = encode_skiptoken(offset)
    qs = "&".join(f"{quote(k, safe='$')}={quote(v, safe=chr(39) + ',()')}" for k, v in params.items())
    return f"{base_url}{quote(path, safe='/()=,' + chr(39))}?{qs}"


# --- context URLs ---------------------------------------------------------------------


def context_url(base_url: str, entity_set: str, select: Sequence[str] | None = None,
                entity: bool = False, expand: Sequence[str] = ()) -> str:
    """`@odata.context` as Graph writes it: `{base}/v1.0/$metadata#users(a,b)/$entity`."""
    suffix = ""
    parts: list[str] = list(select or [])
    parts += [f"{e}()" for e in expand]
    if parts:
        suffix = "(" + ",".join(parts) + ")"
    tail = "/$entity" if entity else ""
    return f"{base_url}/v1.0/$metadata#{entity_set}{suffix}{tail}"


def count_requested(query: dict[str, str]) -> bool:
    return query.get("$count", "").lower() == "true"

