"""Business metrics as CloudWatch Embedded Metric Format (EMF) log lines.

CloudWatch Logs turns each EMF line a function prints into metric data points, so publishing a metric
costs no PutMetricData call: no latency, no throttling, no extra IAM permission.
"""

import json
import os
import time
from collections.abc import Mapping

DEFAULT_NAMESPACE = "lambdaopt/pipeline"
# EMF allows at most 100 metrics in one directive; CloudWatch drops a line that has more.
MAX_METRICS = 100
DIMENSION = "FunctionName"


def emit_metrics(counts: Mapping[str, int | float]) -> None:
    """Print one EMF line publishing each of `counts` as a Count metric, dimensioned by function name."""
    if not 1 <= len(counts) <= MAX_METRICS:
        raise ValueError(f"an EMF line holds 1 to {MAX_METRICS} metrics, got {len(counts)}")
    for name, value in counts.items():
        # Metric values and dimension values share the root object with `_aws`, so names must not clash.
        if name in ("_aws", DIMENSION):
            raise ValueError(f"'{name}' cannot name a metric")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"metric '{name}' needs a number, got {value!r}")
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": os.environ.get("METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [{"Name": name, "Unit": "Count"} for name in counts],
            }],
        },
        # Set by the Lambda runtime; the fallback keeps local runs' metrics apart from deployed ones.
        DIMENSION: os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"),
        **counts,
    }
    # allow_nan=False: NaN and Infinity are not JSON, and CloudWatch would drop the whole line.
    print(json.dumps(document, allow_nan=False))
