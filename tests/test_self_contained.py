"""The tests need nothing beside the repository: no test source and no CI script may name the
workplace's shared folder (a fresh clone has no sibling folders). The official examples the
fidelity tests compare against live in tests/fixtures/microsoft-examples/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve()

# A path that leaves the repository for the shared folder: "../shared", ".../shared/reference",
# "/work/shared", or a pathlib join with a "shared" segment (`parent / "shared"`). Built from
# pieces so that this file's own source never matches its patterns.
_SHARED = "shar" + "ed"
_LEAKS = re.compile(
    "|".join(
        (
            r"\.\.[/\\]" + _SHARED + r"\b",
            _SHARED + r"[/\\]reference",
            r"/work/" + _SHARED + r"\b",
            r"/\s*['\"]" + _SHARED + r"['\"]",
            r"['\"]" + _SHARED + r"['\"]\s*/",
            r"CIPP_SETUP_REFERENCE",
        )
    )
)


def _sources() -> list[Path]:
    suffixes = {".py", ".yaml", ".cfg", ".ini", ".toml", ".sh"}
    tests = [p for p in (REPO / "tests").rglob("*") if p.is_file() and p.suffix in suffixes]
    ci = [p for p in (REPO / ".ci").rglob("*") if p.is_file()]
    return [p for p in (*tests, *ci, REPO / "pyproject.toml") if p.resolve() != THIS_FILE]


def leaks(text: str) -> list[str]:
    return [m.group(0) for m in _LEAKS.finditer(text)]


def test_the_leak_pattern_catches_each_way_of_reaching_the_shared_folder() -> None:
    shared = _SHARED
    for text in (
        f"REFERENCE = _REPO.parent / \"{shared}\" / \"reference\"",
        f"EXAMPLES = Path('../{shared}/reference/examples')",
        f"cat /work/{shared}/reference/examples/INDEX.md",
        "os.environ['CIPP_SETUP_REFERENCE']",
        f"ls ..\\{shared}\\reference",
    ):
        assert leaks(text), text
    # Ordinary uses of the word are not paths to the folder.
    assert not leaks("ctx.shared('user', lookup)  # shared lookups run once")


def test_no_test_source_or_ci_script_reads_the_shared_folder() -> None:
    sources = _sources()
    assert any(p.name == "reference.py" for p in sources)  # the scan sees the test tree
    found = {
        str(p.relative_to(REPO)): hits
        for p in sources
        if (hits := leaks(p.read_text(encoding="utf-8", errors="replace")))
    }
    assert not found, f"the tests must need nothing beside the repository: {found}"


def test_the_examples_the_fidelity_tests_name_are_in_the_repository() -> None:
    examples = REPO / "tests" / "fixtures" / "microsoft-examples"
    named: set[str] = set()
    modules = ("sandbox/test_graph_fidelity.py", "sandbox/test_arm_fidelity.py", "sandbox/test_idp.py")
    for module in modules:
        text = (REPO / "tests" / module).read_text(encoding="utf-8")
        named |= set(re.findall(r"['\"]((?:graph|arm|idp)_[A-Za-z0-9_]+\.json)['\"]", text))
    assert len(named) > 40
    missing = sorted(n for n in named if not (examples / n).is_file())
    assert not missing, f"examples named by tests but not in tests/fixtures/microsoft-examples: {missing}"
    assert (examples / "INDEX.md").is_file()
