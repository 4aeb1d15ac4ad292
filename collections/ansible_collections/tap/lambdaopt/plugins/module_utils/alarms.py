# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CloudWatch alarms a fleet gets, as put_metric_alarm parameters (pure), and how to tell
whether an existing alarm already is one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ansible_collections.tap.lambdaopt.plugins.module_utils.common import format_arn, parse_whole_arn

PREFIX = "lambdaopt-"
DEAD_LETTER_ERRORS_KIND = "dead-letter-errors"
MARKER = "Managed by tap.lambdaopt"
# Told by the module, the savings report and the run summary when the alarms have no alarm actions.
NOTIFY_NO_ONE = "alarms notify no one: no alarm_actions are set, so an alarm that fires tells nobody"
SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
# The fields put_metric_alarm sets and describe_alarms returns; AWS adds state, ARNs and timestamps.
COMPARED_FIELDS = (
    "AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "MetricName", "Namespace", "Statistic",
    "ExtendedStatistic", "Dimensions", "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator",
    "TreatMissingData", "Metrics",
)


@dataclass(frozen=True)
class AlarmPolicy:
    error_rate_percent: float = 1.0
    duration_ms: float = 20000
    duration_statistic: str = "Maximum"
    throttles: float = 0
    dlq_messages: float = 0
    dead_letter_errors: float = 0
    period: int = 300
    evaluation_periods: int = 1
    treat_missing_data: str = "notBreaching"
    alarm_actions: tuple = ()
    ok_actions: tuple = ()


def function_alarm_names(function_name: str) -> list:
    return [f"{PREFIX}{function_name}-{kind}" for kind in ("error-rate", "duration", "throttles")]


def _common(name: str, description: str, policy: AlarmPolicy, threshold: float) -> dict:
    return {
        "AlarmName": name,
        "AlarmDescription": f"{description}. {MARKER}.",
        "ActionsEnabled": bool(policy.alarm_actions or policy.ok_actions),
        "AlarmActions": list(policy.alarm_actions),
        "OKActions": list(policy.ok_actions),
        "EvaluationPeriods": policy.evaluation_periods,
        "Threshold": float(threshold),
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": policy.treat_missing_data,
    }


def _lambda_metric(function_name: str, metric: str) -> dict:
    return {"Namespace": "AWS/Lambda", "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": function_name}]}


def function_alarms(function_name: str, policy: AlarmPolicy) -> list:
    error_rate, duration, throttles = function_alarm_names(function_name)
    statistic = ({"ExtendedStatistic": policy.duration_statistic} if policy.duration_statistic.startswith("p")
                 else {"Statistic": policy.duration_statistic})
    return [
        {
            **_common(error_rate, f"{function_name}: more than {policy.error_rate_percent:g} % of invocations fail",
                      policy, policy.error_rate_percent),
            "Metrics": [
                {"Id": "errors", "ReturnData": False,
                 "MetricStat": {"Metric": _lambda_metric(function_name, "Errors"), "Period": policy.period,
                                "Stat": "Sum"}},
                {"Id": "invocations", "ReturnData": False,
                 "MetricStat": {"Metric": _lambda_metric(function_name, "Invocations"), "Period": policy.period,
                                "Stat": "Sum"}},
                {"Id": "error_rate", "Expression": "100 * errors / invocations", "Label": "Error rate (%)",
                 "ReturnData": True},
            ],
        },
        {
            **_common(duration, f"{function_name}: duration ({policy.duration_statistic}) above "
                                f"{policy.duration_ms:g} ms", policy, policy.duration_ms),
            **_lambda_metric(function_name, "Duration"), **statistic, "Period": policy.period,
        },
        {
            **_common(throttles, f"{function_name}: throttled requests", policy, policy.throttles),
            **_lambda_metric(function_name, "Throttles"), "Statistic": "Sum", "Period": policy.period,
        },
    ]


def dead_letter_alarm_name(function_name: str) -> str:
    return f"{PREFIX}{function_name}-{DEAD_LETTER_ERRORS_KIND}"


