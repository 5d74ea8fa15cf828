"""The SDKs a run needs load while its first requests are on the wire (gateways/services.py,
`preload_admin_sdks`). The list of what loads early must name real modules, each one a
legacy check actually imports: otherwise it would load for nothing, or not at all."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

from cipp_setup.gateways.services import ADMIN_SDK_MODULES


def test_every_preloaded_module_exists() -> None:
    for name in ADMIN_SDK_MODULES:
        importlib.import_module(name)


def test_a_legacy_check_imports_each_preloaded_module_itself() -> None:
    # The run with the head start switched off: whatever it imports, it needed.
    script = (
        "import json, sys\n"
        "import cipp_setup.gateways.services as g\n"
        "listed = g.ADMIN_SDK_MODULES\n"
        "g.ADMIN_SDK_MODULES = ()\n"
        "from cipp_setup.cli.main import main\n"
        "code = main(['check', '--sandbox', 'legacy-ready', '--generation', 'legacy', '--json'])\n"
        "sys.stdout.flush()\n"
        "print('\\n' + json.dumps({'code': code, 'missing': [m for m in listed if m not in sys.modules]}))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    verdict = json.loads(run.stdout.strip().splitlines()[-1])
    assert verdict == {"code": 0, "missing": []}, run.stderr[-2000:]
