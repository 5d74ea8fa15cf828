"""The built-in scenarios: ``scenarios/*.yaml`` inside the package.

Found with importlib.resources so they load from an installed wheel as from a checkout.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; importlib.abc has it on 3.10
    from importlib.abc import Traversable


def _builtin_dir() -> Traversable:
    return resources.files("cipp_setup.sandbox").joinpath("scenarios")


def builtin_files() -> dict[str, Traversable]:
    """Each built-in scenario's name and file, sorted by name."""
    found: dict[str, Traversable] = {}
    for entry in _builtin_dir().iterdir():
        if entry.is_file() and entry.name.endswith(".yaml"):
            found[entry.name[: -len(".yaml")]] = entry
    return dict(sorted(found.items()))


def list_scenarios() -> list[tuple[str, str]]:
    """The built-in scenarios as (name, one-line description), sorted by name."""
    out: list[tuple[str, str]] = []
    for name, entry in builtin_files().items():
        try:
            doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
            description = str(doc.get("description", "")).strip() if isinstance(doc, dict) else ""
        except yaml.YAMLError:
            description = "(this built-in scenario does not parse)"
        out.append((name, description.splitlines()[0] if description else ""))
    return out
