"""The baseline fleet as Pulumi resources, built from the fleet description in fleet.yaml."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from fleet_spec import LAMBDA_TRUST_POLICY, ROLE_POLICY_NAME, FleetSpec, build_spec, load_fleet, validate_suffix
from optimizer_role import RoleSettings, deploy_role
from optimizer_role import parse as parse_optimizer_role
from tuned_settings import parse as parse_tunings
from tuned_settings import parse_table

DEFAULT_REGION = "us-east-1"
# Services the fleet uses; an endpoint override sends all of them to the same place.
ENDPOINT_SERVICES = ("iam", "lambda_", "cloudwatchlogs", "s3", "secretsmanager", "sts", "dynamodb", "sqs",
                     "apigateway")
# The inline policies tap.lambdaopt gives a role for tracing and a dead-letter queue, under the same
# names, so that the program and the optimizer describe one policy rather than two.
XRAY_POLICY_NAME = "lambdaopt-xray-write"
DLQ_POLICY_NAME = "lambdaopt-dlq-send"


@dataclass(frozen=True)
class Settings:
    suffix: str
    region: str
    endpoint: str | None
    tunings: dict
    table_tuning: dict
    optimizer_role: RoleSettings | None = None


def read_settings() -> Settings:
    config = pulumi.Config()
    suffix = config.get("suffix") or os.environ.get("ENVIRONMENT_SUFFIX")
    if not suffix:
        raise ValueError("no suffix: set `pulumi config set suffix dev` or ENVIRONMENT_SUFFIX")
    return Settings(
        suffix=validate_suffix(suffix),
        region=pulumi.Config("aws").get("region") or DEFAULT_REGION,
        endpoint=config.get("endpoint"),
        tunings=parse_tunings(config.get_object("functions"),
                              [entry["name"] for entry in load_fleet()["functions"]]),
        table_tuning=parse_table(config.get_object("data_table")),
        optimizer_role=parse_optimizer_role(config.get_bool("optimizer_role"), config.get_object(
            "optimizer_principals"), config.get("optimizer_policy")),
    )


def make_provider(settings: Settings) -> aws.Provider:
    if settings.endpoint is None:
        return aws.Provider("aws", region=settings.region)
    return aws.Provider(
        "aws",
        region=settings.region,
        endpoints=[aws.ProviderEndpointArgs(**{service: settings.endpoint for service in ENDPOINT_SERVICES})],
        s3_use_path_style=True,
        skip_credentials_validation=True,
        skip_metadata_api_check=True,
    )


def deploy(settings: Settings) -> FleetSpec:
    provider = make_provider(settings)
    invoke = pulumi.InvokeOptions(provider=provider)
    spec = build_spec(
        settings.suffix,
        account_id=aws.get_caller_identity(opts=invoke).account_id,
        region=settings.region,
        partition=aws.get_partition(opts=invoke).partition,
        tunings=settings.tunings,
        table_tuning=settings.table_tuning,
    )
    opts = pulumi.ResourceOptions(provider=provider)

    bucket = _artifact_bucket(spec, opts)
    layer = _layer(spec, bucket, opts)
    _secrets(spec, opts)
    table = _data_table(spec, opts)
    functions = [_function(spec, function, bucket, layer, opts) for function in spec.functions]
    aliases = {}
    for function_spec, function in zip(spec.functions, functions, strict=True):
        if function_spec.alias:
            aliases[function_spec.name] = _alias(function_spec, function, opts)
    by_name = {function_spec.name: function for function_spec, function in zip(spec.functions, functions, strict=True)}
    _queues(spec, by_name, opts)
    _stream_consumers(spec, table, by_name, opts)
    if spec.rest_api is not None:
        _rest_api(spec, by_name[spec.rest_api.function], aliases.get(spec.rest_api.function), opts)

    if settings.optimizer_role is not None:
        deploy_role(spec.suffix, settings.optimizer_role, opts)

    pulumi.export("suffix", spec.suffix)
    pulumi.export("artifact_bucket", bucket.bucket)
    pulumi.export("layer_arn", layer.arn)
    pulumi.export("data_table", table.name)
    pulumi.export("functions", [function.name for function in functions])
    return spec


def _data_table(spec: FleetSpec, opts: pulumi.ResourceOptions) -> aws.dynamodb.Table:
    table = spec.table
    return aws.dynamodb.Table(
        table.name,
        name=table.name,
        hash_key=table.hash_key,
        range_key=table.range_key,
        attributes=[{"name": table.hash_key, "type": "S"}, {"name": table.range_key, "type": "S"}],
        billing_mode=table.billing_mode,
        # An on-demand table has no capacity to declare.
        **({"read_capacity": table.read_capacity, "write_capacity": table.write_capacity}
           if table.billing_mode == "PROVISIONED" else {}),
        **({"stream_enabled": True, "stream_view_type": table.stream_view_type} if table.stream_view_type else {}),
        # Destroyable with the stack: nothing is retained.
        deletion_protection_enabled=False,
        tags=spec.tags,
        opts=opts,
    )


def _queues(spec: FleetSpec, functions: dict, opts) -> None:
    """Each queue and the event source mapping through which its consumer reads it."""
    for queue_spec in spec.queues:
        queue = aws.sqs.Queue(queue_spec.name, name=queue_spec.name,
                              visibility_timeout_seconds=queue_spec.visibility_timeout, tags=spec.tags, opts=opts)
        aws.lambda_.EventSourceMapping(
            f"{queue_spec.name}-to-{queue_spec.consumer}",
            event_source_arn=queue.arn,
            function_name=functions[queue_spec.consumer].name,
            batch_size=queue_spec.batch_size,
            opts=opts,
        )


def _stream_consumers(spec: FleetSpec, table: aws.dynamodb.Table, functions: dict, opts) -> None:
    """The event source mapping through which each consumer of the data table's stream reads it."""
    for stream in spec.stream_consumers:
        aws.lambda_.EventSourceMapping(
            f"{spec.table.name}-stream-to-{stream.consumer}",
            event_source_arn=table.stream_arn,
            function_name=functions[stream.consumer].name,
            batch_size=stream.batch_size,
            starting_position=stream.starting_position,
            opts=opts,
        )


