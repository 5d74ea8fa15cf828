"""Shared machinery of the sandbox Graph handlers: the call, authorization, replication,
collection and entity responses.

`GraphBase` is the base class of the handler mixins (graph_directory.py, graph_apps.py)
and of `GraphService` (graph.py), so every handler authorizes, hides unreplicated
objects and pages the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import graph_wire as w
from .graph_authz import PERMISSIONS, token_allows, user_allowed
from .graph_odata import (
    GraphError,
    apply_select,
    context_url,
    count_requested,
    decode_skiptoken,
    next_link,
    page_size,
    take_page,
)
from .http import Request, SandboxUrls
from .state import TenantState, Visibility
from .tokens import Caller, TokenAuthority

T = TypeVar("T")

DENIED_MESSAGE = "Insufficient privileges to complete the operation."

# Operations whose app-only permission Application.ReadWrite.OwnedBy reaches only the
# objects the calling app owns.
_OWNED_BY_OPERATIONS = {"applications.write", "servicePrincipals.write", "servicePrincipals.create"}


@dataclass
class Call:
    """One Graph request being answered: what was asked, by whom."""

    request: Request
    caller: Caller
    method: str
    segments: list[str]  # path segments after /v1.0
    query: dict[str, str]
    path: str  # the path as addressed, /v1.0/...
    extra_headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    @property
    def eventual(self) -> bool:
        return (self.header("ConsistencyLevel") or "").lower() == "eventual"

    def body(self) -> dict[str, Any]:
        try:
            data = self.request.json()
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                             "Content-Type header is set and payload is of valid JSON format.") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                             "Content-Type header is set and payload is of valid JSON format.")
        return data


@dataclass
class Reply:
    """What a handler answers: a status and a JSON body (None for no content)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphBase:
    name = "graph"

    def __init__(self, state: TenantState, tokens: TokenAuthority, urls: SandboxUrls) -> None:
        self.state = state
        self.tokens = tokens
        self.urls = urls

    # --- replication -------------------------------------------------------------------

    def visible(self, obj: Any) -> bool:
        vis: Visibility | None = getattr(obj, "visibility", None)
        return vis is None or self.state.is_visible(vis)

    def find(self, table: dict[str, T], object_id: str) -> T:
        """An object by id, or 404 Request_ResourceNotFound (also while not yet replicated)."""
        obj = table.get(object_id) or table.get(object_id.lower())
        if obj is None or not self.visible(obj):
            raise GraphError404(object_id)
        return obj

    def directory_object(self, object_id: str) -> dict[str, Any] | None:
        """A user, group or service principal as a polymorphic directoryObject, if visible."""
        state = self.state
        if (u := state.users.get(object_id)) is not None and self.visible(u):
            return {"@odata.type": "#microsoft.graph.user", **w.user_wire(u, state)}
        if (g := state.groups.get(object_id)) is not None and self.visible(g):
            return {"@odata.type": "#microsoft.graph.group", **w.group_wire(g, state)}
        if (sp := state.service_principals.get(object_id)) is not None and self.visible(sp):
            return {"@odata.type": "#microsoft.graph.servicePrincipal", **w.service_principal_wire(sp, state)}
        return None

    # --- authorization -----------------------------------------------------------------

    def active_role_templates(self, user_id: str, object_scope: str | None = None) -> set[str]:
        """Directory role templates the user holds *now*: direct or via role-assignable groups.

        Assignments scoped to one object (directoryScopeId "/{objectId}") count only for
        that object. PIM eligibilities never count; expired activations do not either.
        """
        state = self.state
        now = state.clock.now()
        principals = [user_id] + [g.id for g in state.transitive_groups_of(user_id)
                                  if g.is_assignable_to_role and self.visible(g)]
        scopes = {"/"} | ({f"/{object_scope}"} if object_scope else set())
        out: set[str] = set()
        for principal in principals:
            for ra in state.role_assignments_for(principal):
                if ra.directory_scope_id not in scopes or not self.visible(ra):
                    continue
                if ra.end_time is not None and ra.end_time <= now:
                    continue
                definition = state.role_definitions.get(ra.role_definition_id)
                out.add((definition.template_id or definition.id) if definition else ra.role_definition_id)
        return out

    def authorize(self, call: Call, operation: str, owners: Iterable[str] = (),
                  object_scope: str | None = None) -> None:
        """Graph's two-step check (see graph_authz); 403 Authorization_RequestDenied if it fails."""
        rule = PERMISSIONS[operation]
        caller = call.caller
        owner_ids = set(owners)
        if not token_allows(rule, caller):
            if rule.scope_checked_by_service and caller.kind == "user":
                raise GraphError(403, "PermissionScopeNotGranted",
                                 "Authorization failed due to missing permission scope "
                                 f"{','.join(sorted(rule.delegated))}.")
            raise GraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)
        if caller.kind == "app":
            broad = caller.roles & (rule.application - {"Application.ReadWrite.OwnedBy"})
            if operation in _OWNED_BY_OPERATIONS and not broad and caller.object_id not in owner_ids:
                raise GraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)
            return
        roles = self.active_role_templates(caller.object_id, object_scope) if rule.user_roles else set()
        if not user_allowed(rule, roles, caller.object_id in owner_ids):
            raise GraphError(403, "Authorization_RequestDenied", DENIED_MESSAGE)

    # --- responses ---------------------------------------------------------------------

    def collection(
        self,
        call: Call,
        entity_set: str,
        items: Iterator[dict[str, Any]] | list[dict[str, Any]],
        *,
        select: Sequence[str] | None = None,
        expand: Sequence[str] = (),
        directory_objects: bool = True,
        context: str | None = None,
    ) -> Reply:
        """A paged collection: @odata.context, @odata.count if asked, @odata.nextLink, value.

        `items` are wire dictionaries already filtered; this applies $orderby, $count,
        paging and $select. `directory_objects` marks collections where Graph requires
        `ConsistencyLevel: eventual` for `$count`.
        """
        wants_count = count_requested(call.query)
        if wants_count and directory_objects and not call.eventual:
            raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")
        order = call.query.get("$orderby")
        total: int | None = None
        if order or wants_count:
            materialized = list(items)
            if order:
                materialized = _order(materialized, order)
            total = len(materialized) if wants_count else None
            items = materialized
        size = page_size(call.query)
        offset = decode_skiptoken(call.query.get("$skiptoken"))
        page = take_page(iter(items), offset, size)
        body: dict[str, Any] = {
            "@odata.context": context or context_url(self.urls.graph, entity_set, select, expand=expand)
        }
        if total is not None:
            body["@odata.count"] = total
        if page.next_offset is not None:
            body["@odata.nextLink"] = next_link(self.urls.graph, call.path, call.query, page.next_offset)
        body["value"] = [_select_keep(item, select, expand) for item in page.items]
        return Reply(200, body)

    def entity(self, entity_set: str, item: dict[str, Any], select: Sequence[str] | None = None,
               expand: Sequence[str] = (), status: int = 200) -> Reply:
        body = {"@odata.context": context_url(self.urls.graph, entity_set, select, entity=True, expand=expand)}
        body.update(_select_keep(item, select, expand))
        return Reply(status, body)


class GraphError404(GraphError):
    def __init__(self, object_id: str) -> None:
        super().__init__(
            404,
            "Request_ResourceNotFound",
            f"Resource '{object_id}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )


def _select_keep(item: dict[str, Any], select: Sequence[str] | None, expand: Sequence[str]) -> dict[str, Any]:
    out = apply_select(item, select)
    for name in expand:
        if name in item and name not in out:
            out[name] = item[name]
    return out


def _order(items: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    keys: list[tuple[str, bool]] = []
    for part in order.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        keys.append((bits[0], len(bits) > 1 and bits[1].lower() == "desc"))
    for prop, desc in reversed(keys):
        items.sort(key=lambda it: (it.get(prop) is None, str(it.get(prop) or "").lower()), reverse=desc)
    return items

