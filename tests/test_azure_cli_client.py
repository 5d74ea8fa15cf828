"""The real Azure CLI signs in to `cipp-setup sandbox serve`, unmodified, as in any tenant.

`az cloud register` reads the sandbox's ARM metadata endpoint (the ready file's ARM URL),
`az login --use-device-code` signs in with the Azure CLI's own first-party client, and the
tokens carry exactly what Entra gives that client: its pre-authorized Graph set and ARM
`user_impersonation`, with no consent page and no grant written. Graph's PIM endpoints
refuse that token (403 PermissionScopeNotGranted).

The Azure CLI is large (about 50 MB of wheels, 730 MB installed, two minutes to install):
it is not a dependency of the package. CI installs it once into its own virtual
environment and names it with CIPP_SETUP_AZ (.ci/run); elsewhere these tests run when `az`
is on PATH and are skipped otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

AZ = os.environ.get("CIPP_SETUP_AZ") or shutil.which("az")
pytestmark = [
    pytest.mark.azure_cli,
    pytest.mark.skipif(AZ is None, reason="the Azure CLI is not installed (set CIPP_SETUP_AZ or put az on PATH)"),
]

AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
AZURE_CLI_GRAPH_SET = {
    "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "AuditLog.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All", "Directory.AccessAsUser.All", "Group.ReadWrite.All",
    "User.Read.All", "User.ReadWrite.All",
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`cipp-setup sandbox serve` in its own process; its ready document."""
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "cipp_setup", "sandbox", "serve", "--scenario", "legacy-fresh",
         "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the sandbox never wrote its ready file"
            time.sleep(0.05)
        yield json.loads(ready.read_text(encoding="utf-8"))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _az(doc: dict[str, Any], config_dir: Path, *args: str) -> str:
    env = {
        **os.environ,
        "AZURE_CONFIG_DIR": str(config_dir),
        "AZURE_CORE_COLLECT_TELEMETRY": "no",
        "AZURE_CORE_NO_COLOR": "1",
        # The sandbox's CA (what a TLS-inspecting proxy's CA needs too), and no instance
        # discovery against login.microsoftonline.com (as for Azure Stack / custom clouds).
        "REQUESTS_CA_BUNDLE": doc["cloud"]["ca_file"],
        "AZURE_CORE_INSTANCE_DISCOVERY": "false",
    }
    assert AZ is not None
    done = subprocess.run([AZ, *args], env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"az {' '.join(args[:2])}: {done.stderr[-2000:]}"
    return done.stdout


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return value


def test_az_login_with_the_ready_files_endpoints_gets_the_azure_cli_scopes(served: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "azure"
    cloud = served["cloud"]
    tenant = served["identities"]["tenant_id"]
    _az(served, config, "cloud", "register", "--name", "CippSandbox",
        "--endpoint-resource-manager", cloud["arm_url"].rstrip("/") + "/")
    _az(served, config, "cloud", "set", "--name", "CippSandbox")
    # The sandbox approves device codes as the scenario's admin, as the demo does.
    accounts = json.loads(_az(served, config, "login", "--use-device-code", "--tenant", tenant))
    assert [a["user"]["name"] for a in accounts] == [served["identities"]["admin_upn"]]

    graph = _claims(_az(served, config, "account", "get-access-token", "--resource-type", "ms-graph",
                        "--query", "accessToken", "--output", "tsv").strip())
    assert graph["appid"] == AZURE_CLI_APP_ID
    assert graph["aud"].rstrip("/") == cloud["graph_url"].rstrip("/"), "Graph's resource id is its URL"
    assert set(graph["scp"].split(" ")) == AZURE_CLI_GRAPH_SET

    arm = _claims(_az(served, config, "account", "get-access-token", "--query", "accessToken",
                      "--output", "tsv").strip())
    assert arm["aud"] == "https://management.core.windows.net/" and arm["scp"] == "user_impersonation"

    # The Azure CLI's token on Graph's PIM endpoint: 403 PermissionScopeNotGranted.
    url = (f"{cloud['graph_url'].rstrip('/')}/v1.0/roleManagement/directory/roleEligibilityScheduleInstances"
           f"?$filter=principalId eq '{graph['oid']}'")
    env_args = ["rest", "--method", "get", "--url", url, "--resource", cloud["graph_url"].rstrip("/") + "/"]
    env = {**os.environ, "AZURE_CONFIG_DIR": str(config), "AZURE_CORE_COLLECT_TELEMETRY": "no",
           "REQUESTS_CA_BUNDLE": cloud["ca_file"], "AZURE_CORE_INSTANCE_DISCOVERY": "false"}
    assert AZ is not None
    refused = subprocess.run([AZ, *env_args], env=env, capture_output=True, text=True, timeout=300,
                             stdin=subprocess.DEVNULL)
    assert refused.returncode != 0
    assert "PermissionScopeNotGranted" in refused.stderr
