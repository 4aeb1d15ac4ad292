"""Per-function settings the optimizer found, carried in the stack's config over the baseline, so that the
next `pulumi up` keeps them instead of putting every function back to 3008 MB and 300 s.

In Pulumi.<stack>.yaml, by function name without the suffix; every setting is optional:

    lambdaopt-baseline:functions:
      transform:
        memory_size: 128                 # MB, 128-10240
        timeout: 7                       # s, 1-900
        reserved_concurrency: 17         # null: unreserved
        log_retention_days: 7            # a value CloudWatch Logs accepts; null: never expire
        tracing_mode: Active             # or PassThrough
        dead_letter_target: arn:aws:sqs:us-east-1:123456789012:lambda-dlq-dev   # null: none
        dead_letter_kms_key: arn:aws:kms:us-east-1:123456789012:key/1234abcd-...  # the queue's customer managed
                                         # key, which the role may use; null: none (SSE-SQS or AWS managed key)
      api-handler:
        provisioned_concurrency: 102     # on the function's alias; null: none
    lambdaopt-baseline:data_table:
      billing_mode: PROVISIONED          # or PAY_PER_REQUEST, without capacities
      read_capacity: 7
      write_capacity: 4

A change record of tap.lambdaopt (`tools/pulumi_config.py`, `playbooks/pulumi_config.yml`) writes it.
Pure: no Pulumi or boto3 import.
"""

from __future__ import annotations

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
SETTINGS = ("memory_size", "timeout", "reserved_concurrency", "log_retention_days", "tracing_mode",
            "dead_letter_target", "dead_letter_kms_key", "provisioned_concurrency")
# tap.lambdaopt.lambda_dlq's inline policy, and its statement on the queue's customer managed KMS key.
DLQ_POLICY_NAME = "lambdaopt-dlq-send"
# The statement that lets the role encrypt for its dead-letter queue, whatever its Sid (one per suffix).
DLQ_KMS_ACTION = "kms:GenerateDataKey"
TABLE_SETTINGS = ("billing_mode", "read_capacity", "write_capacity")


class TuningError(ValueError):
    """The stack's `functions` config names an unknown function or setting, or an invalid value."""


def _whole(value, low: int, high: int | None, where: str, nullable: bool = False):
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low}-{high}" if high is not None else f"{low} or more"
        raise TuningError(f"{where} must be a whole number {span}{' or null' if nullable else ''}, got {value!r}")
    return value


def check_setting(name: str, value, where: str):
    if name == "memory_size":
        return _whole(value, 128, 10240, where)
    if name == "timeout":
        return _whole(value, 1, 900, where)
    if name == "reserved_concurrency":
        return _whole(value, 0, None, where, nullable=True)
    if name == "provisioned_concurrency":
        return _whole(value, 1, None, where, nullable=True)
    if name == "log_retention_days":
        if value is not None and value not in RETENTION_DAYS:
            raise TuningError(f"{where} must be null or one of {', '.join(map(str, RETENTION_DAYS))}, got {value!r}")
        return value
    if name == "tracing_mode":
        if value not in ("Active", "PassThrough"):
            raise TuningError(f"{where} must be Active or PassThrough, got {value!r}")
        return value
    if name == "dead_letter_kms_key":
        keys = [value] if isinstance(value, str) else value
        if value is not None and not (isinstance(keys, list) and keys and all(
                isinstance(key, str) and key.startswith("arn:") and ":kms:" in key and ":key/" in key
                for key in keys)):
            raise TuningError(f"{where} must be null or the ARN of a KMS key (arn:...:kms:...:key/...), got {value!r}")
        return value
    if value is not None and not (isinstance(value, str) and value.startswith("arn:") and ":sqs:" in value):
        raise TuningError(f"{where} must be null or the ARN of an SQS queue, got {value!r}")
    return value


def parse(raw, functions: list[str]) -> dict[str, dict]:
    """{function (without suffix): {setting: value}} from the stack's `functions` config, checked."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TuningError("config `functions` must map function names to their settings")
    tunings = {}
    for name, settings in raw.items():
        if name not in functions:
            raise TuningError(f"config `functions` names {name!r}, which is not in fleet.yaml "
                              f"({', '.join(functions)})")
        if not isinstance(settings, dict):
            raise TuningError(f"config `functions.{name}` must map settings to values")
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise TuningError(f"config `functions.{name}` has unknown settings {sorted(unknown)}; "
                              f"known: {', '.join(SETTINGS)}")
        tunings[name] = {key: check_setting(key, value, f"config `functions.{name}.{key}`")
                         for key, value in settings.items()}
    return tunings


def parse_table(raw) -> dict:
    """{setting: value} from the stack's `data_table` config, checked: a provisioned table has both capacities,
    an on-demand table none."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - set(TABLE_SETTINGS):
        raise TuningError(f"config `data_table` must map some of {', '.join(TABLE_SETTINGS)} to values")
    mode = raw.get("billing_mode", "PROVISIONED")
    if mode not in ("PROVISIONED", "PAY_PER_REQUEST"):
        raise TuningError(f"config `data_table.billing_mode` must be PROVISIONED or PAY_PER_REQUEST, got {mode!r}")
    if mode == "PAY_PER_REQUEST":
        if raw.get("read_capacity") is not None or raw.get("write_capacity") is not None:
            raise TuningError("config `data_table` of an on-demand table must not set capacities")
        return {"billing_mode": mode, "read_capacity": None, "write_capacity": None}
    return {"billing_mode": mode, **{key: _whole(raw.get(key), 1, None, f"config `data_table.{key}`")
                                     for key in ("read_capacity", "write_capacity") if key in raw}}


def from_record(record: dict, suffix: str) -> dict[str, dict]:
    """The settings a tap.lambdaopt change record leaves each function of the suffix with."""
    tail = f"-{suffix}"
    tunings: dict[str, dict] = {}
    for change in record.get("changes", []):
        if change["field"] in SETTINGS and change["function_name"].endswith(tail):
            base = change["function_name"][: -len(tail)]
            after = change["after"]
            if change["field"] == "provisioned_concurrency" and after == 0:
                after = None  # removed: the program declares no allocation
            tunings.setdefault(base, {})[change["field"]] = after
    # The dead-letter queue's key is in the role policy the run left (roles are `<function>-role-<suffix>`, as
    # fleet_spec names them): a `pulumi up` that declared the policy without it would let failed events drop.
    role_tail = f"-role{tail}"
    for policy in record.get("role_policies", []):
        if policy["policy_name"] == DLQ_POLICY_NAME and policy["role_name"].endswith(role_tail):
            statements = (policy.get("after") or {}).get("Statement") or []
            tunings.setdefault(policy["role_name"][: -len(role_tail)], {})["dead_letter_kms_key"] = next(
                (statement["Resource"] for statement in statements if DLQ_KMS_ACTION in (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])),
                None)
    return tunings


def table_from_record(record: dict, table_name: str) -> dict:
    """The throughput settings a change record leaves the data table with; empty if it did not change it."""
    settings = {}
    for table in record.get("tables", []):
        if table["table_name"] == table_name:
            settings = dict(table["after"])
    return settings


def merged(existing: dict | None, new: dict) -> dict:
    """Earlier tunings, with the new ones over them setting by setting."""
    combined = {name: dict(settings) for name, settings in (existing or {}).items()}
    for name, settings in new.items():
        combined.setdefault(name, {}).update(settings)
    return {name: dict(sorted(settings.items())) for name, settings in sorted(combined.items())}
