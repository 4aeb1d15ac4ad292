"""Code shared by the fleet's functions, shipped as the `shared-lib` Lambda layer."""

from lambdaopt_shared.logging import log_event
from lambdaopt_shared.records import RecordError, validate_record

__all__ = ["RecordError", "log_event", "validate_record"]
