"""Loaded by every Python subprocess the tests start (PYTHONPATH): refuse non-loopback traffic."""

import netguard

netguard.install()
