"""The running sandbox: state + services + transport, and the documents that describe it.

``Sandbox(state).start()`` binds six HTTPS servers on 127.0.0.1 (idp, graph, arm, cipp,
frontend, processor), builds the token authority and the services against the bound
URLs, and serves them from background threads. `cloud_document()` is the cloud file the
product reads (endpoints and the CA to trust); `ready_document()` adds the scenario's
identities and the control URL and key; `serve_forever` is ``cipp-setup sandbox serve``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cipp_setup.sandbox import faults as fault_rules
from cipp_setup.sandbox.control import CONTROL_PATH, SandboxControl
from cipp_setup.sandbox.http import Request, Response, SandboxUrls, Service, json_response
from cipp_setup.sandbox.state import Fault, TenantState
from cipp_setup.sandbox.transport import SERVICE_NAMES, Transport

# Builds one service: (state, token authority, urls) -> Service.
ServiceFactory = Callable[[TenantState, Any, SandboxUrls], Service]

# Where each real service lives; imported when the sandbox starts.
_SERVICE_CLASSES: dict[str, tuple[str, str]] = {
    "idp": ("cipp_setup.sandbox.idp", "IdentityPlatform"),
    "graph": ("cipp_setup.sandbox.graph", "GraphService"),
    "arm": ("cipp_setup.sandbox.arm", "ArmService"),
    "cipp": ("cipp_setup.sandbox.cipp", "CippService"),
    "frontend": ("cipp_setup.sandbox.cipp", "FrontEndService"),
    "processor": ("cipp_setup.sandbox.cipp", "ProcessorService"),
}

GRAPH_RESOURCE = "https://graph.microsoft.com"
ARM_RESOURCE = "https://management.azure.com/"


class MissingService:
    """Answers 501 for a service whose module is not in this build (never in a release).

    Only a *missing* module falls back to this; a module that fails to import for any
    other reason raises, so a broken service is never silently replaced.
    """

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self._module = module

    def handle(self, request: Request) -> Response:
        return json_response(501, {"error": {"code": "NotImplemented",
                                             "message": f"sandbox service {self.name} ({self._module}) is not available"}})


def _import_optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def _default_factory(name: str) -> ServiceFactory:
    module_name, class_name = _SERVICE_CLASSES[name]

    def build(state: TenantState, tokens: Any, urls: SandboxUrls) -> Service:
        module = _import_optional(module_name)
        if module is None:
            return MissingService(name, module_name)
        service: Service = getattr(module, class_name)(state, tokens, urls)
        return service

    return build


def _token_authority(state: TenantState, urls: SandboxUrls) -> Any | None:
    module = _import_optional("cipp_setup.sandbox.tokens")
    return None if module is None else module.TokenAuthority(state, urls.idp)


class Sandbox:
    """A sandbox tenant served on loopback. Use as a context manager or start()/stop().

    `service_factories` replaces some services (tests use small fakes); the others are
    the real ones.
    """

    def __init__(
        self,
        state: TenantState,
        *,
        latency_ms: int = 0,
        port: int = 0,
        service_factories: Mapping[str, ServiceFactory] | None = None,
        pose_as: str | None = None,
    ) -> None:
        self.state = state
        if pose_as:  # answer as a sovereign cloud: its resource URIs (sandbox/clouds.py)
            from cipp_setup.sandbox.clouds import pose_as as apply_cloud

            apply_cloud(state, pose_as)
        self._latency_ms = latency_ms
        self._port = port
        self._factories = {name: _default_factory(name) for name in SERVICE_NAMES}
        self._factories.update(service_factories or {})
        self._transport: Transport | None = None
        self.services: dict[str, Service] = {}
        self.tokens: Any | None = None
        self.control = SandboxControl(state)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Sandbox:
        if self._transport is not None:
            raise RuntimeError("sandbox already started")
        transport = Transport(self.state, latency_ms=self._latency_ms, port=self._port)
        try:
            urls = transport.bind()
            from cipp_setup.sandbox.clouds import serve_graph_at

            serve_graph_at(self.state, urls.graph)
            self.tokens = _token_authority(self.state, urls)
            self.services = {name: self._factories[name](self.state, self.tokens, urls)
                             for name in SERVICE_NAMES}
            transport.attach(self.services)
            self.control.bind(services=self.services, latency=transport, tokens=self.tokens, urls=urls)
            transport.control_handler = self.control.handle_http
            transport.start()
        except BaseException:
            transport.stop()
            raise
        self._transport = transport
        return self

    def stop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._transport is not None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return self._transport

    @property
    def urls(self) -> SandboxUrls:
        urls = self.transport.urls
        assert urls is not None  # bound in start()
        return urls

    @property
    def ca_file(self) -> str:
        return self.transport.ca_file

    @property
    def service_errors(self) -> list[str]:
        """Tracebacks of service exceptions answered as 500 (for debugging tests)."""
        return self.transport.service_errors

    # --- documents -------------------------------------------------------------------

    def cloud_document(self) -> dict[str, Any]:
        from cipp_setup.sandbox.clouds import arm_resource, graph_resource

        urls = self.urls
        return {
            "name": "sandbox",
            "authority_host": urls.idp,
            "graph_url": urls.graph,
            "arm_url": urls.arm,
            # The resource URIs of the cloud the sandbox poses as (public unless told).
            "graph_resource": graph_resource(self.state),
            "arm_resource": arm_resource(self.state),
            "ca_file": self.ca_file,
        }

    def identities_document(self) -> dict[str, str]:
        state, urls = self.state, self.urls
        with state.lock:
            ids = state.identities
            cipp = state.cipp
            sam_user_id = ids.sam_user_id or (cipp.sam_user_id if cipp else None)
            values: dict[str, str | None] = {
                "tenant_id": state.tenant_id,
                "admin_upn": _upn(state, ids.admin_user_id),
                "sam_user_upn": _upn(state, sam_user_id),
                "sam_app_id": ids.sam_app_id or (cipp.sam_app_id if cipp else None),
                "subscription_id": ids.subscription_id,
                "api_url": _api_url(urls, getattr(ids, "api_url_target", "function_app")) if cipp else None,
                "api_client_id": ids.api_client_id,
                "api_client_secret": ids.api_client_secret,
                "frontend_url": urls.frontend if cipp else None,
                "processor_url": urls.processor if cipp and cipp.processor_app else None,
                # The CIPP Function App's resource id (--function-app for the current checks).
                "function_app_id": _function_app_id(state),
            }
        return {k: v for k, v in values.items() if v}

    def ready_document(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud_document(),
            "identities": self.identities_document(),
            "control": {"url": f"{self.urls.idp}{CONTROL_PATH}", "key": self.control.key},
        }

    def write_ready_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the ready document atomically, readable only by its owner (it holds a key)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.ready_document(), indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".ready-", dir=str(target.parent))
        try:
            try:
                os.chmod(tmp, 0o600)  # mkstemp already uses 0600 on POSIX; say it anyway
            except OSError:
                pass
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def _api_url(urls: SandboxUrls, target: str) -> str:
    """The API URL the scenario's admin was given: the Function App, or a wrong host."""
    return {"front_end": urls.frontend, "processor_app": urls.processor}.get(target, urls.cipp)


