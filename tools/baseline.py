"""Provision the baseline fleet into the local emulator (or any AWS API boto3 can reach), from the
same fleet description as the Pulumi program.

    python -m tools.baseline provision --suffix dev [--synthetic 1000]
    python -m tools.baseline show --suffix dev

It only talks to the local emulator (AWS_ENDPOINT_URL on loopback); `pulumi up` builds the
baseline in a real account. Secret values come from the DATABASE_URL and API_KEY environment
variables, or are generated; they are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as token_source
import sys
from collections.abc import Mapping
from dataclasses import replace

import boto3
from botocore.exceptions import ClientError
from fleet_spec import (
    LAMBDA_TRUST_POLICY,
    ROLE_POLICY_NAME,
    FleetError,
    FleetSpec,
    FunctionSpec,
    build_spec,
    package,
)

from tools import fleet_view
from tools.emulator import emulator_session, require_local_endpoint


def spec_for(session: boto3.Session, suffix: str) -> FleetSpec:
    identity = session.client("sts").get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    return build_spec(suffix, account_id=identity["Account"], region=session.region_name, partition=partition)


def synthetic_functions(spec: FleetSpec, count: int) -> tuple[FunctionSpec, ...]:
    """`count` more functions shaped like the fleet's first, named `synthetic-NNNNN-{suffix}`, for scale work.
    They are served on $LATEST: a thousand copies of its provisioned concurrency would exceed any account's."""
    template = spec.functions[0]
    return tuple(
        replace(
            template,
            name=f"synthetic-{index:05d}-{spec.suffix}",
            description=f"Synthetic copy of {template.name} for scale tests",
            role_name=f"synthetic-{index:05d}-role-{spec.suffix}",
            log_group=f"/aws/lambda/synthetic-{index:05d}-{spec.suffix}",
            alias=None,
            provisioned_concurrency=None,
        )
        for index in range(count)
    )


def provision(
    session: boto3.Session,
    suffix: str,
    secret_values: Mapping[str, str] | None = None,
    synthetic: int = 0,
) -> tuple[FleetSpec, int]:
    """Create the baseline fleet; resources that already exist are left as they are, so a second
    run only adds what is missing. Returns the fleet and how many functions were created."""
    spec = spec_for(session, suffix)
    if synthetic:
        spec = replace(spec, functions=spec.functions + synthetic_functions(spec, synthetic))
    s3, lambda_ = session.client("s3"), session.client("lambda")
    _ensure_bucket(s3, spec)
    layer_arn = _ensure_layer(s3, lambda_, spec)
    _ensure_secrets(session.client("secretsmanager"), spec, secret_values or {})
    _ensure_table(session.client("dynamodb"), spec)

    existing = {
        function["FunctionName"]
        for page in lambda_.get_paginator("list_functions").paginate()
        for function in page["Functions"]
    }
    missing = [function for function in spec.functions if function.name not in existing]
    clients = {service: session.client(service) for service in ("logs", "iam", "lambda")}
    # Synthetic functions share their template's package, so each package is uploaded once.
    package_versions: dict[str, str] = {}
    # One at a time: moto's backends are not safe against concurrent writers.
    for function in missing:
        if function.package_key not in package_versions:
            uploaded = s3.put_object(Bucket=spec.bucket, Key=function.package_key, Body=package(function.code_dir))
            package_versions[function.package_key] = uploaded["VersionId"]
        _ensure_function(clients, spec, function, layer_arn, package_versions[function.package_key])
    for function in spec.functions:
        if function.alias:
            _ensure_alias(lambda_, function)
    _ensure_queues(session.client("sqs"), lambda_, spec)
    _ensure_stream_consumers(session.client("dynamodb"), lambda_, spec)
    if spec.rest_api is not None:
        _ensure_rest_api(session.client("apigateway"), lambda_, spec)
    return spec, len(missing)


