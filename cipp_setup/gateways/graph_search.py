"""Microsoft Graph reads for the wizard's pickers: a few matches by prefix, never a listing.

Every query is one server-side `$filter=startswith(...)` with `$top`, and only its first
page is read: a tenant with a hundred thousand users answers in one round trip with at
most `limit` rows, and the admin narrows the prefix instead of scrolling. This is the
query the Entra and Azure portals' own people pickers send.

A subclass of `GraphGateway` so it shares the request path, the retry policy and the
error classification (status and Graph error code, never message text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cipp_setup.gateways.graph import (
    _APP_SELECT,
    ApplicationInfo,
    DirectoryUser,
    GraphGateway,
    _app,
    _query,
    _s,
    build_graph_client,
    quote,
)

if TYPE_CHECKING:
    from cipp_setup.gateways.auth import AdminSession
    from cipp_setup.gateways.retry import RetryPolicy

DEFAULT_LIMIT = 15
_USER_SELECT = ["id", "userPrincipalName", "displayName", "accountEnabled"]


def user_prefix_filter(prefix: str) -> str:
    """`startswith(userPrincipalName,'p') or startswith(displayName,'p')`."""
    literal = quote(prefix)
    return f"startswith(userPrincipalName,{literal}) or startswith(displayName,{literal})"


class GraphSearch(GraphGateway):
    """Prefix look-ups for people and applications (first page only)."""

    @classmethod
    def for_session(cls, session: AdminSession, retry: RetryPolicy | None = None) -> GraphSearch:
        from cipp_setup.gateways.auth import AsyncCredentialAdapter

        client = build_graph_client(
            session.cloud, AsyncCredentialAdapter(session.credential), session.graph_scopes
        )
        return cls(client, retry)

    async def users_starting_with(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[DirectoryUser]:
        """Users whose UPN or display name starts with `prefix` (case-insensitive)."""
        prefix = prefix.strip()
        if not prefix:
            raise ValueError("a user search needs a prefix: never list the directory")
        builder = self._client.users
        config = _query(builder, filter=user_prefix_filter(prefix), select=_USER_SELECT, top=limit)
        page = await self._get(f"users starting with {prefix!r}", builder, config)
        return [
            DirectoryUser(
                id=_s(u.get("id")), user_principal_name=u.get("userPrincipalName") or "",
                display_name=u.get("displayName") or "", account_enabled=u.get("accountEnabled"),
            )
            for u in ((page or {}).get("value") or [])[:limit]
        ]

    async def applications_starting_with(self, prefix: str, limit: int = DEFAULT_LIMIT) -> list[ApplicationInfo]:
        """App registrations whose display name starts with `prefix` ("CIPP")."""
        prefix = prefix.strip()
        if not prefix:
            raise ValueError("an application search needs a prefix: never list every app")
        builder = self._client.applications
        config = _query(
            builder, filter=f"startswith(displayName,{quote(prefix)})", select=_APP_SELECT, top=limit
        )
        page = await self._get(f"applications starting with {prefix!r}", builder, config)
        return [_app(a) for a in ((page or {}).get("value") or [])[:limit]]