def _rest_api(spec: FleetSpec, function: aws.lambda_.Function, alias: aws.lambda_.Alias | None, opts) -> None:
    """A REST API whose every path and method invokes the function (its alias when it has one), and the
    permission, on what it invokes, for API Gateway to do so from this API only."""
    name = spec.rest_api.name
    api = aws.apigateway.RestApi(name, name=name, tags=spec.tags, opts=opts)
    proxy = aws.apigateway.Resource(f"{name}-proxy", rest_api=api.id, parent_id=api.root_resource_id,
                                    path_part="{proxy+}", opts=opts)
    method = aws.apigateway.Method(f"{name}-proxy-any", rest_api=api.id, resource_id=proxy.id, http_method="ANY",
                                   authorization="NONE", opts=opts)
    target = alias if alias is not None else function
    aws.apigateway.Integration(f"{name}-proxy-integration", rest_api=api.id, resource_id=proxy.id,
                               http_method=method.http_method, type="AWS_PROXY", integration_http_method="POST",
                               uri=target.invoke_arn, opts=opts)
    aws.lambda_.Permission(
        f"{name}-invokes-{spec.rest_api.function}",
        action="lambda:InvokeFunction",
        function=function.name,
        qualifier=alias.name if alias is not None else None,
        principal="apigateway.amazonaws.com",
        source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*/*/*"),
        opts=opts,
    )


def _alias(function_spec, function: aws.lambda_.Function, opts) -> aws.lambda_.Alias:
    """The alias callers use, on the version `publish` made, with its provisioned concurrency."""
    alias = aws.lambda_.Alias(
        f"{function_spec.name}-{function_spec.alias}",
        name=function_spec.alias,
        function_name=function.name,
        function_version=function.version,
        opts=opts,
    )
    if function_spec.provisioned_concurrency:
        aws.lambda_.ProvisionedConcurrencyConfig(
            f"{function_spec.name}-{function_spec.alias}-provisioned-concurrency",
            function_name=function.name,
            qualifier=alias.name,
            provisioned_concurrent_executions=function_spec.provisioned_concurrency,
            opts=opts,
        )
    return alias


def _artifact_bucket(spec: FleetSpec, opts: pulumi.ResourceOptions) -> aws.s3.Bucket:
    # force_destroy: `pulumi destroy` removes every package version too; nothing is retained.
    bucket = aws.s3.Bucket(spec.bucket, bucket=spec.bucket, force_destroy=True, tags=spec.tags, opts=opts)
    aws.s3.BucketVersioning(
        f"{spec.bucket}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=opts,
    )
    aws.s3.BucketPublicAccessBlock(
        f"{spec.bucket}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{spec.bucket}-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
        opts=opts,
    )
    return bucket


def _package(spec: FleetSpec, key: str, code_dir, bucket: aws.s3.Bucket, opts) -> aws.s3.BucketObjectv2:
    return aws.s3.BucketObjectv2(
        key,
        bucket=bucket.id,
        key=key,
        source=pulumi.FileArchive(str(code_dir)),
        tags=spec.tags,
        opts=opts,
    )


def _layer(spec: FleetSpec, bucket: aws.s3.Bucket, opts) -> aws.lambda_.LayerVersion:
    package = _package(spec, spec.layer.package_key, spec.layer.code_dir, bucket, opts)
    # Layer versions cannot carry tags in AWS; the bucket object they come from does.
    return aws.lambda_.LayerVersion(
        spec.layer.name,
        layer_name=spec.layer.name,
        description=spec.layer.description,
        compatible_runtimes=list(spec.layer.compatible_runtimes),
        s3_bucket=bucket.id,
        s3_key=package.key,
        s3_object_version=package.version_id,
        opts=opts,
    )


def _secrets(spec: FleetSpec, opts) -> None:
    config = pulumi.Config()
    for secret_spec in spec.secrets:
        # No recovery window: `pulumi destroy` deletes the secret at once, nothing retained.
        secret = aws.secretsmanager.Secret(
            secret_spec.name, name=secret_spec.name, recovery_window_in_days=0, tags=spec.tags, opts=opts
        )
        aws.secretsmanager.SecretVersion(
            f"{secret_spec.name}-value",
            secret_id=secret.id,
            secret_string=config.require_secret(secret_spec.config_key),
            opts=opts,
        )


def _tuned(function) -> dict:
    """The Function arguments of the settings the optimizer found; none for the baseline."""
    arguments = {}
    if function.reserved_concurrency is not None:
        arguments["reserved_concurrent_executions"] = function.reserved_concurrency
    if function.tracing_mode is not None:
        arguments["tracing_config"] = {"mode": function.tracing_mode}
    if function.dead_letter_target is not None:
        arguments["dead_letter_config"] = {"target_arn": function.dead_letter_target}
    return arguments


def _tuned_policies(function, role, opts) -> list:
    """What a tuned function's role needs: trace writing when tracing is on, sending to its dead-letter queue."""
    policies = []
    if function.tracing_mode == "Active":
        policies.append(aws.iam.RolePolicy(
            f"{function.role_name}-{XRAY_POLICY_NAME}", name=XRAY_POLICY_NAME, role=role.id, opts=opts,
            policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "WriteXRayTraces", "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}]})))
    if function.dead_letter_target is not None:
        statements = [{"Sid": "SendToDeadLetterQueue", "Effect": "Allow", "Action": "sqs:SendMessage",
                       "Resource": function.dead_letter_target}]
        if function.dead_letter_kms_key:
            # A queue encrypted with a customer managed key takes events only from a role that may use the key.
            statements.append({"Sid": "EncryptForDeadLetterQueue", "Effect": "Allow",
                               "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                               "Resource": function.dead_letter_kms_key})
        policies.append(aws.iam.RolePolicy(
            f"{function.role_name}-{DLQ_POLICY_NAME}", name=DLQ_POLICY_NAME, role=role.id, opts=opts,
            policy=json.dumps({"Version": "2012-10-17", "Statement": statements})))
    return policies


def _function(spec: FleetSpec, function, bucket, layer, opts) -> aws.lambda_.Function:
    retention = {} if function.log_retention_days is None else {"retention_in_days": function.log_retention_days}
    log_group = aws.cloudwatch.LogGroup(function.log_group, name=function.log_group, tags=spec.tags, opts=opts,
                                        **retention)
    role = aws.iam.Role(
        function.role_name,
        name=function.role_name,
        assume_role_policy=json.dumps(LAMBDA_TRUST_POLICY),
        tags=spec.tags,
        opts=opts,
    )
    policy = aws.iam.RolePolicy(
        f"{function.role_name}-{ROLE_POLICY_NAME}",
        name=ROLE_POLICY_NAME,
        role=role.id,
        policy=json.dumps(spec.role_policy(function)),
        opts=opts,
    )
    tuned_policies = _tuned_policies(function, role, opts)
    package = _package(spec, function.package_key, function.code_dir, bucket, opts)
    return aws.lambda_.Function(
        function.name,
        name=function.name,
        description=function.description,
        role=role.arn,
        runtime=function.runtime,
        handler=function.handler,
        architectures=[function.architecture],
        memory_size=function.memory_size,
        timeout=function.timeout,
        s3_bucket=bucket.id,
        s3_key=package.key,
        s3_object_version=package.version_id,
        layers=[layer.arn],
        environment={"variables": function.environment},
        tags=spec.tags,
        # A function served through an alias needs a published version for the alias to point at.
        publish=bool(function.alias),
        **_tuned(function),
        # The log group exists first, so Lambda never creates one without our settings; the role can do
        # what the function's settings need before they are set.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[log_group, policy, *tuned_policies])),
    )