def dead_letter_alarm(function_name: str, policy: AlarmPolicy) -> dict:
    """For a function with a dead-letter queue: Lambda could not send a failed event to it (no permission to
    send or to use the queue's KMS key, queue gone, event too large), so the event was dropped. Only this metric
    tells: "For asynchronous invocation, the number of times that Lambda attempts to send an event to a
    dead-letter queue (DLQ) but fails" (Lambda Developer Guide, "Types of metrics for Lambda functions",
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html), read with Sum like the other
    invocation metrics."""
    return {
        **_common(dead_letter_alarm_name(function_name), f"{function_name}: failed events could not be sent to the "
                                                         "dead-letter queue and were dropped", policy,
                  policy.dead_letter_errors),
        **_lambda_metric(function_name, "DeadLetterErrors"), "Statistic": "Sum", "Period": policy.period,
    }


def queue_alarm(queue_name: str, policy: AlarmPolicy) -> dict:
    return {
        **_common(f"{PREFIX}dlq-{queue_name}-messages",
                  f"{queue_name}: failed invocations waiting in the dead-letter queue", policy, policy.dlq_messages),
        "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue_name}], "Statistic": "Maximum", "Period": policy.period,
    }


def alarm_arn(function_arn: str, alarm_name: str) -> str:
    """The ARN an alarm gets in the account-region of a function (arn:<partition>:lambda:<region>:<account>:...)."""
    function = parse_whole_arn(function_arn)
    if function is None:
        raise ValueError(f"{function_arn!r} is not the ARN of a function")
    return format_arn(function, service="cloudwatch", resource=f"alarm:{alarm_name}")


def billed_metrics(alarm: dict) -> int:
    """CloudWatch bills an alarm per metric it evaluates: a metric-math alarm counts each of its metrics."""
    if alarm.get("Metrics"):
        return sum(1 for metric in alarm["Metrics"] if "MetricStat" in metric)
    return 1


def high_resolution(alarm: dict) -> bool:
    periods = [metric["MetricStat"]["Period"] for metric in alarm.get("Metrics") or [] if "MetricStat" in metric]
    return min(periods or [alarm.get("Period") or 60]) < 60


def subject_of(alarm: dict) -> dict:
    """{"function_name": ...} or {"queue_name": ...}: what the alarm watches, from its dimensions."""
    dimensions = alarm.get("Dimensions") or next(
        (metric["MetricStat"]["Metric"].get("Dimensions") for metric in alarm.get("Metrics") or []
         if "MetricStat" in metric), [])
    names = {dimension["Name"]: dimension["Value"] for dimension in dimensions}
    if "FunctionName" in names:
        return {"function_name": names["FunctionName"]}
    if "QueueName" in names:
        return {"queue_name": names["QueueName"]}
    return {}


def billing_of(alarm: dict) -> dict:
    """What an alarm adds to the bill, for the savings report."""
    return {**subject_of(alarm), "metrics": billed_metrics(alarm), "high_resolution": high_resolution(alarm)}


def comparable(alarm: dict) -> dict:
    """The fields of an alarm that this collection sets, in a stable form."""
    fields = {key: alarm.get(key) for key in COMPARED_FIELDS}
    for key in ("AlarmActions", "OKActions"):
        fields[key] = sorted(fields[key] or [])
    fields["Dimensions"] = sorted((fields["Dimensions"] or []), key=lambda d: d["Name"])
    fields["Threshold"] = float(fields["Threshold"]) if fields["Threshold"] is not None else None
    if fields["Metrics"]:
        fields["Metrics"] = [{key: value for key, value in metric.items() if key != "AccountId"}
                             for metric in fields["Metrics"]]
    return {key: value for key, value in fields.items() if value not in (None, [], "")}


def matches(existing: dict, wanted: dict) -> bool:
    """Whether an alarm AWS returned is the alarm we would put, ignoring what AWS adds itself."""
    return comparable(existing) == comparable(wanted)
