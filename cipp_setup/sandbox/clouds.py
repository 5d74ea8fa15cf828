"""Which Microsoft cloud the sandbox poses as: the resource URIs its services accept.

A sovereign cloud differs from the public one, for this tool, in its hosts (which the
sandbox replaces with 127.0.0.1 ports anyway) and in the **resource URIs** tokens are
requested for and carry as `aud`: Microsoft Graph is `https://graph.microsoft.us` in
US Government (L4), `https://dod-graph.microsoft.us` for DoD (L5) and
`https://microsoftgraph.chinacloudapi.cn` in China (learn.microsoft.com/graph/deployments);
Azure Resource Manager is `https://management.usgovcloudapi.net/` /
`https://management.chinacloudapi.cn/`, with the classic service-management URI
`https://management.core.{usgovcloudapi.net,chinacloudapi.cn}/` also accepted, as
`https://management.core.windows.net/` is in the public cloud.

`pose_as(state, name)` rewrites the first-party service principals' resource URIs so the
identity platform hands out tokens for that cloud's URIs only, and records the cloud in
`state.cloud`; Graph and ARM then accept exactly that cloud's audiences, and the runtime's
cloud document names that cloud's resources. A product that asked for the public
cloud's resources against a sandbox posing as usgov is refused, as it would be there.
"""

from __future__ import annotations

from dataclasses import dataclass

from cipp_setup import wellknown
from cipp_setup.sandbox.state import TenantState


@dataclass(frozen=True)
class SandboxCloud:
    name: str
    graph_resource: str  # what the cloud document tells the product to ask for
    arm_resource: str
    arm_resource_uris: tuple[str, ...]  # every URI an ARM token may be requested for


CLOUDS: dict[str, SandboxCloud] = {
    "public": SandboxCloud(
        "public", "https://graph.microsoft.com", "https://management.azure.com/",
        ("https://management.azure.com/", "https://management.core.windows.net/"),
    ),
    "usgov": SandboxCloud(
        "usgov", "https://graph.microsoft.us", "https://management.usgovcloudapi.net/",
        ("https://management.usgovcloudapi.net/", "https://management.core.usgovcloudapi.net/"),
    ),
    "usgov-dod": SandboxCloud(
        "usgov-dod", "https://dod-graph.microsoft.us", "https://management.usgovcloudapi.net/",
        ("https://management.usgovcloudapi.net/", "https://management.core.usgovcloudapi.net/"),
    ),
    "china": SandboxCloud(
        "china", "https://microsoftgraph.chinacloudapi.cn", "https://management.chinacloudapi.cn/",
        ("https://management.chinacloudapi.cn/", "https://management.core.chinacloudapi.cn/"),
    ),
}


def cloud_of(state: TenantState) -> SandboxCloud:
    return CLOUDS[getattr(state, "cloud", "public") or "public"]


def pose_as(state: TenantState, name: str) -> None:
    """Make the sandbox answer as cloud `name` (before it starts). Raises ValueError for
    an unknown cloud."""
    if name not in CLOUDS:
        raise ValueError(f"unknown cloud {name!r}: expected one of {', '.join(CLOUDS)}")
    cloud = CLOUDS[name]
    with state.lock:
        state.cloud = name
        graph_sp = state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
        if graph_sp is not None:
            graph_sp.resource_uris = [cloud.graph_resource]
            graph_sp.service_principal_names = [
                wellknown.MICROSOFT_GRAPH_APP_ID, cloud.graph_resource, cloud.graph_resource + "/",
            ]
        arm_sp = state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
        if arm_sp is not None:
            arm_sp.resource_uris = list(cloud.arm_resource_uris)
            arm_sp.service_principal_names = [wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID, *cloud.arm_resource_uris]


def serve_graph_at(state: TenantState, base_url: str) -> None:
    """Graph's resource id is its URL: a client that takes its endpoints from a cloud
    description (`az cloud register --endpoint-microsoft-graph-resource-id`) asks tokens
    for the base URL it calls. Make that URL name the Graph service principal too."""
    url = base_url.rstrip("/")
    with state.lock:
        state.served_graph_url = url
        graph_sp = state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
        if graph_sp is not None and url not in graph_sp.resource_uris:
            graph_sp.resource_uris.append(url)


def _with_and_without_slash(uris: tuple[str, ...] | list[str]) -> set[str]:
    return {u.rstrip("/") for u in uris} | {u.rstrip("/") + "/" for u in uris}


def graph_audiences(state: TenantState) -> frozenset[str]:
    """`aud` values Graph accepts: the cloud's Graph URI (either spelling) or Graph's appId."""
    cloud = cloud_of(state)
    return frozenset(
        _with_and_without_slash([cloud.graph_resource] + ([state.served_graph_url] if state.served_graph_url else []))
        | {wellknown.MICROSOFT_GRAPH_APP_ID, wellknown.MICROSOFT_GRAPH_APP_ID + "/"}
    )


def arm_audiences(state: TenantState) -> frozenset[str]:
    """`aud` values ARM accepts: the cloud's ARM and service-management URIs, either spelling."""
    return frozenset(_with_and_without_slash(cloud_of(state).arm_resource_uris))


def graph_resource(state: TenantState) -> str:
    return cloud_of(state).graph_resource


def arm_resource(state: TenantState) -> str:
    return cloud_of(state).arm_resource
