"""Helpers that are neither product nor test: the local AWS emulator, the emulator baseline,
the usage simulator, the demo and the benchmark. The fleet description belongs to the Pulumi
program and the modules to the collection, so both directories are made importable here."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
for _directory in (_ROOT / "infra_pulumi", _ROOT / "collections"):
    if str(_directory) not in sys.path:
        sys.path.append(str(_directory))
