"""Where moto's server differs from AWS in ways tap.lambdaopt depends on, make it behave as AWS does.

Every patch reproduces a documented AWS behaviour and is pinned by a test in tests/emulator/. None exists to
make the project's code pass where AWS would fail. Patches change moto's classes in this process, so they apply
to the server the launcher starts in-process (tools/emulator.py). One module per service or concern, each with
an `apply()`; `apply()` here installs them all, once.
"""

from __future__ import annotations

from tools.emulator_patches import (
    apigateway,
    cloudwatch,
    dynamodb,
    iam_authorization_details,
    iam_limits,
    iam_simulation,
    insights_statistics,
    insights_status,
    lambda_aliases,
    lambda_concurrency,
    lambda_configuration,
    lambda_environment,
    lambda_event_sources,
    lambda_invoke,
    lambda_logging,
    lambda_states,
    lambda_versions,
    logs,
    metric_data_status,
    sqs_kms,
)

_applied = False


def apply() -> None:
    """Install every patch once."""
    global _applied
    if _applied:
        return
    # lambda_configuration's checks of the values sent wrap lambda_states's, so an invalid update is refused as
    # invalid before it could conflict, as AWS validates a request before acting on it.
    # lambda_logging's checks likewise come after both, so they wrap them, and lambda_environment's size check too.
    for patches in (lambda_states, lambda_configuration, lambda_logging, lambda_environment, lambda_concurrency,
                    lambda_event_sources, cloudwatch, logs, dynamodb, sqs_kms, metric_data_status, insights_status,
                    insights_statistics, iam_simulation, iam_limits, iam_authorization_details, apigateway,
                    lambda_invoke, lambda_versions, lambda_aliases):
        patches.apply()
    _applied = True
