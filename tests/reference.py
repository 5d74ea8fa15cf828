"""Where the official example payloads live: tests/fixtures/microsoft-examples, in the repository.

They were copied from the workplace's shared reference folder (provenance in that folder's
INDEX.md) so that a fresh clone's tests need nothing beside the repository.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "microsoft-examples"
