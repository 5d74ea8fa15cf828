"""The one error every scenario problem becomes."""

from __future__ import annotations


class ScenarioError(Exception):
    """A scenario that cannot be loaded. `str()` is one line: file, field, what was expected."""

    def __init__(self, file: str, field: str, expected: str) -> None:
        self.file = file
        self.field = field
        self.expected = " ".join(expected.split())  # always one line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.expected}"
