"""The baseline fleet as plain data: `fleet.yaml` resolved for one suffix, account and region.

Both provisioning paths build from this module: the Pulumi program for real AWS accounts and
`tools/baseline.py` for the local emulator. It imports nothing from Pulumi or boto3.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

PROGRAM_DIR = Path(__file__).resolve().parent
FLEET_FILE = PROGRAM_DIR / "fleet.yaml"

# Lowercase letters, digits and inner hyphens: valid in every resource name the fleet uses
# (Lambda, IAM, S3, Logs, Secrets Manager), including S3's stricter bucket rules.
SUFFIX_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
LAMBDA_NAME_LIMIT = 64
IAM_ROLE_NAME_LIMIT = 64
S3_BUCKET_NAME_LIMIT = 63


class FleetError(ValueError):
    """The fleet description or the requested suffix cannot produce a valid fleet."""


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    description: str
    runtime: str
    architecture: str
    memory_size: int
    timeout: int
    handler: str
    code_dir: Path
    environment: dict[str, str]
    role_name: str
    log_group: str
    package_key: str
    # Settings the optimizer found (tuned_settings.py); None keeps AWS's default, as the baseline does.
    reserved_concurrency: int | None = None
    log_retention_days: int | None = None
    tracing_mode: str | None = None
    dead_letter_target: str | None = None
    dead_letter_kms_key: str | list | None = None
    # Served through this alias of a published version, with this much provisioned concurrency on the alias.
    alias: str | None = None
    provisioned_concurrency: int | None = None
    # What the function may do on the data table.
    table_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    name: str
    hash_key: str
    range_key: str
    billing_mode: str
    # None for an on-demand table.
    read_capacity: int | None
    write_capacity: int | None
    # The table's stream (NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES or KEYS_ONLY), None without one.
    stream_view_type: str | None = None


@dataclass(frozen=True)
class SecretSpec:
    name: str
    config_key: str


@dataclass(frozen=True)
class LayerSpec:
    name: str
    description: str
    code_dir: Path
    package_key: str
    compatible_runtimes: tuple[str, ...]


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue whose messages a function of the fleet consumes (an event source mapping)."""

    name: str
    consumer: str
    visibility_timeout: int
    batch_size: int


@dataclass(frozen=True)
class StreamConsumerSpec:
    """A function of the fleet that reads the data table's stream (an event source mapping)."""

    consumer: str
    batch_size: int
    starting_position: str


@dataclass(frozen=True)
class RestApiSpec:
    """A REST API whose every path and method invokes one function of the fleet (through its alias if it has one)."""

    name: str
    function: str


