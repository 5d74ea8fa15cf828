"""A catalogue: the checks a run knows, in the order results are reported.

The built-in one is `cipp_setup.checks.CATALOGUE`, a plain list (kubeadm's pattern).
Nothing registers itself on import: a catalogue is a value, and a front end or a test
that wants another one builds it (`CATALOGUE.with_checks(MyCheck())`) and passes it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from cipp_setup.engine.model import Check, FixableCheck, Generation


@dataclass(frozen=True)
class Catalogue:
    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        ids = [c.spec.id for c in self.checks]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"check ids appear more than once: {', '.join(duplicated)}")
        for check in self.checks:
            unknown = [d for d in check.spec.depends_on if d not in ids]
            if unknown:
                raise ValueError(f"check {check.spec.id} depends on unknown checks: {', '.join(unknown)}")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)

    def get(self, check_id: str) -> Check:
        """The check with this id; KeyError (naming the known ids) otherwise."""
        check = self.find(check_id)
        if check is None:
            raise KeyError(f"unknown check id {check_id!r}; known: {', '.join(self.ids())}")
        return check

    def find(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.spec.id == check_id), None)

    def ids(self) -> tuple[str, ...]:
        return tuple(c.spec.id for c in self.checks)

    def for_generation(self, generation: Generation) -> tuple[Check, ...]:
        """The checks that apply to an instance of this generation, in catalogue order."""
        return tuple(c for c in self.checks if generation in c.spec.generations)

    def shared(self) -> tuple[Check, ...]:
        """The checks both generations run (API-only runs, before the generation is known)."""
        return tuple(c for c in self.checks if len(c.spec.generations) > 1)

    def fixable(self) -> tuple[FixableCheck, ...]:
        return tuple(c for c in self.checks if isinstance(c, FixableCheck))

    def with_checks(self, *checks: Check) -> Catalogue:
        """This catalogue and `checks` after it (a new value; this one is unchanged)."""
        return Catalogue(self.checks + tuple(checks))
