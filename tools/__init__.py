"""Helpers that are neither product nor test: the local AWS emulator, the emulator baseline,
the usage simulator. The fleet description belongs to the Pulumi program, so its directory is
made importable here."""

import sys
from pathlib import Path

_PROGRAM_DIR = str(Path(__file__).resolve().parent.parent / "infra_pulumi")
if _PROGRAM_DIR not in sys.path:
    sys.path.append(_PROGRAM_DIR)
