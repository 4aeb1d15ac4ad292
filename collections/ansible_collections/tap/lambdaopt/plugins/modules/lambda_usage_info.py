#!/usr/bin/python
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: lambda_usage_info
short_description: Measure how a fleet of Lambda functions is really used
version_added: 0.1.0
description:
  - Finds one account-region's functions (by suffix, names, name pattern and tags) and measures, for the
    whole set at once, what they did over a lookback window.
  - Invocations, errors, throttles, duration and peak concurrency come from AWS/Lambda metrics, read with
    batched C(GetMetricData) calls of up to 500 queries each.
  - Memory comes from the C(REPORT) line Lambda writes for every invocation, since AWS/Lambda has no memory
    metric. Logs Insights computes the statistics where it answers; otherwise the log events are read and
    parsed. Each figure says where it came from.
  - A metric C(GetMetricData) could not answer (its status C(InternalError) or C(Forbidden)) is unknown, C(null),
    never zero, and listed with the reason under RV(functions[].unknown_metrics); a function whose invocations are
    unknown has too little evidence for any sizing decision. A metric answered in pages (C(PartialData)) is read
    to its last page.
  - Logs Insights is asked only about the log groups that exist (one C(DescribeLogGroups) listing), 50 groups a
    query; a query that fails, times out, is cancelled or runs longer than 5 minutes (then stopped with
    C(StopQuery)) sends only its own groups to the log events.
  - Reads each function once - one C(ListFunctions) listing of every version, one C(GetFunction) per function,
    and for a function that has published a version one C(ListAliases) and one
    C(ListProvisionedConcurrencyConfigs) - and returns what it read (configuration with C(RevisionId), tags,
    aliases, provisioned concurrency). Given these entries as O(functions), the collection's other modules plan
    from them instead of reading every function again, and write with the C(RevisionId) read here.
  - RV(fleet) holds the same functions with only what the steps that size nothing plan from. Given as their
    O(functions), M(tap.lambdaopt.log_retention), M(tap.lambdaopt.lambda_tracing), M(tap.lambdaopt.lambda_dlq),
    M(tap.lambdaopt.lambda_alarms) and M(tap.lambdaopt.lambda_secrets) plan as from RV(functions), and a playbook
    hands each of them a fraction of the data (templating and passing a module argument takes time in proportion
    to the values it holds).
  - Aliases of a function that has never published a version can only serve C($LATEST); they are not listed, so
    permissions given on such an alias are not among the C(invokers) of RV(functions[].triggers).
  - Makes no changes.
