"""What `tools/baseline.py` puts into the emulator is what the Pulumi program declares."""

import json

import pytest

from tests.pulumi.mocks import ACCOUNT_ID, declare, of_type
from tools import baseline

SECRETS = {"DATABASE_URL": "postgres://app:pw@db.internal/app", "API_KEY": "sk-test-7c1d"}


def _tags(tag_list):
    return {tag["Key"]: tag["Value"] for tag in tag_list}


def source_name(arn: str) -> str:
    """An event source by name: a queue's, or a table's for its stream (whose label is when it was enabled)."""
    return arn.split(":", 5)[-1].split("/stream/")[0] if ":dynamodb:" in arn else arn.rsplit(":", 1)[-1]


def declared_fleet(resources) -> dict:
    """The Pulumi declaration, reduced to the properties the baseline promises."""
    inputs = {(r.type, r.name): r.inputs for r in resources}

    def named(type_token):
        return {name: value for (kind, name), value in inputs.items() if kind == type_token}

    layers = named("aws:lambda/layerVersion:LayerVersion")
    policies = named("aws:iam/rolePolicy:RolePolicy")
    roles = named("aws:iam/role:Role")
    (bucket_name, bucket), = named("aws:s3/bucket:Bucket").items()
    (versioning,) = named("aws:s3/bucketVersioning:BucketVersioning").values()
    (block,) = named("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").values()
    (encryption,) = named(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").values()
    return {
        "functions": {
            name: {
                "memory": f["memorySize"],
                "timeout": f["timeout"],
                "runtime": f["runtime"],
                "handler": f["handler"],
                "architectures": f["architectures"],
                "description": f["description"],
                "environment": f["environment"]["variables"],
                "role": f["role"].rsplit(":", 1)[-1],
                "layers": [arn.rsplit(":", 1)[-1] for arn in f["layers"]],
                "tracing": f.get("tracingConfig", {}).get("mode", "PassThrough"),
                "dead_letter": f.get("deadLetterConfig", {}).get("targetArn"),
                "reserved_concurrency": f.get("reservedConcurrentExecutions"),
                "code": (f["s3Bucket"], f["s3Key"]),
                "tags": f["tags"],
            }
            for name, f in named("aws:lambda/function:Function").items()
        },
        "log_groups": {
            name: {"retention": group.get("retentionInDays"), "tags": group["tags"]}
            for name, group in named("aws:cloudwatch/logGroup:LogGroup").items()
        },
        "roles": {
            name: {
                "trust": json.loads(role["assumeRolePolicy"]),
                "policies": {p["name"]: json.loads(p["policy"]) for p in policies.values() if p["role"] == name},
                "tags": role["tags"],
            }
            for name, role in roles.items()
        },
        "bucket": {
            "name": bucket_name,
            "versioning": versioning["versioningConfiguration"]["status"],
            "public_access_blocked": all(block[k] for k in (
                "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")),
            "encryption": encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"],
            "objects": sorted(o["key"] for o in named("aws:s3/bucketObjectv2:BucketObjectv2").values()),
            "tags": bucket["tags"],
        },
        "layers": {
            name: {"description": layer["description"], "runtimes": layer["compatibleRuntimes"],
                   "code": (layer["s3Bucket"], layer["s3Key"])}
            for name, layer in layers.items()
        },
        "secrets": {
            name: {"tags": secret["tags"]}
            for name, secret in named("aws:secretsmanager/secret:Secret").items()
        },
        "alarms": [r.name for r in resources if r.type == "aws:cloudwatch/metricAlarm:MetricAlarm"],
        "tables": {
            name: {"keys": (table["hashKey"], table["rangeKey"]), "billing_mode": table["billingMode"],
                   "capacity": (table["readCapacity"], table["writeCapacity"]), "tags": table["tags"],
                   "stream": table.get("streamViewType") if table.get("streamEnabled") else None}
            for name, table in named("aws:dynamodb/table:Table").items()
        },
        "aliases": {
            alias["functionName"]: {
                "alias": alias["name"],
                "provisioned_concurrency": next(
                    (config["provisionedConcurrentExecutions"]
                     for config in named("aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig")
                     .values() if config["functionName"] == alias["functionName"]), None),
            }
            for alias in named("aws:lambda/alias:Alias").values()
        },
        "queues": {
            queue["name"]: {"visibility_timeout": queue["visibilityTimeoutSeconds"], "tags": queue["tags"]}
            for queue in named("aws:sqs/queue:Queue").values()
        },
        "event_sources": sorted(
            (source_name(mapping["eventSourceArn"]), mapping["functionName"], mapping["batchSize"])
            for mapping in named("aws:lambda/eventSourceMapping:EventSourceMapping").values()),
        "rest_apis": {
            api["name"]: {"tags": api["tags"], "routes": sorted(
                (resource["pathPart"], integration["httpMethod"], integration["type"])
                for resource in named("aws:apigateway/resource:Resource").values()
                for integration in named("aws:apigateway/integration:Integration").values())}
            for api in named("aws:apigateway/restApi:RestApi").values()
        },
        "permissions": sorted(
            (permission["function"], permission.get("qualifier"), permission["principal"])
            for permission in named("aws:lambda/permission:Permission").values()),
    }


def emulator_fleet(session, suffix: str) -> dict:
    """The same properties, read back from the emulator through the AWS APIs."""
    lambda_, logs, iam, s3 = (session.client(s) for s in ("lambda", "logs", "iam", "s3"))
    secrets_manager, cloudwatch = session.client("secretsmanager"), session.client("cloudwatch")
    functions = {}
    layer_names = {}
    for page in lambda_.get_paginator("list_functions").paginate():
        for configuration in page["Functions"]:
            name = configuration["FunctionName"]
            if not name.endswith(f"-{suffix}"):
                continue
            full = lambda_.get_function(FunctionName=name)
            functions[name] = {
                "memory": configuration["MemorySize"],
                "timeout": configuration["Timeout"],
                "runtime": configuration["Runtime"],
                "handler": configuration["Handler"],
                "architectures": configuration["Architectures"],
                "description": configuration["Description"],
                "environment": configuration.get("Environment", {}).get("Variables", {}),
                "role": configuration["Role"].rsplit("/", 1)[-1],
                "layers": [layer["Arn"].split(":")[-2] for layer in configuration["Layers"]],
                "tracing": configuration["TracingConfig"]["Mode"],
                "dead_letter": configuration.get("DeadLetterConfig", {}).get("TargetArn"),
                "reserved_concurrency": lambda_.get_function_concurrency(FunctionName=name).get(
                    "ReservedConcurrentExecutions"),
                "code": None,
                "tags": full.get("Tags", {}),
            }
            layer_names.update({layer["Arn"].split(":")[-2]: layer["Arn"] for layer in configuration["Layers"]})
    log_groups = {
        group["logGroupName"]: {
            "retention": group.get("retentionInDays"),
            "tags": logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"],
        }
        for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]
    }
    roles = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        roles[name] = {
            "trust": role["AssumeRolePolicyDocument"],
            "policies": {
                policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            },
            "tags": _tags(iam.list_role_tags(RoleName=name)["Tags"]),
        }
    (bucket_name,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    block = s3.get_public_access_block(Bucket=bucket_name)["PublicAccessBlockConfiguration"]
    encryption = s3.get_bucket_encryption(Bucket=bucket_name)["ServerSideEncryptionConfiguration"]
    bucket = {
        "name": bucket_name,
        "versioning": s3.get_bucket_versioning(Bucket=bucket_name)["Status"],
        "public_access_blocked": all(block.values()),
        "encryption": encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "objects": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket_name)["Contents"]),
        "tags": _tags(s3.get_bucket_tagging(Bucket=bucket_name)["TagSet"]),
    }
    layers = {}
    for name in layer_names:
        (version,) = lambda_.list_layer_versions(LayerName=name)["LayerVersions"]
        layers[name] = {"description": version["Description"], "runtimes": version["CompatibleRuntimes"],
                        "code": None}
    secrets = {
        secret["Name"]: {"tags": _tags(secret["Tags"])} for secret in secrets_manager.list_secrets()["SecretList"]
    }
    dynamodb = session.client("dynamodb")
    tables = {}
    for name in dynamodb.list_tables()["TableNames"]:
        table = dynamodb.describe_table(TableName=name)["Table"]
        keys = {key["KeyType"]: key["AttributeName"] for key in table["KeySchema"]}
        tables[name] = {
            "keys": (keys["HASH"], keys["RANGE"]),
            "billing_mode": table["BillingModeSummary"]["BillingMode"],
            "capacity": (table["ProvisionedThroughput"]["ReadCapacityUnits"],
                         table["ProvisionedThroughput"]["WriteCapacityUnits"]),
            "tags": _tags(dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]),
            "stream": (table.get("StreamSpecification") or {}).get("StreamViewType")
            if (table.get("StreamSpecification") or {}).get("StreamEnabled") else None,
        }
    aliases = {}
    for name in functions:
        for alias in lambda_.list_aliases(FunctionName=name)["Aliases"]:
            assert alias["FunctionVersion"] != "$LATEST"
            configs = lambda_.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
            aliases[name] = {"alias": alias["Name"], "provisioned_concurrency": next(
                (config["RequestedProvisionedConcurrentExecutions"] for config in configs
                 if config["FunctionArn"].endswith(f":{alias['Name']}")), None)}
    sqs, apigateway = session.client("sqs"), session.client("apigateway")
    queues = {}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        queues[url.rsplit("/", 1)[-1]] = {"visibility_timeout": int(attributes["VisibilityTimeout"]),
                                          "tags": sqs.list_queue_tags(QueueUrl=url).get("Tags", {})}
    event_sources = sorted(
        (source_name(mapping["EventSourceArn"]), mapping["FunctionArn"].split(":")[6], mapping["BatchSize"])
        for page in lambda_.get_paginator("list_event_source_mappings").paginate()
        for mapping in page["EventSourceMappings"])
    rest_apis = {}
    for api in apigateway.get_rest_apis()["items"]:
        routes = []
        for resource in apigateway.get_resources(restApiId=api["id"])["items"]:
            for method in resource.get("resourceMethods", {}):
                integration = apigateway.get_integration(restApiId=api["id"], resourceId=resource["id"],
                                                         httpMethod=method)
                routes.append((resource["pathPart"], method, integration["type"]))
        rest_apis[api["name"]] = {"tags": api.get("tags", {}), "routes": sorted(routes)}
    permissions = []
    for name in functions:
        for qualifier in [None] + [alias["Name"] for alias in lambda_.list_aliases(FunctionName=name)["Aliases"]]:
            try:
                policy = lambda_.get_policy(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
            except lambda_.exceptions.ResourceNotFoundException:
                continue
            permissions += [(name, qualifier, statement["Principal"]["Service"])
                            for statement in json.loads(policy["Policy"])["Statement"]]
    return {
        "functions": functions,
        "log_groups": log_groups,
        "roles": roles,
        "bucket": bucket,
        "layers": layers,
        "secrets": secrets,
        "alarms": [alarm["AlarmName"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"]],
        "tables": tables,
        "aliases": aliases,
        "queues": queues,
        "event_sources": event_sources,
        "rest_apis": rest_apis,
        "permissions": sorted(permissions),
    }


@pytest.fixture
def both_fleets(aws):
    baseline.provision(aws, "dev", secret_values=SECRETS)
    declared = declared_fleet(declare({"suffix": "dev", **SECRETS}))
    return declared, emulator_fleet(aws, "dev")


def test_emulator_account_is_the_mock_account(aws):
    # The comparison below relies on both sides building ARNs for the same account.
    assert aws.client("sts").get_caller_identity()["Account"] == ACCOUNT_ID


def test_functions_match(both_fleets):
    declared, actual = both_fleets
    for function in declared["functions"].values():
        function.pop("code")
    for function in actual["functions"].values():
        function.pop("code")
    assert actual["functions"] == declared["functions"]


@pytest.mark.parametrize("part", ["log_groups", "roles", "bucket", "secrets", "alarms", "tables", "aliases", "queues",
                                  "event_sources", "rest_apis", "permissions"])
def test_supporting_resources_match(both_fleets, part):
    declared, actual = both_fleets
    assert actual[part] == declared[part]


def test_layer_matches(both_fleets):
    declared, actual = both_fleets
    assert {name: layer["description"] for name, layer in actual["layers"].items()} == {
        name: layer["description"] for name, layer in declared["layers"].items()}
    assert {name: layer["runtimes"] for name, layer in actual["layers"].items()} == {
        name: layer["runtimes"] for name, layer in declared["layers"].items()}


def test_functions_load_their_code_from_the_versioned_bucket(aws, both_fleets):
    declared, _ = both_fleets
    s3 = aws.client("s3")
    for name, function in declared["functions"].items():
        bucket, key = function["code"]
        versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
        assert versions and versions[0]["VersionId"] != "null"
        assert aws.client("lambda").get_function(FunctionName=name)["Code"]["RepositoryType"] == "S3"


def test_secret_values_are_stored_as_given(aws, both_fleets):
    client = aws.client("secretsmanager")
    assert client.get_secret_value(SecretId="database-url-dev")["SecretString"] == SECRETS["DATABASE_URL"]
    assert client.get_secret_value(SecretId="api-key-dev")["SecretString"] == SECRETS["API_KEY"]


def test_provisioning_twice_changes_nothing(aws, both_fleets):
    _, before = both_fleets
    _, created = baseline.provision(aws, "dev", secret_values=SECRETS)
    assert created == 0
    after = emulator_fleet(aws, "dev")
    before["bucket"].pop("objects"), after["bucket"].pop("objects")
    assert after == before
    assert len(aws.client("secretsmanager").list_secret_version_ids(SecretId="api-key-dev")["Versions"]) == 1
    assert len(aws.client("lambda").list_layer_versions(LayerName="shared-lib-dev")["LayerVersions"]) == 1
    assert len(aws.client("lambda").list_versions_by_function(FunctionName="api-handler-dev")["Versions"]) == 2


def test_a_synthetic_fleet_adds_functions_shaped_like_the_baseline(aws):
    spec, created = baseline.provision(aws, "scale", synthetic=60)
    assert created == 66
    names = [f["FunctionName"] for page in aws.client("lambda").get_paginator("list_functions").paginate()
             for f in page["Functions"]]
    assert len(names) == 66 == len(spec.functions)
    configuration = aws.client("lambda").get_function_configuration(FunctionName="synthetic-00059-scale")
    assert (configuration["MemorySize"], configuration["Timeout"]) == (3008, 300)
    assert configuration["Role"].endswith("/synthetic-00059-role-scale")
    assert aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/synthetic-00059-scale")["logGroups"]


def test_the_baseline_has_one_table_and_one_alias(both_fleets):
    # Guards the comparisons above against two empty sides.
    declared, actual = both_fleets
    assert set(actual["tables"]) == {"data-table-dev"}
    assert actual["aliases"] == {"api-handler-dev": {"alias": "live", "provisioned_concurrency": 150}}


def test_the_pipeline_has_its_triggers(both_fleets):
    # Guards the trigger comparisons above against two empty sides.
    _, actual = both_fleets
    assert actual["event_sources"] == [("records-queue-dev", "batch-processor-dev", 10),
                                       ("table/data-table-dev", "signature-verifier-dev", 100)]
    assert actual["tables"]["data-table-dev"]["stream"] == "NEW_IMAGE"
    assert actual["queues"]["records-queue-dev"]["visibility_timeout"] == 1800
    assert actual["rest_apis"]["records-api-dev"]["routes"] == [("{proxy+}", "ANY", "AWS_PROXY")]
    assert actual["permissions"] == [("api-handler-dev", "live", "apigateway.amazonaws.com")]


def test_of_type_helper_sees_every_function():
    # Guards the reduction above against a type-token typo that would compare two empty sets.
    assert len(of_type(declare({"suffix": "dev", **SECRETS}), "aws:lambda/function:Function")) == 6
