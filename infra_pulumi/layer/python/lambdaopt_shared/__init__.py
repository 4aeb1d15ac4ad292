"""Code shared by the fleet's functions, shipped as the `shared-lib` Lambda layer."""

from lambdaopt_shared.logging import log_event
from lambdaopt_shared.metrics import emit_metrics
from lambdaopt_shared.records import RecordError, records_in, validate_record

__all__ = ["RecordError", "emit_metrics", "log_event", "records_in", "validate_record"]
