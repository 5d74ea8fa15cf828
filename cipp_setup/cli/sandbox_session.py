"""Where a command's traffic goes: a cloud from the table or a file, or an in-process sandbox.

`open_target(run_inputs)` is what every command that talks to a tenant uses:

- `--sandbox NAME|FILE` loads the scenario, starts a Sandbox on loopback for this run,
  points every endpoint at it (the Cloud built from `cloud_document()`, carrying the
  sandbox CA in `ca_file` so each client trusts it for this run only — process-wide
  variables such as REQUESTS_CA_BUNDLE are never touched), and offers the scenario's
  identities as defaults for the options the user did not give.
- `--cloud NAME|FILE` resolves a named cloud or reads a JSON cloud file (a sandbox ready
  file works as one).
- neither: the public cloud.
- `--sandbox-cloud NAME` (with `--sandbox`): the sandbox poses as that cloud (accepts and
  hands out its Graph and ARM resource URIs), so a run proves it asks for that cloud's
  tokens. `--ca-bundle FILE` is added to the trust of whichever cloud is chosen.

`--sandbox` and `--cloud` together are a usage error: they name two different places.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cipp_setup.cli.options import UsageError

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cloud import Cloud

# Scenario identity (ready document "identities" key) -> the option (RunInputs.identities
# field, named as its argparse dest) it defaults.
# The CIPP-SAM user is not among them: a sandbox run finds it in the tenant as a run
# against a real tenant does (an admin rarely knows the service account by heart).
IDENTITY_DEFAULTS: Mapping[str, str] = {
    "tenant_id": "tenant",
    "sam_app_id": "sam_app",
    "subscription_id": "subscription",
    "api_url": "api_url",
    "api_client_id": "api_client_id",
    "function_app_id": "function_app",
}


@dataclass
class Target:
    """The endpoints of this run and, for a sandbox, the scenario's identities."""

    cloud: Cloud
    identities: Mapping[str, str] = field(default_factory=dict)
    sandbox: object | None = None  # cipp_setup.sandbox.runtime.Sandbox while it runs
    scenario: str | None = None

    @property
    def is_sandbox(self) -> bool:
        return self.sandbox is not None

    def default_secret(self) -> str | None:
        """The scenario's API client secret (sandbox only): a default like the others."""
        return self.identities.get("api_client_secret") or None


def apply_identity_defaults(run_inputs: RunInputs, identities: Mapping[str, str]) -> tuple[RunInputs, list[str]]:
    """The run's inputs with the options the user left empty filled from the scenario,
    and the dests filled.

    Values the user gave always win. Scenario values are re-validated by the same
    parsers as user input so a bad scenario cannot smuggle a malformed value in.
    """
    from cipp_setup.cli import options

    parsers = {
        "tenant": lambda v: options.parse_tenant(v, "--tenant"),
        "sam_user": lambda v: options.parse_user(v, "--sam-user"),
        "sam_app": lambda v: options.parse_guid("--sam-app", v),
        "subscription": lambda v: options.parse_guid("--subscription", v),
        "api_url": lambda v: options.parse_api_url(v, "--api-url"),
        "api_client_id": lambda v: options.parse_guid("--api-client-id", v),
        "function_app": lambda v: options.parse_function_app(v, "--function-app"),
    }
    filled: dict[str, str] = {}
    for key, dest in IDENTITY_DEFAULTS.items():
        value = identities.get(key)
        if value and dest in run_inputs.accepts and getattr(run_inputs.identities, dest) is None:
            filled[dest] = parsers[dest](value)
    return run_inputs.with_identities(**filled), list(filled)


def load_scenario_state(value: str, option: str = "--sandbox") -> object:
    """A built-in scenario name or a scenario file, as a TenantState; bad ones → UsageError."""
    from cipp_setup.sandbox.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(value)
    except ScenarioError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid scenario"
        raise UsageError(f"{option}: {message}") from None
    except OSError as exc:
        raise UsageError(f"{option}: cannot read scenario file {value}: {exc.strerror or exc}") from None


def _check_proxy_environment() -> None:
    """A malformed HTTPS_PROXY / HTTP_PROXY / ALL_PROXY is a usage error before any traffic."""
    from cipp_setup.gateways.transport import TransportConfigError, proxy_settings

    try:
        proxy_settings()
    except TransportConfigError as exc:
        raise UsageError(str(exc)) from None


@contextmanager
def open_target(run_inputs: RunInputs) -> Iterator[Target]:
    """The run's endpoints; for --sandbox, the sandbox runs until the block ends."""
    from cipp_setup.cloud import CLOUDS, CloudError, cloud_from_document, resolve_cloud

    where = run_inputs.connection
    sandbox_value, cloud_value, sandbox_cloud, ca_bundle = where.sandbox, where.cloud, where.sandbox_cloud, where.ca_bundle
    if sandbox_value and cloud_value:
        raise UsageError(
            "--sandbox and --cloud: expected one of them, not both (a sandbox brings its own endpoints; "
            "--sandbox-cloud makes it pose as another cloud)"
        )
    if sandbox_cloud and not sandbox_value:
        raise UsageError("--sandbox-cloud: only with --sandbox (use --cloud to choose a real cloud)")
    _check_proxy_environment()
    if not sandbox_value:
        try:
            cloud = resolve_cloud(cloud_value) if cloud_value else CLOUDS["public"]
        except CloudError as exc:
            message = str(exc)
            raise UsageError(message if message.startswith("--cloud") else f"--cloud: {message}") from None
        yield Target(cloud=cloud.with_ca_bundle(ca_bundle))
        return

    state = load_scenario_state(sandbox_value)
    from cipp_setup.sandbox.runtime import Sandbox

    sandbox = Sandbox(state, pose_as=sandbox_cloud)  # type: ignore[arg-type]
    sandbox.start()
    try:
        cloud = cloud_from_document(sandbox.cloud_document(), f"sandbox {sandbox_value}")
        cloud = cloud.with_ca_bundle(ca_bundle)
        identities = dict(sandbox.identities_document())
        yield Target(cloud=cloud, identities=identities, sandbox=sandbox, scenario=sandbox_value)
    finally:
        sandbox.stop()