@dataclass(frozen=True)
class FleetSpec:
    suffix: str
    account_id: str
    region: str
    partition: str
    tags: dict[str, str]
    bucket: str
    layer: LayerSpec
    functions: tuple[FunctionSpec, ...]
    table: TableSpec
    secrets: tuple[SecretSpec, ...] = field(default=())
    queues: tuple[QueueSpec, ...] = field(default=())
    rest_api: RestApiSpec | None = None
    stream_consumers: tuple[StreamConsumerSpec, ...] = field(default=())

    def queue_arn(self, queue: QueueSpec) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account_id}:{queue.name}"

    def log_group_arn(self, log_group: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account_id}:log-group:{log_group}"

    @property
    def table_arn(self) -> str:
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account_id}:table/{self.table.name}"

    def role_policy(self, function: FunctionSpec) -> dict:
        """Least privilege for the baseline: write to the function's own log group and do on the data table
        exactly what its code does there. Business metrics go out as log lines (EMF), so no role needs
        cloudwatch:PutMetricData."""
        statements = [
            {
                "Sid": "WriteOwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{self.log_group_arn(function.log_group)}:*",
            }
        ]
        if function.table_actions:
            statements.append({"Sid": "UseDataTable", "Effect": "Allow", "Action": list(function.table_actions),
                               "Resource": self.table_arn})
        consumed = [self.queue_arn(queue) for queue in self.queues if queue.consumer == function.name]
        if consumed:
            # What Lambda's poller does with the role of an SQS event source mapping.
            statements.append({"Sid": "ConsumeOwnQueue", "Effect": "Allow",
                               "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                               "Resource": consumed[0] if len(consumed) == 1 else consumed})
        if any(stream.consumer == function.name for stream in self.stream_consumers):
            # What Lambda's poller does with the role of a DynamoDB stream's event source mapping, on that table's
            # streams only (DynamoDB developer guide, "IAM policy to allow an AWS Lambda function to access DynamoDB
            # stream records").
            statements.append({"Sid": "ReadTableStream", "Effect": "Allow",
                               "Action": ["dynamodb:GetRecords", "dynamodb:GetShardIterator",
                                          "dynamodb:DescribeStream", "dynamodb:ListStreams"],
                               "Resource": f"{self.table_arn}/stream/*"})
        return {"Version": "2012-10-17", "Statement": statements}


# Name of the inline policy each function's role carries in the baseline.
ROLE_POLICY_NAME = "write-own-log-group"

LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def validate_suffix(suffix: object) -> str:
    if not isinstance(suffix, str) or not SUFFIX_PATTERN.fullmatch(suffix):
        raise FleetError(
            f"suffix {suffix!r} is not valid: use lowercase letters, digits and inner hyphens, e.g. 'dev'"
        )
    return suffix


def load_fleet(path: Path = FLEET_FILE) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def build_spec(
    suffix: str,
    account_id: str,
    region: str,
    partition: str = "aws",
    fleet: dict | None = None,
    tunings: dict | None = None,
    table_tuning: dict | None = None,
) -> FleetSpec:
    """Resolve the fleet description into concrete names, settings and policies; `tunings` (checked by
    tuned_settings.parse) override the baseline's settings function by function, `table_tuning` (checked by
    tuned_settings.parse_table) the data table's throughput."""
    validate_suffix(suffix)
    fleet = fleet if fleet is not None else load_fleet()
    defaults = fleet["function_defaults"]
    tags = {**fleet["tags"], "Environment": suffix}
    tunings = tunings or {}

    table_entry = fleet["data_table"]
    table = TableSpec(
        name=f"{table_entry['name']}-{suffix}",
        hash_key=table_entry["hash_key"],
        range_key=table_entry["range_key"],
        billing_mode=table_entry["billing_mode"],
        read_capacity=int(table_entry["read_capacity"]),
        write_capacity=int(table_entry["write_capacity"]),
        stream_view_type=table_entry.get("stream_view_type"),
    )
    table = replace(table, **(table_tuning or {}))

    def environment_of(entry: dict) -> dict[str, str]:
        variables = {**defaults.get("environment", {}), **entry.get("environment", {})}
        if entry.get("table_actions"):
            variables["TABLE_NAME"] = table.name
        return {key: str(value) for key, value in variables.items()}

    functions = tuple(
        replace(FunctionSpec(
            name=f"{entry['name']}-{suffix}",
            description=entry["description"],
            runtime=entry.get("runtime", defaults["runtime"]),
            architecture=entry.get("architecture", defaults["architecture"]),
            memory_size=int(entry.get("memory_size", defaults["memory_size"])),
            timeout=int(entry.get("timeout", defaults["timeout"])),
            handler=entry["handler"],
            code_dir=PROGRAM_DIR / entry["code"],
            environment=environment_of(entry),
            role_name=f"{entry['name']}-role-{suffix}",
            log_group=f"/aws/lambda/{entry['name']}-{suffix}",
            package_key=f"functions/{entry['name']}-{suffix}.zip",
            alias=entry.get("alias"),
            provisioned_concurrency=entry.get("provisioned_concurrency"),
            table_actions=tuple(entry.get("table_actions", ())),
        ), **tunings.get(entry["name"], {}))
        for entry in fleet["functions"]
    )
    layer_entry = fleet["layer"]
    layer = LayerSpec(
        name=f"{layer_entry['name']}-{suffix}",
        description=layer_entry["description"],
        code_dir=PROGRAM_DIR / layer_entry["code"],
        package_key=f"layers/{layer_entry['name']}-{suffix}.zip",
        compatible_runtimes=tuple(sorted({function.runtime for function in functions})),
    )
    spec = FleetSpec(
        suffix=suffix,
        account_id=account_id,
        region=region,
        partition=partition,
        tags=tags,
        # Bucket names are global across all AWS accounts, so the account id keeps them unique.
        bucket=f"{fleet['artifact_bucket']['name']}-{account_id}-{suffix}",
        layer=layer,
        functions=functions,
        table=table,
        secrets=tuple(
            SecretSpec(name=f"{entry['name']}-{suffix}", config_key=entry["config_key"])
            for entry in fleet["secrets"]
        ),
        queues=tuple(
            QueueSpec(name=f"{entry['name']}-{suffix}", consumer=f"{entry['consumer']}-{suffix}",
                      visibility_timeout=int(entry["visibility_timeout"]), batch_size=int(entry["batch_size"]))
            for entry in fleet.get("queues") or ()
        ),
        rest_api=RestApiSpec(name=f"{fleet['rest_api']['name']}-{suffix}",
                             function=f"{fleet['rest_api']['function']}-{suffix}") if fleet.get("rest_api") else None,
        stream_consumers=tuple(
            StreamConsumerSpec(consumer=f"{entry['consumer']}-{suffix}", batch_size=int(entry["batch_size"]),
                               starting_position=entry["starting_position"])
            for entry in fleet.get("table_stream_consumers") or ()
        ),
    )
    _check_name_lengths(spec)
    _check_aliases(spec)
    _check_triggers(spec)
    return spec


def _check_triggers(spec: FleetSpec) -> None:
    functions = {function.name: function for function in spec.functions}
    for queue in spec.queues:
        consumer = functions.get(queue.consumer)
        if consumer is None:
            raise FleetError(f"queue {queue.name} names no function of the fleet: {queue.consumer}")
        if queue.visibility_timeout < consumer.timeout:
            # AWS refuses such an event source mapping (Lambda developer guide, "Using Lambda with Amazon SQS").
            raise FleetError(f"queue {queue.name}'s visibility timeout {queue.visibility_timeout} s is below "
                             f"{consumer.name}'s timeout of {consumer.timeout} s")
    for stream in spec.stream_consumers:
        if stream.consumer not in functions:
            raise FleetError(f"the data table's stream names no function of the fleet: {stream.consumer}")
        if spec.table.stream_view_type is None:
            raise FleetError(f"{stream.consumer} reads the data table's stream, which has no stream_view_type")
    if spec.rest_api is not None and spec.rest_api.function not in functions:
        raise FleetError(f"REST API {spec.rest_api.name} names no function of the fleet: {spec.rest_api.function}")


def _check_aliases(spec: FleetSpec) -> None:
    for function in spec.functions:
        if function.provisioned_concurrency is not None and not function.alias:
            raise FleetError(f"{function.name} has provisioned_concurrency but no alias: AWS provisions concurrency "
                             "on an alias or a published version, never on $LATEST")


def _check_name_lengths(spec: FleetSpec) -> None:
    limits = [(function.name, LAMBDA_NAME_LIMIT) for function in spec.functions]
    limits += [(function.role_name, IAM_ROLE_NAME_LIMIT) for function in spec.functions]
    limits.append((spec.bucket, S3_BUCKET_NAME_LIMIT))
    for name, limit in limits:
        if len(name) > limit:
            raise FleetError(f"suffix {spec.suffix!r} is too long: '{name}' exceeds {limit} characters")


def package(code_dir: Path) -> bytes:
    """Zip a code directory reproducibly (sorted entries, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(code_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(path.relative_to(code_dir)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def policy_json(document: dict) -> str:
    return json.dumps(document, sort_keys=True)