def _function_app_id(state: TenantState) -> str | None:
    site = state.sites.get(state.cipp.function_app.lower()) if state.cipp else None
    return site.resource_id if site else None


def _upn(state: TenantState, user_id: str | None) -> str | None:
    user = state.users.get(user_id) if user_id else None
    return user.user_principal_name if user else None


def serve_forever(
    state: TenantState,
    *,
    port: int = 0,
    latency_ms: int = 0,
    ready_file: str | os.PathLike[str] | None = None,
    faults: Iterable[Fault] = (),
    on_ready: Callable[[Sandbox], None] | None = None,
    stop_event: threading.Event | None = None,
    pose_as: str | None = None,
) -> None:
    """Serve a sandbox in the foreground until interrupted (``cipp-setup sandbox serve``).

    Faults are added to the scenario's own. Once every port listens the ready file is
    written and `on_ready` called (the CLI prints the URLs there). Ctrl-C, SIGTERM or
    `stop_event` stop it; the ready file is removed then, since its URLs and key no
    longer work.
    """
    for fault in faults:
        state.faults.append(fault_rules.validate_fault(fault))
    stop = stop_event or threading.Event()
    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():
        previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sandbox = Sandbox(state, latency_ms=latency_ms, port=port, pose_as=pose_as)
    written: Path | None = None
    try:
        sandbox.start()
        if ready_file is not None:
            written = sandbox.write_ready_file(ready_file)
        if on_ready is not None:
            on_ready(sandbox)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        if written is not None:
            written.unlink(missing_ok=True)
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
