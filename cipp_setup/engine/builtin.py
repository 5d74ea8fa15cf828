"""The built-in catalogue as a default, for callers that pass none.

Its own module because `cipp_setup.checks` imports the engine's vocabulary: only the
engine modules the checks never import (diagnose, fixes, fix_session) may reach for it.
"""

from __future__ import annotations

from cipp_setup.engine.catalogue import Catalogue


def builtin_catalogue(catalogue: Catalogue | None = None) -> Catalogue:
    """`catalogue`, or the built-in checks (`cipp_setup.checks.CATALOGUE`) when None."""
    if catalogue is not None:
        return catalogue
    from cipp_setup.checks import CATALOGUE

    builtin: Catalogue = CATALOGUE
    return builtin