def _ensure_queues(sqs, lambda_, spec: FleetSpec) -> None:
    """Each queue and its consumer's event source mapping, as the Pulumi program declares them."""
    for queue in spec.queues:
        url = sqs.create_queue(QueueName=queue.name, Attributes={"VisibilityTimeout": str(queue.visibility_timeout)},
                               tags=spec.tags)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if not lambda_.list_event_source_mappings(EventSourceArn=arn, FunctionName=queue.consumer)[
                "EventSourceMappings"]:
            lambda_.create_event_source_mapping(EventSourceArn=arn, FunctionName=queue.consumer,
                                                BatchSize=queue.batch_size)


def _ensure_stream_consumers(dynamodb, lambda_, spec: FleetSpec) -> None:
    """The event source mapping through which each consumer of the data table's stream reads it."""
    if not spec.stream_consumers:
        return
    stream_arn = dynamodb.describe_table(TableName=spec.table.name)["Table"]["LatestStreamArn"]
    for stream in spec.stream_consumers:
        if not lambda_.list_event_source_mappings(EventSourceArn=stream_arn, FunctionName=stream.consumer)[
                "EventSourceMappings"]:
            lambda_.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=stream.consumer,
                                                BatchSize=stream.batch_size,
                                                StartingPosition=stream.starting_position)


def _ensure_rest_api(apigateway, lambda_, spec: FleetSpec) -> None:
    """The REST API whose every path and method invokes its function's alias, and the permission to do so."""
    api_spec = spec.rest_api
    function = next(function for function in spec.functions if function.name == api_spec.function)
    if any(api["name"] == api_spec.name for api in apigateway.get_rest_apis()["items"]):
        return
    api = apigateway.create_rest_api(name=api_spec.name, tags=spec.tags)
    (root,) = [resource["id"] for resource in apigateway.get_resources(restApiId=api["id"])["items"]
               if resource["path"] == "/"]
    proxy = apigateway.create_resource(restApiId=api["id"], parentId=root, pathPart="{proxy+}")
    apigateway.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE")
    target = f"arn:{spec.partition}:lambda:{spec.region}:{spec.account_id}:function:{function.name}"
    if function.alias:
        target += f":{function.alias}"
    apigateway.put_integration(
        restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY", integrationHttpMethod="POST",
        uri=f"arn:{spec.partition}:apigateway:{spec.region}:lambda:path/2015-03-31/functions/{target}/invocations")
    lambda_.add_permission(
        FunctionName=function.name, StatementId=f"{api_spec.name}-invokes", Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:{spec.partition}:execute-api:{spec.region}:{spec.account_id}:{api['id']}/*/*/*",
        **({"Qualifier": function.alias} if function.alias else {}))


def _ensure_table(dynamodb, spec: FleetSpec) -> None:
    table = spec.table
    try:
        dynamodb.create_table(
            TableName=table.name,
            KeySchema=[{"AttributeName": table.hash_key, "KeyType": "HASH"},
                       {"AttributeName": table.range_key, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": table.hash_key, "AttributeType": "S"},
                                  {"AttributeName": table.range_key, "AttributeType": "S"}],
            BillingMode=table.billing_mode,
            **({"ProvisionedThroughput": {"ReadCapacityUnits": table.read_capacity,
                                          "WriteCapacityUnits": table.write_capacity}}
               if table.billing_mode == "PROVISIONED" else {}),
            DeletionProtectionEnabled=False,
            **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": table.stream_view_type}}
               if table.stream_view_type else {}),
            Tags=_tag_list(spec.tags),
        )
    except dynamodb.exceptions.ResourceInUseException:
        pass


def _ensure_alias(lambda_, function: FunctionSpec) -> None:
    """The alias on a published version and its provisioned concurrency, as `publish` and the alias
    resources of the Pulumi program make them; an existing alias is left as it is."""
    try:
        lambda_.get_alias(FunctionName=function.name, Name=function.alias)
        return
    except lambda_.exceptions.ResourceNotFoundException:
        pass
    # A new function is Pending until Lambda has created it, and Pending functions cannot be published.
    lambda_.get_waiter("function_active_v2").wait(FunctionName=function.name, WaiterConfig={"Delay": 1})
    version = lambda_.publish_version(FunctionName=function.name)["Version"]
    lambda_.create_alias(FunctionName=function.name, Name=function.alias, FunctionVersion=version)
    if function.provisioned_concurrency:
        lambda_.put_provisioned_concurrency_config(FunctionName=function.name, Qualifier=function.alias,
                                                   ProvisionedConcurrentExecutions=function.provisioned_concurrency)


