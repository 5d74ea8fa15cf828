"""The four endpoint seams (sign-in authority, Graph, ARM, and the CA to trust) per cloud.

Checks and gateways never name a Microsoft host: they take a `Cloud`. The public,
US Government and China clouds come from the table below; any other set of endpoints
(the sandbox, a test rig) comes from a JSON cloud file — and a sandbox ready file works
as one, because its "cloud" object has the same fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


class CloudError(ValueError):
    """A cloud name or cloud file that cannot be used; str() is one line for the user."""


@dataclass(frozen=True)
class Cloud:
    name: str
    authority_host: str  # https://login.microsoftonline.com
    graph_url: str  # https://graph.microsoft.com (requests go to {graph_url}/v1.0)
    arm_url: str  # https://management.azure.com
    graph_resource: str  # the resource URI a Graph token is requested for
    arm_resource: str  # the resource URI an ARM token is requested for
    ca_file: str | None = None  # extra CA to trust for this cloud (the sandbox's)
    is_sandbox: bool = False
    # `--ca-bundle FILE`: a TLS-inspecting proxy's CA, trusted in addition to ca_file and the
    # default roots (gateways/transport.py builds every client's trust from both).
    ca_bundle: str | None = None

    @property
    def graph_scope(self) -> str:
        return f"{self.graph_resource.rstrip('/')}/.default"

    @property
    def arm_scope(self) -> str:
        return f"{self.arm_resource.rstrip('/')}/.default"

    def graph_permission(self, value: str) -> str:
        """A delegated Graph permission as a scope string, e.g. Directory.Read.All."""
        return f"{self.graph_resource.rstrip('/')}/{value}"

    def arm_permission(self, value: str = "user_impersonation") -> str:
        return f"{self.arm_resource.rstrip('/')}/{value}"

    def with_ca(self, ca_file: str | None) -> Cloud:
        return replace(self, ca_file=ca_file)

    def with_ca_bundle(self, ca_bundle: str | None) -> Cloud:
        return replace(self, ca_bundle=ca_bundle)


CLOUDS: dict[str, Cloud] = {
    "public": Cloud(
        name="public",
        authority_host="https://login.microsoftonline.com",
        graph_url="https://graph.microsoft.com",
        arm_url="https://management.azure.com",
        graph_resource="https://graph.microsoft.com",
        arm_resource="https://management.azure.com/",
    ),
    "usgov": Cloud(
        name="usgov",
        authority_host="https://login.microsoftonline.us",
        graph_url="https://graph.microsoft.us",
        arm_url="https://management.usgovcloudapi.net",
        graph_resource="https://graph.microsoft.us",
        arm_resource="https://management.usgovcloudapi.net/",
    ),
    # US Government L5 (DoD): same sign-in and ARM as usgov, its own Graph deployment
    # (learn.microsoft.com/graph/deployments).
    "usgov-dod": Cloud(
        name="usgov-dod",
        authority_host="https://login.microsoftonline.us",
        graph_url="https://dod-graph.microsoft.us",
        arm_url="https://management.usgovcloudapi.net",
        graph_resource="https://dod-graph.microsoft.us",
        arm_resource="https://management.usgovcloudapi.net/",
    ),
    "china": Cloud(
        name="china",
        authority_host="https://login.chinacloudapi.cn",
        graph_url="https://microsoftgraph.chinacloudapi.cn",
        arm_url="https://management.chinacloudapi.cn",
        graph_resource="https://microsoftgraph.chinacloudapi.cn",
        arm_resource="https://management.chinacloudapi.cn/",
    ),
}

_REQUIRED_FIELDS = ("authority_host", "graph_url", "arm_url")


def _https(value: Any, field_name: str, source: str) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not value.startswith("https://"):
        raise CloudError(
            f"cloud file {source}: field '{field_name}' must be an https:// URL, got {value!r}"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is None or not is_valid_host(parts.hostname or "") or parts.username or parts.query or parts.fragment:
        raise CloudError(
            f"cloud file {source}: field '{field_name}' must be an https:// URL with a valid host "
            f"name, such as https://login.microsoftonline.com, got {value!r}"
        )
    return value.rstrip("/")


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def is_valid_host(host: str) -> bool:
    """A DNS name or an IP address. An all-numeric dotted name that is no IP address
    (`999.999.999.999`) is refused: no top-level domain is numeric (RFC 3696)."""
    import ipaddress

    host = host.strip("[]").lower()
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def cloud_from_document(doc: Any, source: str) -> Cloud:
    """Build a Cloud from a cloud-file object (or a ready file's "cloud" object)."""
    if isinstance(doc, dict) and isinstance(doc.get("cloud"), dict):
        doc = doc["cloud"]
    if not isinstance(doc, dict):
        raise CloudError(f"cloud file {source}: expected a JSON object with {', '.join(_REQUIRED_FIELDS)}")
    missing = [f for f in _REQUIRED_FIELDS if f not in doc]
    if missing:
        raise CloudError(f"cloud file {source}: missing field '{missing[0]}' (an https:// URL)")
    ca_file = doc.get("ca_file")
    if ca_file is not None:
        if not isinstance(ca_file, str) or not Path(ca_file).is_file():
            raise CloudError(f"cloud file {source}: field 'ca_file' names no readable file: {ca_file!r}")
        from cipp_setup.trust import TransportConfigError, validate_ca_bundle

        try:
            validate_ca_bundle(ca_file)
        except TransportConfigError as exc:
            raise CloudError(
                f"cloud file {source}: field 'ca_file' " + str(exc).removeprefix("--ca-bundle: ")
            ) from None
    public = CLOUDS["public"]
    return Cloud(
        name=str(doc.get("name", "custom")),
        authority_host=_https(doc["authority_host"], "authority_host", source),
        graph_url=_https(doc["graph_url"], "graph_url", source),
        arm_url=_https(doc["arm_url"], "arm_url", source),
        graph_resource=str(doc.get("graph_resource", public.graph_resource)),
        arm_resource=str(doc.get("arm_resource", public.arm_resource)),
        ca_file=ca_file,
        is_sandbox=doc.get("name") == "sandbox",
    )


def resolve_cloud(value: str) -> Cloud:
    """`--cloud` value: a name from the table, or the path of a JSON cloud file."""
    if value in CLOUDS:
        return CLOUDS[value]
    path = Path(value)
    if not path.suffix and not path.exists():
        raise CloudError(
            f"--cloud: unknown cloud '{value}': use one of {', '.join(CLOUDS)} or the path of a JSON cloud file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CloudError(f"--cloud: cannot read cloud file {value}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CloudError(
            f"--cloud: cloud file {value} is not a text file (not UTF-8); expected JSON with "
            f"{', '.join(_REQUIRED_FIELDS)}"
        ) from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise CloudError(f"--cloud: cloud file {value} is nested too deeply to be a cloud file") from None
    except json.JSONDecodeError as exc:
        raise CloudError(f"--cloud: cloud file {value} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return cloud_from_document(doc, value)
