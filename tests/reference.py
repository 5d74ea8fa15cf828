"""Where the official example payloads live: ../shared/reference/examples beside the repository.

CI clones the repository with shared/ beside it; elsewhere set CIPP_SETUP_REFERENCE to the
reference folder. Missing examples fail the fidelity tests loudly rather than skipping them.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
REFERENCE = Path(os.environ.get("CIPP_SETUP_REFERENCE") or _REPO.parent / "shared" / "reference")
EXAMPLES = REFERENCE / "examples"

if not EXAMPLES.is_dir():
    raise RuntimeError(
        f"reference examples not found at {EXAMPLES}: put shared/ beside the repository "
        "or set CIPP_SETUP_REFERENCE to the reference folder"
    )