def _ensure_layer(s3, lambda_, spec: FleetSpec) -> str:
    """The newest version of the fleet's layer, published from the bucket if there is none yet."""
    existing = lambda_.list_layer_versions(LayerName=spec.layer.name)["LayerVersions"]
    if existing:
        return max(existing, key=lambda version: version["Version"])["LayerVersionArn"]
    uploaded = s3.put_object(Bucket=spec.bucket, Key=spec.layer.package_key, Body=package(spec.layer.code_dir))
    return lambda_.publish_layer_version(
        LayerName=spec.layer.name,
        Description=spec.layer.description,
        Content={"S3Bucket": spec.bucket, "S3Key": spec.layer.package_key, "S3ObjectVersion": uploaded["VersionId"]},
        CompatibleRuntimes=list(spec.layer.compatible_runtimes),
    )["LayerVersionArn"]


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _ensure_bucket(s3, spec: FleetSpec) -> None:
    location = {} if spec.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": spec.region}}
    try:
        s3.create_bucket(Bucket=spec.bucket, **location)
    except ClientError as error:
        if error.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    s3.put_bucket_versioning(Bucket=spec.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(
        Bucket=spec.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=spec.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_tagging(Bucket=spec.bucket, Tagging={"TagSet": _tag_list(spec.tags)})


def _ensure_secrets(client, spec: FleetSpec, values: Mapping[str, str]) -> None:
    for secret in spec.secrets:
        value = values.get(secret.config_key) or token_source.token_urlsafe(24)
        try:
            client.create_secret(Name=secret.name, SecretString=value, Tags=_tag_list(spec.tags))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceExistsException":
                raise


def _ensure_function(clients: Mapping[str, object], spec: FleetSpec, function: FunctionSpec, layer_arn: str,
                     package_version: str) -> None:
    logs, iam, lambda_ = clients["logs"], clients["iam"], clients["lambda"]
    try:
        logs.create_log_group(logGroupName=function.log_group, tags=spec.tags)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    try:
        role_arn = iam.create_role(
            RoleName=function.role_name,
            AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST_POLICY),
            Tags=_tag_list(spec.tags),
        )["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role_arn = iam.get_role(RoleName=function.role_name)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=function.role_name,
        PolicyName=ROLE_POLICY_NAME,
        PolicyDocument=json.dumps(spec.role_policy(function)),
    )
    try:
        lambda_.create_function(
            FunctionName=function.name,
            Description=function.description,
            Role=role_arn,
            Runtime=function.runtime,
            Handler=function.handler,
            Architectures=[function.architecture],
            MemorySize=function.memory_size,
            Timeout=function.timeout,
            Code={"S3Bucket": spec.bucket, "S3Key": function.package_key, "S3ObjectVersion": package_version},
            Layers=[layer_arn],
            Environment={"Variables": function.environment},
            Tags=spec.tags,
        )
    except lambda_.exceptions.ResourceConflictException:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["provision", "show"])
    parser.add_argument("--suffix", required=True)
    parser.add_argument("--synthetic", type=int, default=0, help="also create this many synthetic functions")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    args = parser.parse_args(argv)
    if args.synthetic < 0:
        parser.error("--synthetic must not be negative")
    session = emulator_session(require_local_endpoint(), args.region)
    if args.action == "provision":
        values = {key: os.environ[key] for key in ("DATABASE_URL", "API_KEY") if os.environ.get(key)}
        try:
            spec, created = provision(session, args.suffix, values, synthetic=args.synthetic)
        except FleetError as error:
            parser.error(str(error))
        print(f"created {created} of {len(spec.functions)} functions with suffix '{spec.suffix}' "
              f"in account {spec.account_id}")
    print(fleet_view.render(fleet_view.describe(session, args.suffix)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
