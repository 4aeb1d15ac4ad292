"""Structured, one-line JSON logging, so log queries can filter on fields."""

import json
import os
import sys

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


def log_event(level: str, message: str, **fields) -> None:
    """Print one JSON log line if `level` is at or above the function's LOG_LEVEL."""
    threshold = _LEVELS.get(os.environ.get("LOG_LEVEL", "INFO"), 20)
    if _LEVELS.get(level, 20) < threshold:
        return
    print(json.dumps({"level": level, "message": message, **fields}, default=str), file=sys.stdout)
