"""The sandbox's own speed: requests per second on loopback, and large-scenario load time.

- Throughput: sequential keep-alive GETs (one client, like an SDK) and 4 concurrent
  clients, against the real Graph service (token-checked, filtered user look-up) and,
  side by side, against the same transport serving a trivial echo service — the ratio
  shows what the emulation itself costs. Aim (issue 2): 500 requests/s or more.
- Load time of the built-in 100,000-user scenario `legacy-ready-large` against the
  10-user `legacy-ready` (aim: under 2 s), with peak memory from tracemalloc.
"""

from __future__ import annotations

import concurrent.futures
import ssl
import sys
import time
import tracemalloc

import httpx

from _common import table

from cipp_setup.sandbox import Sandbox, load_scenario
from cipp_setup.sandbox.http import Request, Response, json_response


class EchoService:
    def __init__(self, name: str) -> None:
        self.name = name

    def handle(self, request: Request) -> Response:
        return json_response(200, {"path": request.path})


def _admin_graph_token(sandbox: Sandbox) -> str:
    from azure.identity import DeviceCodeCredential

    from cipp_setup.wellknown import TOOL_PUBLIC_CLIENT_ID

    cred = DeviceCodeCredential(
        client_id=TOOL_PUBLIC_CLIENT_ID,
        tenant_id=sandbox.state.tenant_id,
        authority=sandbox.urls.idp,
        disable_instance_discovery=True,
        connection_verify=sandbox.ca_file,
        prompt_callback=lambda *a: None,
    )
    return cred.get_token("https://graph.microsoft.com/User.Read.All").token


def _rate(url: str, headers: dict[str, str], ca_file: str, count: int, workers: int) -> float:
    ctx = ssl.create_default_context(cafile=ca_file)

    def run(n: int) -> None:
        with httpx.Client(verify=ctx, headers=headers, timeout=30) as client:
            for _ in range(n):
                response = client.get(url)
                response.raise_for_status()

    per_worker = count // workers
    run(20)  # warm up connections and code paths
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(run, [per_worker] * workers))
    return (per_worker * workers) / (time.perf_counter() - started)


def throughput(count: int = 2000) -> str:
    state = load_scenario("legacy-ready")
    sam_upn = state.users[state.identities.sam_user_id or ""].user_principal_name
    rows = []
    with Sandbox(state) as sandbox:
        token = _admin_graph_token(sandbox)
        graph_url = f"{sandbox.urls.graph}/v1.0/users/{sam_upn}"
        auth = {"Authorization": f"Bearer {token}"}
        for workers in (1, 4):
            rows.append((f"Graph GET /users/{{upn}}, {workers} client(s)",
                         _rate(graph_url, auth, sandbox.ca_file, count, workers)))
    echo = {name: (lambda s, t, u, n=name: EchoService(n)) for name in
            ("idp", "graph", "arm", "cipp", "frontend", "processor")}
    with Sandbox(load_scenario("legacy-ready"), service_factories=echo) as bare:
        for workers in (1, 4):
            rows.append((f"echo service (transport only), {workers} client(s)",
                         _rate(f"{bare.urls.graph}/v1.0/ping", {}, bare.ca_file, count, workers)))
    body = table(["what", "requests/s"], [(name, f"{rate:.0f}") for name, rate in rows])
    ratio = rows[0][1] / rows[2][1]
    return (f"### Sandbox throughput ({count} requests each)\n\n{body}\n\n"
            f"Graph service vs bare transport, 1 client: {ratio:.2f}x the echo rate.")


def load_times(runs: int = 3) -> str:
    rows = []
    for name in ("legacy-ready", "legacy-ready-large"):
        best = float("inf")
        for _ in range(runs):
            started = time.perf_counter()
            state = load_scenario(name)
            best = min(best, time.perf_counter() - started)
        tracemalloc.start()
        state = load_scenario(name)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append((name, len(state.users), len(state.role_assignments), len(state.subscriptions),
                     f"{best * 1000:.0f} ms", f"{peak / 2**20:.0f} MiB"))
    return "### Scenario load time (best of %d)\n\n" % runs + table(
        ["scenario", "users", "directory role assignments", "subscriptions", "load time", "peak memory"],
        rows,
    )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(throughput(count))
    print()
    print(load_times())
