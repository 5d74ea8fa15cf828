"""The sandbox's Microsoft Graph v1.0 service.

`GraphService(state, tokens, urls).handle(request)` answers what Graph answers for the
calls cipp-setup (and the SDKs under it) make:

- authentication: a bearer token this sandbox's authority signed, for the Graph resource
  (`aud` "https://graph.microsoft.com" or Graph's appId), from this tenant; otherwise
  401 InvalidAuthenticationToken;
- routing under /v1.0/ (unknown segments: 400 "Resource not found for the segment ...");
- authorization per operation (graph_authz.PERMISSIONS: the token's scopes/app roles and,
  for delegated calls, the signed-in user's active directory roles);
- replication lag: objects written here carry `state.new_visibility()` and stay out of
  reads until it passes;
- JSON batching (POST /v1.0/$batch).

Handlers live in graph_directory.py (users, groups, roles, PIM) and graph_apps.py
(applications, service principals, consent, policies, organization); OData parsing and
paging in graph_odata.py; wire shapes in graph_wire.py.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from .. import wellknown as wk
from .graph_apps import AppHandlers, split_alternate_key
from .graph_base import Call, Reply
from .graph_directory import DirectoryHandlers
from .graph_odata import GraphError, method_not_allowed, segment_not_found
from .http import Headers, Request, Response, SandboxUrls
from .state import TenantState
from .clouds import graph_audiences
from .tokens import TokenAuthority, caller_from_claims

GRAPH_AUDIENCES = frozenset({"https://graph.microsoft.com", "https://graph.microsoft.com/",
                             wk.MICROSOFT_GRAPH_APP_ID, "00000003-0000-0000-c000-000000000000/"})
ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
MAX_BATCH_REQUESTS = 20


class GraphService(DirectoryHandlers, AppHandlers):
    name = "graph"

    def __init__(self, state: TenantState, tokens: TokenAuthority, urls: SandboxUrls) -> None:
        super().__init__(state, tokens, urls)
        self._routes: dict[str, Callable[[Call, list[str]], Reply]] = {
            "me": self.handle_me,
            "users": self.handle_users,
            "groups": self.handle_groups,
            "directoryRoles": self.handle_directory_roles,
            "roleManagement": self.handle_role_management,
            "applications": self.handle_applications,
            "servicePrincipals": self.handle_service_principals,
            "oauth2PermissionGrants": self.handle_grants,
            "policies": self.handle_policies,
            "organization": self.handle_organization,
        }
        self._routes_lower = {name.lower(): handler for name, handler in self._routes.items()}

    # --- entry point -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or request_id
        try:
            call = self._authenticate(request)
            if call.segments == ["$batch"]:
                reply = self._batch(call)
            else:
                reply = self._dispatch(call)
        except GraphError as err:
            reply = Reply(err.status, self.error_body(err, request_id, client_request_id), dict(err.headers))
            if err.status == 401:
                reply.headers["WWW-Authenticate"] = (
                    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                    f'client_id="{wk.MICROSOFT_GRAPH_APP_ID}"')
        return self._to_response(reply, request_id, client_request_id)

    def error_body(self, err: GraphError, request_id: str, client_request_id: str) -> dict[str, Any]:
        now = dt.datetime.fromtimestamp(self.state.clock.now(), tz=dt.timezone.utc)
        return {"error": {"code": err.code, "message": err.message, "innerError": {
            "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": client_request_id,
        }}}

    def _to_response(self, reply: Reply, request_id: str, client_request_id: str) -> Response:
        headers = {"request-id": request_id, "client-request-id": client_request_id, "Cache-Control": "no-cache"}
        body = b""
        if isinstance(reply.body, str):
            body = reply.body.encode("utf-8")
            headers["Content-Type"] = "text/plain"
        elif reply.body is not None:
            body = json.dumps(reply.body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = ODATA_JSON if reply.status < 400 else "application/json"
            headers["OData-Version"] = "4.0"
        headers.update(reply.headers)
        return Response(status=reply.status, body=body, headers=headers)

    # --- authentication ----------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Call:
        token = request.bearer_token()
        if not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        claims = self.tokens.verify(token)
        if claims is None:
            raise GraphError(401, "InvalidAuthenticationToken", self._why_invalid(token))
        if str(claims.get("aud", "")) not in graph_audiences(self.state):  # the posed cloud's
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        if str(claims.get("tid", "")).lower() != self.state.tenant_id.lower():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid issuer.")
        caller = caller_from_claims(claims, self.state)
        request.caller = caller.object_id if caller.kind == "user" else (caller.app_id or caller.object_id)
        return self._call(request, caller, request.method, request.path, request.query)

    def _why_invalid(self, token: str) -> str:
        """Graph's message for a token that failed validation (the sandbox checks the same things)."""
        if token.count(".") != 2:
            return "IDX14100: JWT is not well formed, there are no dots (.)."
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return "IDX14100: JWT is not well formed."
        exp = unverified.get("exp")
        if isinstance(exp, (int, float)) and self.state.clock.now() >= exp:
            return "Lifetime validation failed, the token is expired."
        return "Access token validation failure."

    def _call(self, request: Request, caller: Any, method: str, path: str, query: dict[str, str]) -> Call:
        return Call(request=request, caller=caller, method=method.upper(), segments=self._segments(path),
                    query=query, path=path)

    @staticmethod
    def _segments(path: str) -> list[str]:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "v1.0":
            version = parts[0] if parts else ""
            raise GraphError(400, "BadRequest", f"Invalid version: {version}")
        return parts[1:]

    # --- routing -------------------------------------------------------------------------------

    def _dispatch(self, call: Call) -> Reply:
        if not call.segments:
            raise GraphError(400, "BadRequest", "Resource not found for the segment ''.")
        head, rest = call.segments[0], call.segments[1:]
        alternate = split_alternate_key(head)
        if alternate is not None:
            collection, app_id = alternate
            if collection.lower() == "applications":
                return self.handle_applications(call, rest, app_id_key=app_id)
            return self.handle_service_principals(call, rest, app_id_key=app_id)
        # Graph's segment names are case-insensitive (the docs themselves write "serviceprincipals").
        route = self._routes_lower.get(head.lower())
        if route is None:
            if head == "$batch":
                raise method_not_allowed()
            raise segment_not_found(head)
        return route(call, rest)

    # --- JSON batching ----------------------------------------------------------------------

    def _batch(self, outer: Call) -> Reply:
        """POST /v1.0/$batch: each sub-request runs (and is authorized) on its own."""
        if outer.method != "POST":
            raise method_not_allowed()
        payload = outer.body()
        requests = payload.get("requests")
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH_REQUESTS:
            raise GraphError(400, "BadRequest",
                             f"Invalid batch payload: the number of requests ({len(requests)}) exceeds the limit "
                             f"of {MAX_BATCH_REQUESTS}.")
        ids = [str(r.get("id")) if isinstance(r, dict) else "" for r in requests]
        if len(set(ids)) != len(ids) or any(not i or i == "None" for i in ids):
            raise GraphError(400, "BadRequest", "Invalid batch payload: request ids must be present and unique.")
        status_by_id: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        for sub in requests:
            sub_id = str(sub["id"])
            depends = sub.get("dependsOn") or []
            if any(status_by_id.get(str(d), 424) >= 400 for d in depends):
                status_by_id[sub_id] = 424
                responses.append({"id": sub_id, "status": 424, "headers": {"Content-Type": "application/json"},
                                  "body": self.error_body(GraphError(424, "FailedDependency",
                                                                     "Failed dependency."),
                                                          str(uuid.uuid4()), str(uuid.uuid4()))})
                continue
            response = self._run_sub_request(outer, sub)
            status_by_id[sub_id] = response["status"]
            responses.append({"id": sub_id, **response})
        return Reply(200, {"responses": responses})

    def _run_sub_request(self, outer: Call, sub: dict[str, Any]) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        url = str(sub.get("url") or "")
        method = str(sub.get("method") or "").upper()
        try:
            if not url or not method:
                raise GraphError(400, "BadRequest", "Invalid request: 'url' and 'method' are required.")
            split = urlsplit(url)
            if split.scheme or split.netloc:
                raise GraphError(400, "BadRequest", "Invalid request: batch urls must be relative.")
            path = "/v1.0/" + unquote(split.path).lstrip("/")
            query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            # A sub-request carries only its own headers; the batch's token authorizes it.
            sub_headers = Headers({"Authorization": outer.request.headers.get("Authorization") or ""})
            for key, value in (sub.get("headers") or {}).items():
                sub_headers[str(key)] = str(value)
            body = sub.get("body")
            if body is not None and not sub_headers.get("Content-Type"):
                raise GraphError(400, "BadRequest", "Content-Type header is required when a body is present.")
            raw_body = json.dumps(body).encode("utf-8") if body is not None else b""
            inner = Request(method=method, path=path, raw_path=url, query=query, headers=sub_headers,
                            body=raw_body, client_ip=outer.request.client_ip)
            call = self._call(inner, outer.caller, method, path, query)
            if call.segments and call.segments[0] == "$batch":
                raise GraphError(400, "BadRequest", "Nested batch requests are not supported.")
            reply = self._dispatch(call)
        except GraphError as err:
            reply = Reply(err.status, self.error_body(err, request_id, request_id))
        headers = {"Cache-Control": "no-cache", "x-ms-resource-unit": "1"}
        if isinstance(reply.body, dict):
            headers["OData-Version"] = "4.0"
            headers["Content-Type"] = ODATA_JSON if reply.status < 400 else "application/json"
        elif isinstance(reply.body, str):
            headers["Content-Type"] = "text/plain"
        headers.update(reply.headers)
        out: dict[str, Any] = {"status": reply.status, "headers": headers}
        if reply.body is not None:
            out["body"] = reply.body
        return out
