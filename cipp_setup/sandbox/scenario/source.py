"""Reading a scenario: a built-in name or a file, strict YAML, and `extends:` followed.

Everything about *getting the document* lives here — where a file is found, how it is
read, how the YAML is parsed and how a child is merged over its parent — so that limits
on reading (what may be opened, how large, how deep) have one place to go.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, cast

import yaml

from cipp_setup.sandbox.scenario.builtin import builtin_files
from cipp_setup.sandbox.scenario.errors import ScenarioError
from cipp_setup.sandbox.scenario.validation import describe


# Bounds on what a scenario may make the loader do: a scenario is a page of YAML (the
# largest built-in is a few KiB; generated filler comes from `size:`, not from the file),
# so anything far beyond these is a mistake or a trap, refused in one line instead of a
# hang or a crash. A FIFO or a device (/dev/zero) would block or never end: regular files only.
MAX_SCENARIO_BYTES = 1024 * 1024
MAX_NESTING = 64  # mappings and lists inside each other
MAX_EXTENDS = 16  # scenarios extending each other in a chain


def looks_like_path(text: str) -> bool:
    return (
        "/" in text
        or "\\" in text
        or text.endswith((".yaml", ".yml", ".json"))
        or Path(text).is_file()
    )


def read_source(name_or_path: str | Path) -> tuple[str, str, str]:
    """(label for errors, text, default scenario name)."""
    if isinstance(name_or_path, Path) or looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        try:
            text = _read_regular_file(path)
        except FileNotFoundError:
            raise ScenarioError(
                str(path),
                "",
                "no such file: expected a scenario file (.yaml) or a built-in scenario name",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ScenarioError(str(path), "", f"cannot read the file ({reason})") from None
        stem = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
        return str(path), text, stem
    name = str(name_or_path).strip()
    builtins = builtin_files()
    entry = builtins.get(name)
    if entry is None:
        choices = ", ".join(builtins)
        raise ScenarioError(
            f"unknown scenario {name!r}",
            "",
            f"choose one of {choices} (or give the path of a scenario file)",
        )
    return f"{name}.yaml", entry.read_text(encoding="utf-8"), name


def _read_regular_file(path: Path) -> str:
    """The file's text, if it is a regular file of at most MAX_SCENARIO_BYTES (checked on
    the open descriptor, so a file swapped after the check is still bounded)."""
    label = str(path)
    kind = stat.S_IFMT(path.stat().st_mode)  # FileNotFoundError goes to the caller
    if kind != stat.S_IFREG:
        what = "a directory" if kind == stat.S_IFDIR else "not a regular file (a pipe, a device, ...)"
        raise ScenarioError(label, "", f"{what}: a scenario is a regular .yaml file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ScenarioError(label, "", "not a regular file: a scenario is a regular .yaml file")
        data = handle.read(MAX_SCENARIO_BYTES + 1)
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(label, "", f"larger than {MAX_SCENARIO_BYTES // 1024} KiB: a scenario is a page of "
                            "YAML (grow a tenant with size:, not with the file)")
    return data.decode("utf-8")


def _nesting(doc: Any) -> int:
    """How deep mappings and lists go in `doc` (iterative: a deep document must not
    exhaust the stack here either)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


# --- YAML with duplicate-key detection ----------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, column: int) -> None:
        self.key, self.line, self.column = key, line, column
        super().__init__(key)


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate mapping keys (plain YAML keeps the last silently)."""


def _construct_mapping(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            mark = key_node.start_mark
            raise _DuplicateKey(key, mark.line + 1, mark.column + 1)
        seen.add(key)
    return cast("dict[Any, Any]", loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(label: str, text: str) -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=_StrictLoader)
    except _DuplicateKey as dup:
        raise ScenarioError(
            label,
            f"line {dup.line}, column {dup.column}",
            f"duplicate key {dup.key!r}: each key may appear once in a mapping",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unreadable"
        raise ScenarioError(label, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(label, "", f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError(label, "", f"nested too deeply: at most {MAX_NESTING} levels of mappings and lists") from None
    if _nesting(doc) > MAX_NESTING:
        raise ScenarioError(label, "", f"nested too deeply: at most {MAX_NESTING} levels of mappings and lists")
    if not isinstance(doc, dict):
        got = "an empty file" if doc is None else f"a {type(doc).__name__}"
        raise ScenarioError(
            label,
            "",
            f"expected a mapping of scenario fields (description, tenant, ...), got {got}",
        )
    return doc


def _merge(parent: Any, child: Any) -> Any:
    """Deep-merge `child` over `parent`: mappings merge key by key, a null value removes the
    key, anything else (lists included) replaces the parent's value."""
    if not isinstance(parent, dict) or not isinstance(child, dict):
        return child
    merged = dict(parent)
    for key, value in child.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_document(
    name_or_path: str | Path, chain: tuple[str, ...] = (), base_dir: Path | None = None
) -> tuple[str, dict[str, Any], str]:
    """(label, merged document, default name); follows `extends:` to the parent scenario."""
    ref: str | Path = name_or_path
    if (
        base_dir is not None
        and isinstance(ref, str)
        and looks_like_path(ref)
        and not Path(ref).is_absolute()
    ):
        ref = base_dir / ref
    label, text, default_name = read_source(ref)
    doc = parse_yaml(label, text)
    parent_ref = doc.pop("extends", None)
    if parent_ref is None:
        return label, doc, default_name
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError(
            label,
            "extends",
            f"expected the name of a built-in scenario or a file path, got {describe(parent_ref)}",
        )
    if "description" not in doc:
        raise ScenarioError(
            label,
            "description",
            "is required but missing (a scenario that extends another still describes itself)",
        )
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError(label, "extends", f"more than {MAX_EXTENDS} scenarios extend each other in a chain")
    if label in chain:
        raise ScenarioError(
            label,
            "extends",
            "the scenarios extend each other in a cycle: " + " -> ".join([*chain, label]),
        )
    own_dir = Path(ref).parent if isinstance(ref, Path) or looks_like_path(str(ref)) else None
    parent_label, parent_doc, _ = load_document(parent_ref.strip(), (*chain, label), own_dir)
    parent_doc.pop("name", None)  # the child has its own name, hence its own ids
    return f"{label} (extends {parent_label})", _merge(parent_doc, doc), default_name
