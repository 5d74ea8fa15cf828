"""`python -m cipp_setup`: the same as the `cipp-setup` console script."""

from __future__ import annotations

from cipp_setup.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