options:
  lookback_days:
    description: Length of the window that ends now, in days.
    type: int
    default: 14
  logs_insights:
    description:
      - C(auto) uses Logs Insights and reads the log events where Insights cannot answer, C(always) requires
        Insights, C(never) reads the log events.
      - Insights bills per GB scanned; reading events makes one C(FilterLogEvents) call per page of events.
    type: str
    choices: [auto, always, never]
    default: auto
  logs_requests_per_second:
    description: Client-side limit on C(FilterLogEvents) calls when log events are read.
    type: float
    default: 5
  max_report_events:
    description:
      - When log events are read, at most this many report events (C(REPORT) lines or C(platform.report)
        records) per log group, oldest first, so that a chatty function cannot exhaust the job's memory or time.
      - A function with more invocations in the window is measured on a sample, and says so
        (C(report_lines_sampled) in RV(functions[].samples)). Logs Insights has no such bound.
    type: int
    default: 10000
  triggers:
    description:
      - Also read what invokes each function (RV(functions[].triggers)), with one paginated
        C(ListEventSourceMappings) for the account-region, C(GetQueueAttributes) for each SQS queue mapped to
        the fleet, C(ListAliases) for each function and C(GetPolicy) for it and each of its aliases (a permission
        given on an alias is in the alias's policy), the integrations of each API Gateway API those policies name
        (C(GetRestApi) and C(GetResources) for a REST API, C(GetApi) and C(GetIntegrations) for an HTTP or
        WebSocket API, once per API), all at O(requests_per_second), and the daily C(IteratorAge) of stream
        consumers in one C(GetMetricData) call.
    type: bool
    default: true
  read_roles:
    description:
      - Also read the inline policies of the functions' execution roles, once per role, and return them as
        RV(roles) for the modules that write there
        (M(tap.lambdaopt.lambda_tracing), M(tap.lambdaopt.lambda_dlq), M(tap.lambdaopt.lambda_secrets)) to plan
        from.
      - From 10 roles on, one C(GetAccountAuthorizationDetails) listing of the account's roles (1,000 a page) where
        the caller may make it; otherwise, and for fewer roles, C(ListRolePolicies) and C(GetRolePolicy) for each.
    type: bool
    default: false
  requests_per_second:
    description:
      - Client-side limit on the Lambda calls of each request quota - those that list aliases, provisioned
        concurrency and event sources (Lambda's control-plane quota, 15 a second), and C(GetPolicy) (its own quota,
        15 a second). While the usage is measured the two are read at once, each at this rate; the aliases'
        policies and the event sources are read after, sharing it.
    type: float
    default: 15
extends_documentation_fragment:
  - tap.lambdaopt.fleet
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Measure the dev fleet over the last two weeks
  tap.lambdaopt.lambda_usage_info:
    suffix: dev
  register: usage

- name: Measure only the API functions of the payments team, over a week
  tap.lambdaopt.lambda_usage_info:
    suffix: prod
    name_pattern: "api-*"
    tags:
      Team: payments
    lookback_days: 7
"""

RETURN = r"""
roles:
  description:
    - With O(read_roles), the execution roles of the functions and their inline policies (each role's name mapped
      to its policies' names mapped to their documents); a role that does not exist is left out.
  returned: when O(read_roles) is true
  type: dict
  sample: {"api-handler-role-dev": {"lambdaopt-xray-write": {"Version": "2012-10-17", "Statement": []}}}
functions:
  description: One entry per selected function, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    function_name:
      description: The function's name.
      type: str
      sample: api-handler-dev
    status:
      description: Always C(unchanged), as measuring changes nothing.
      type: str
      sample: unchanged
    function_arn:
      description: The function's ARN.
      type: str
      sample: arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev
    configuration:
      description:
        - The function's current configuration.
        - C(state) and C(last_update_status) come from GetFunction (ListFunctions does not return them); they are
          null when the task did not read it.
        - C(log_group) and C(log_format) come from its C(LoggingConfig), the group it logs to (C(/aws/lambda/<name>)
          unless another is named) and C(Text) or C(JSON).
        - C(revision_id) is the C(RevisionId) it was read at; a module that updates the function sends it, and
          Lambda refuses the update if the function changed since.
      type: dict
      sample: {"memory_size": 3008, "timeout": 300, "reserved_concurrency": null, "architecture": "x86_64",
               "runtime": "python3.12", "tracing_mode": "PassThrough", "dead_letter_target": null,
               "state": "Active", "last_update_status": "Successful",
               "revision_id": "2c6a1e4b-9f7d-4b0e-8a55-3d1f0c9e7a21",
               "role_arn": "arn:aws:iam::123456789012:role/api-handler-role-dev",
               "log_group": "/aws/lambda/api-handler-dev", "log_format": "Text"}
    tags:
      description: The function's tags.
      type: dict
      sample: {"Environment": "dev"}
    aliases:
      description: The function's aliases, empty for a function that has published no version.
      type: list
      elements: dict
      sample: [{"name": "live", "function_version": "3", "additional_weights": {}}]
    provisioned_concurrency:
      description:
        - Every allocation of provisioned concurrency on the function's aliases and versions, with the memory and
          architecture of the version it serves (what it is billed at).
      type: list
      elements: dict
      sample: [{"qualifier": "live",
                "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev:live",
                "requested": 5, "status": "READY", "memory_size": 3008, "architecture": "x86_64"}]
    window:
      description: The lookback window measured.
      type: dict
      sample: {"start": "2026-11-09T12:00:00+00:00", "end": "2026-11-23T12:00:00+00:00", "days": 14}
    invocations:
      description:
        - Invocations in the window; C(0) when CloudWatch has no data point, C(null) when it could not answer
          (see RV(functions[].unknown_metrics)).
      type: int
      sample: 5762
    errors:
      description: Invocations that ended in an error, including timeouts and out-of-memory; C(null) when unknown.
      type: int
      sample: 10
    throttles:
      description: Requests refused for lack of concurrency; C(null) when unknown.
      type: int
      sample: 0
    unknown_metrics:
      description:
        - The metrics C(GetMetricData) could not answer, with the status and message it gave; empty when it
          answered every one.
      type: dict
      sample: {"invocations": "GetMetricData answered Forbidden: You are not authorized to read this metric."}
    duration_ms:
      description: Duration statistics in milliseconds; C(null) where unknown.
      type: dict
      sample: {"avg": 124.3, "max": 306.9, "p99": 241.2, "p999": 288.0}
    max_memory_used_mb:
      description:
        - Max Memory Used over the window's REPORT lines (text log format) or C(platform.report) records (JSON log
          format), in MB.
        - In a log group several functions share, only the lines of the function's own log streams count.
      type: dict
      sample: {"max": 91, "p99": 88}
    daily_max_memory_used_mb:
      description:
        - The highest Max Memory Used of each day of the window, as C([day, MB]) with the day counted from the
          window's start, whole days where the log events were read; where Logs Insights answered, its daily rows
          (C(bin(1d)), UTC days) counted from the window's start, the first, partial day as 0. What
          M(tap.lambdaopt.lambda_rightsize) fits a trend to.
        - Where Logs Insights answered, the window's percentiles are the largest of its days' (never below the
          window's own).
      type: list
      elements: list
      sample: [[0, 88], [1, 91], [2, 90]]
    daily_max_duration_ms:
      description:
        - The highest duration of each day of the window, as C([day, ms]) with the day counted from the window's
          start, from the AWS/Lambda C(Duration) metric. What M(tap.lambdaopt.lambda_rightsize) fits a trend to.
      type: list
      elements: list
      sample: [[0, 290.1], [1, 306.9], [2, 301.4]]
    triggers:
      description:
        - What invokes the function, when O(triggers) is set. C(event_sources) are its event source mappings
          (C(type) C(sqs), C(kinesis), C(dynamodb) or C(other), the source's C(arn), the mapping's C(state) and
          C(batch_size)), with an SQS queue's C(visibility_timeout) in seconds and a stream's C(iterator_age_ms),
          the daily maxima of C(IteratorAge) over the window, oldest first.
        - C(invokers) are the service principals its resource policies (its own and its aliases') allow to invoke
          it, such as C(apigateway.amazonaws.com); C(unknown) says what could not be read, and why.
        - C(apis), for a function API Gateway may invoke, lists the APIs its resource policies name (by their
          C(AWS:SourceArn)) with their C(id), C(name), C(type) (C(rest), C(http) or C(websocket)) and
          C(integration_timeout_ms), the least timeout of the API's integrations that invoke the function (an
          integration without its own has its API type's default, 29,000 or 30,000 for HTTP APIs); None when the
          API could not be read.
      type: dict
      returned: when O(triggers) is set
      sample: {"event_sources": [{"type": "sqs", "arn": "arn:aws:sqs:us-east-1:123456789012:jobs-dev",
                                  "state": "Enabled", "batch_size": 10, "visibility_timeout": 1800}],
               "invokers": ["apigateway.amazonaws.com"], "unknown": {},
               "apis": [{"id": "a1b2c3d4e5", "name": "records-api-dev", "type": "rest",
                         "integration_timeout_ms": 29000}]}
    init_duration_ms:
      description: Cold starts and their init duration.
      type: dict
      sample: {"cold_starts": 117, "avg": 241.5, "max": 301.2}
    avg_billed_duration_ms:
      description: Average billed duration per invocation (init included where billed).
      type: float
      sample: 129.4
    log_ingested_bytes:
      description:
        - Uncompressed bytes the function's log group ingested in the window (C(IncomingBytes)); C(null) where
          CloudWatch has no data.
        - For a group several functions log to, the whole group's (see C(log_group)).
      type: int
      sample: 1843200
    log_group:
      description:
        - The log group the function logs to, its log format, and the selected functions that log to it (a group
          may be shared, also with functions outside the selection).
      type: dict
      sample: {"name": "/aws/lambda/api-handler-dev", "log_format": "Text", "functions": ["api-handler-dev"]}
    peak_concurrency:
      description: Highest concurrent executions seen in the window.
      type: int
      sample: 4
    samples:
      description:
        - How much evidence stands behind the figures.
        - C(report_lines_limit) is the bound on report events read per log group when the log events were read
          (C(null) when Logs Insights answered), and C(report_lines_sampled) says the window held more, so the
          memory and duration figures are those of its first C(report_lines_limit) events.
      type: dict
      sample: {"report_lines": 5762, "duration_datapoints": 5762, "observed_memory_size_mb": 3008,
               "report_lines_limit": null, "report_lines_sampled": false}
    sources:
      description:
        - Where each figure came from; C(unknown) and the reason for a metric CloudWatch could not answer.
        - C(insights_fallback) says why the REPORT lines were read from the log events although Logs Insights was
          asked (the query of the function's batch failed, timed out or was stopped); C(null) otherwise.
      type: dict
      sample: {"invocations": "AWS/Lambda metrics (GetMetricData)", "memory": "REPORT lines (Logs Insights)",
               "insights_fallback": null}
fleet:
  description:
    - The functions of RV(functions), in the same order, each with only C(function_name), C(function_arn),
      C(configuration) and C(tags), what a module of this collection plans from when given these entries as its
      O(functions); without the usage figures, aliases, provisioned concurrency, log group, samples, sources and
      triggers.
    - For the modules that size nothing (M(tap.lambdaopt.log_retention), M(tap.lambdaopt.lambda_tracing),
      M(tap.lambdaopt.lambda_dlq), M(tap.lambdaopt.lambda_alarms), M(tap.lambdaopt.lambda_secrets)). Those that size
      from usage (M(tap.lambdaopt.lambda_rightsize), M(tap.lambdaopt.lambda_canary),
      M(tap.lambdaopt.lambda_provisioned_concurrency)) and the report (M(tap.lambdaopt.savings_report),
      M(tap.lambdaopt.change_record)) take RV(functions).
  returned: always
  type: list
  elements: dict
  sample: [{"function_name": "api-handler-dev",
            "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:api-handler-dev",
            "configuration": {"memory_size": 3008, "timeout": 300, "reserved_concurrency": null,
                              "architecture": "x86_64", "runtime": "python3.12", "tracing_mode": "PassThrough",
                              "dead_letter_target": null, "state": "Active", "last_update_status": "Successful",
                              "revision_id": "2c6a1e4b-9f7d-4b0e-8a55-3d1f0c9e7a21",
                              "role_arn": "arn:aws:iam::123456789012:role/api-handler-role-dev",
                              "log_group": "/aws/lambda/api-handler-dev", "log_format": "Text"},
            "tags": {"Environment": "dev"}}]
missing:
  description: Names given in O(functions) that do not exist.
  returned: always
  type: list
  elements: str
  sample: []
failed_functions:
  description: The same names as RV(missing), as every module of the collection names what it could not handle.
  returned: always
  type: list
  elements: str
  sample: []
summary:
  description: How many functions were measured, and how many of those given in O(functions) do not exist (C(failed)).
  returned: always
  type: dict
  sample: {"functions": 6, "changed": 0, "unchanged": 6, "with_refusals": 0, "failed": 0}
api_calls:
  description: Bulk calls made, to show the cost of measuring.
  returned: always
  type: dict
  sample: {"get_metric_data_calls": 1}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import (
    discover,
    latest_of,
    list_functions,
    published_versions,
    select_as_asked,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.evidence import measure
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.triggers import read_own_policies, read_triggers
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.versions import read_served
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    FLEET_ARGUMENT_SPEC,
    FLEET_REQUIRED_ONE_OF,
    aws_client,
    fleet_selection_errors,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import lookback_errors
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import UNCHANGED, bulk_result, finish
from ansible_collections.tap.lambdaopt.plugins.module_utils.roles import read_policies, role_name
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter, in_background, run_bounded

# Functions (or roles) read at once.
MAX_WORKERS = 8
# What a module given these entries as its `functions` reads from each (discovery.from_carried): the entries of
# `fleet`, for the steps that plan from the configuration alone.
FLEET_KEYS = ("function_name", "function_arn", "configuration", "tags")

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule


class UsageReader:
    def __init__(self, module: AnsibleAWSModule):
        self.module = module
        self.params = module.params

    def run(self) -> dict:
        # Every client is made before the reads below share them between threads: a boto3 client is thread-safe,
        # the session that makes it is not.
        lambda_client = aws_client(self.module, "lambda")
        cloudwatch, logs = aws_client(self.module, "cloudwatch"), aws_client(self.module, "logs")
        listing = list_functions(lambda_client, all_versions=True)
        latest = latest_of(listing)
        # GetPolicy has a quota of its own, which binds the whole task, and needs only each function's name: the
        # fleet's own policies are read from the listing on, while the functions are read and measured - unless a
        # tag filter leaves the fleet unknown until each function is read.
        own_policies = None
        if self.params["triggers"] and not self.params.get("tags"):
            selected, _missing = select_as_asked(latest, self.params)
            own_policies = self.start_own_policies(lambda_client, [function["FunctionName"] for function in selected])
        functions, missing = discover(lambda_client, self.params, listing=latest)
        with_triggers = bool(self.params["triggers"] and functions)
        if with_triggers and own_policies is None:
            own_policies = self.start_own_policies(lambda_client, [function["function_name"] for function in functions])
        if with_triggers:
            sqs, apigateway = aws_client(self.module, "sqs"), aws_client(self.module, "apigateway")
            apigatewayv2 = aws_client(self.module, "apigatewayv2")
        # These reads draw on different quotas (Lambda's control plane; CloudWatch's and Logs'; GetPolicy's), so
        # they run at once, not one after the other; the first to fail, in this order, fails the run once all have
        # ended. measure fills copies of the entries, which never meet read_served's writes; its figures join the
        # entries after read_served's, as when they ran one after the other.
        bases = [dict(function) for function in functions]
        measured = [dict(function) for function in functions]
        reads = {
            "served": lambda: read_served(lambda_client, functions, published_versions(listing),
                                          RateLimiter(self.params["requests_per_second"]), MAX_WORKERS),
            "usage": lambda: measure(cloudwatch, logs, measured, self.params["lookback_days"],
                                     insights=self.params["logs_insights"],
                                     logs_requests_per_second=self.params["logs_requests_per_second"],
                                     max_report_events=self.params["max_report_events"]),
        }
        if with_triggers:
            reads["own policies"] = own_policies
        done = run_bounded(lambda read: reads[read](), list(reads), len(reads))
        for _result, error in done.values():
            if error is not None:
                raise error
        # Only what measure set joins an entry: a key it merely copied could undo read_served's write to it.
        for function, base, figures in zip(functions, bases, measured, strict=True):
            function.update({key: value for key, value in figures.items()
                             if key not in base or value is not base[key]})
        calls = done["usage"][0]
        if with_triggers:
            read_triggers(lambda_client, sqs, cloudwatch, functions, self.params["lookback_days"],
                          self.params["requests_per_second"], apigateway=apigateway, apigatewayv2=apigatewayv2,
                          own_policies=done["own policies"][0])
        for function in functions:
            function["status"] = UNCHANGED
        extra = {}
        if self.params["read_roles"]:
            extra["roles"] = read_policies(aws_client(self.module, "iam"),
                                           [role_name(function["configuration"]["role_arn"]) for function in functions],
                                           MAX_WORKERS)
        fleet = [{key: function[key] for key in FLEET_KEYS} for function in functions]
        result = bulk_result(self.module, "functions", functions, missing, api_calls=calls, fleet=fleet, **extra)
        # Beside failed_functions, under the name this module has always given them.
        result["missing"] = missing
        return result

    def start_own_policies(self, lambda_client, names: list):
        """read_own_policies of `names`, started in the background; what this returns waits for its result."""
        limiter = RateLimiter(self.params["requests_per_second"])
        return in_background(lambda: read_own_policies(lambda_client, limiter, names))


def main():
    argument_spec = dict(
        lookback_days=dict(type="int", default=14),
        logs_insights=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        logs_requests_per_second=dict(type="float", default=5),
        max_report_events=dict(type="int", default=10000),
        triggers=dict(type="bool", default=True),
        read_roles=dict(type="bool", default=False),
        requests_per_second=dict(type="float", default=15),
        **FLEET_ARGUMENT_SPEC,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, required_one_of=FLEET_REQUIRED_ONE_OF,
                              supports_check_mode=True)
    errors = fleet_selection_errors(module.params)
    errors += lookback_errors(module.params["lookback_days"])
    if module.params["logs_requests_per_second"] <= 0:
        errors.append("logs_requests_per_second must be positive")
    if module.params["max_report_events"] < 1:
        errors.append("max_report_events must be at least 1")
    if module.params["requests_per_second"] <= 0:
        errors.append("requests_per_second must be positive")
    if errors:
        module.fail_json(msg="; ".join(errors))

    try:
        result = UsageReader(module).run()
    except (BotoCoreError, ClientError, ValueError) as error:
        module.fail_json_aws(error, msg="Could not measure the fleet's usage")
    finish(module, result, "functions not found")


if __name__ == "__main__":
    main()
