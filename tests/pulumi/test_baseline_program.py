"""The Pulumi program declares exactly the over-provisioned baseline (Pulumi mock runtime, no CLI)."""

import json
from pathlib import Path

import pytest
import yaml

from tests.pulumi.mocks import ACCOUNT_ID, declare, of_type

SECRETS = {"DATABASE_URL": "postgres://app:hunter2@db.internal/app", "API_KEY": "sk-live-3f9a"}
COST_TAGS = {"Environment", "Project", "ManagedBy", "CostCenter"}
EXPECTED_FUNCTIONS = {
    "api-handler-dev", "batch-processor-dev", "transform-dev",
    "signature-verifier-dev", "webhook-relay-dev", "nightly-cleanup-dev",
}
PROGRAM_DIR = Path(__file__).resolve().parents[2] / "infra_pulumi"
# The marker the Pulumi engine uses for a secret value in resource inputs.
SECRET_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"


@pytest.fixture(scope="module")
def resources():
    return declare({"suffix": "dev", **SECRETS})


def by_name(resources, type_token):
    return {resource.name: resource.inputs for resource in of_type(resources, type_token)}


def test_three_functions_at_the_wasteful_baseline(resources):
    functions = by_name(resources, "aws:lambda/function:Function")
    assert set(functions) == EXPECTED_FUNCTIONS
    for inputs in functions.values():
        assert inputs["memorySize"] == 3008
        assert inputs["timeout"] == 300
        assert inputs["runtime"].startswith("python")
        assert "reservedConcurrentExecutions" not in inputs
        assert "tracingConfig" not in inputs
        assert "deadLetterConfig" not in inputs


def test_each_function_has_real_handler_code(resources):
    fleet = yaml.safe_load((PROGRAM_DIR / "fleet.yaml").read_text())
    for entry in fleet["functions"]:
        module, _, attribute = entry["handler"].rpartition(".")
        source = (PROGRAM_DIR / entry["code"] / f"{module}.py").read_text()
        assert f"def {attribute}(event, context)" in source


def test_environment_is_plain_and_free_of_secrets(resources):
    for inputs in by_name(resources, "aws:lambda/function:Function").values():
        variables = inputs["environment"]["variables"]
        assert variables and all(isinstance(value, str) for value in variables.values())
        assert not set(variables) & set(SECRETS)
        assert not set(variables.values()) & set(SECRETS.values())


def test_functions_load_code_from_the_versioned_bucket_and_use_the_layer(resources):
    bucket = f"lambdaopt-artifacts-{ACCOUNT_ID}-dev"
    layers = by_name(resources, "aws:lambda/layerVersion:LayerVersion")
    assert set(layers) == {"shared-lib-dev"}
    assert layers["shared-lib-dev"]["s3Bucket"] == bucket
    objects = by_name(resources, "aws:s3/bucketObjectv2:BucketObjectv2")
    for name, inputs in by_name(resources, "aws:lambda/function:Function").items():
        assert inputs["s3Bucket"] == bucket
        assert inputs["s3Key"] == f"functions/{name}.zip" and inputs["s3Key"] in objects
        assert inputs["s3ObjectVersion"] == f"v-functions/{name}.zip"
        assert inputs["layers"] == ["arn:aws:mock:::shared-lib-dev"]


def test_artifact_bucket_is_versioned_private_encrypted_and_destroyable(resources):
    bucket_name = f"lambdaopt-artifacts-{ACCOUNT_ID}-dev"
    assert by_name(resources, "aws:s3/bucket:Bucket")[bucket_name]["forceDestroy"] is True
    (versioning,) = by_name(resources, "aws:s3/bucketVersioning:BucketVersioning").values()
    assert versioning == {"bucket": bucket_name, "versioningConfiguration": {"status": "Enabled"}}
    (block,) = by_name(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").values()
    assert all(block[flag] is True for flag in (
        "blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    (encryption,) = by_name(
        resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).values()
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"


def test_one_least_privilege_role_per_function(resources):
    functions = by_name(resources, "aws:lambda/function:Function")
    roles = by_name(resources, "aws:iam/role:Role")
    policies = by_name(resources, "aws:iam/rolePolicy:RolePolicy")
    assert len({inputs["role"] for inputs in functions.values()}) == len(functions)
    for name, inputs in functions.items():
        role_name = inputs["role"].rsplit(":", 1)[-1]
        trust = json.loads(roles[role_name]["assumeRolePolicy"])
        assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}]
        (policy,) = [p for p in policies.values() if p["role"] == role_name]
        statements = json.loads(policy["policy"])["Statement"]
        expected = [{
            "Sid": "WriteOwnLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:/aws/lambda/{name}:*",
        }]
        if name == "batch-processor-dev":
            # Exactly the table action its code performs, on that one table.
            expected.append({"Sid": "UseDataTable", "Effect": "Allow", "Action": ["dynamodb:BatchWriteItem"],
                             "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/data-table-dev"})
            # What Lambda's poller needs to deliver the records queue's messages, on that one queue.
            expected.append({"Sid": "ConsumeOwnQueue", "Effect": "Allow",
                             "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                             "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:records-queue-dev"})
        if name == "signature-verifier-dev":
            # What Lambda's poller needs to deliver the data table's stream records, on that table's streams.
            expected.append({"Sid": "ReadTableStream", "Effect": "Allow",
                             "Action": ["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream",
                                        "dynamodb:ListStreams"],
                             "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/data-table-dev/stream/*"})
        assert statements == expected


def test_the_batch_processor_consumes_a_queue_that_outlasts_six_of_its_timeouts(resources):
    (queue,) = by_name(resources, "aws:sqs/queue:Queue").values()
    (mapping,) = [mapping for mapping in by_name(resources, "aws:lambda/eventSourceMapping:EventSourceMapping").values()
                  if mapping["functionName"] == "batch-processor-dev"]
    functions = by_name(resources, "aws:lambda/function:Function")
    assert queue["name"] == "records-queue-dev" and set(queue["tags"]) == COST_TAGS
    assert queue["visibilityTimeoutSeconds"] >= 6 * functions["batch-processor-dev"]["timeout"]
    assert mapping["eventSourceArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:records-queue-dev"
    assert (mapping["functionName"], mapping["batchSize"]) == ("batch-processor-dev", 10)


def test_the_signature_verifier_reads_the_data_tables_stream(resources):
    (table,) = by_name(resources, "aws:dynamodb/table:Table").values()
    assert (table["streamEnabled"], table["streamViewType"]) == (True, "NEW_IMAGE")
    (mapping,) = [mapping for mapping in by_name(resources, "aws:lambda/eventSourceMapping:EventSourceMapping").values()
                  if mapping["functionName"] == "signature-verifier-dev"]
    assert mapping["eventSourceArn"].startswith(f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/data-table-dev/stream/")
    assert (mapping["batchSize"], mapping["startingPosition"]) == (100, "LATEST")


def test_a_stream_consumer_of_a_table_without_a_stream_is_refused():
    import fleet_spec

    fleet = fleet_spec.load_fleet()
    del fleet["data_table"]["stream_view_type"]
    with pytest.raises(fleet_spec.FleetError, match="signature-verifier-dev reads the data table's stream"):
        fleet_spec.build_spec("dev", ACCOUNT_ID, "us-east-1", fleet=fleet)


def test_the_api_handler_is_behind_a_rest_api_that_invokes_its_live_alias(resources):
    (api,) = by_name(resources, "aws:apigateway/restApi:RestApi").values()
    (integration,) = by_name(resources, "aws:apigateway/integration:Integration").values()
    (permission,) = by_name(resources, "aws:lambda/permission:Permission").values()
    assert api["name"] == "records-api-dev" and set(api["tags"]) == COST_TAGS
    assert (integration["type"], integration["integrationHttpMethod"]) == ("AWS_PROXY", "POST")
    assert integration["uri"].endswith("/functions/api-handler-dev-live/invocations")  # the alias, not $LATEST
    assert (permission["function"], permission["qualifier"], permission["principal"]) == (
        "api-handler-dev", "live", "apigateway.amazonaws.com")
    assert permission["sourceArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:records-api-dev/*/*/*"


def test_a_queue_shorter_than_its_consumers_timeout_is_refused():
    import fleet_spec

    fleet = fleet_spec.load_fleet()
    fleet["queues"][0]["visibility_timeout"] = 299
    with pytest.raises(fleet_spec.FleetError, match="visibility timeout 299 s is below batch-processor-dev's"):
        fleet_spec.build_spec("dev", ACCOUNT_ID, "us-east-1", fleet=fleet)


def test_the_data_table_is_over_provisioned_and_destroyable(resources):
    (table,) = by_name(resources, "aws:dynamodb/table:Table").values()
    assert table["name"] == "data-table-dev"
    assert (table["hashKey"], table["rangeKey"]) == ("id", "timestamp")
    assert {attribute["name"]: attribute["type"] for attribute in table["attributes"]} == {"id": "S", "timestamp": "S"}
    assert table["billingMode"] == "PROVISIONED"
    assert table["readCapacity"] == table["writeCapacity"] == 100
    assert table["deletionProtectionEnabled"] is False


def test_only_the_table_writer_knows_the_table(resources):
    functions = by_name(resources, "aws:lambda/function:Function")
    knows = {name for name, inputs in functions.items() if "TABLE_NAME" in inputs["environment"]["variables"]}
    assert knows == {"batch-processor-dev"}
    assert functions["batch-processor-dev"]["environment"]["variables"]["TABLE_NAME"] == "data-table-dev"
    assert {inputs["environment"]["variables"]["METRICS_NAMESPACE"] for inputs in functions.values()} == {
        "lambdaopt/pipeline"}


def test_no_role_may_put_metric_data_outside_the_project_namespace(resources):
    # Handlers publish business metrics as EMF log lines; a role that could call PutMetricData must be held
    # to the project's namespace by condition.
    for policy in by_name(resources, "aws:iam/rolePolicy:RolePolicy").values():
        for statement in json.loads(policy["policy"])["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action in ("cloudwatch:PutMetricData", "cloudwatch:*", "*") for action in actions):
                condition = statement.get("Condition", {}).get("StringEquals", {})
                assert condition.get("cloudwatch:namespace") == "lambdaopt/pipeline", policy


def test_the_api_handler_is_served_through_a_live_alias_with_provisioned_concurrency(resources):
    functions = by_name(resources, "aws:lambda/function:Function")
    assert functions["api-handler-dev"]["publish"] is True
    assert not any(inputs.get("publish") for name, inputs in functions.items() if name != "api-handler-dev")
    (alias,) = by_name(resources, "aws:lambda/alias:Alias").values()
    assert alias["name"] == "live" and alias["functionName"] == "api-handler-dev"
    assert alias["functionVersion"] == "1"  # the version `publish` made, not $LATEST
    (config,) = by_name(resources, "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig").values()
    assert config["functionName"] == "api-handler-dev" and config["qualifier"] == "live"
    assert config["provisionedConcurrentExecutions"] == 150


def test_log_groups_keep_logs_forever_and_no_alarms_exist(resources):
    groups = by_name(resources, "aws:cloudwatch/logGroup:LogGroup")
    assert set(groups) == {f"/aws/lambda/{name}" for name in EXPECTED_FUNCTIONS}
    for inputs in groups.values():
        assert "retentionInDays" not in inputs
        assert "skipDestroy" not in inputs
    assert not [r for r in resources if "metricAlarm" in r.type or "compositeAlarm" in r.type]


def test_secrets_come_from_pulumi_config_secrets(resources):
    secrets = by_name(resources, "aws:secretsmanager/secret:Secret")
    assert set(secrets) == {"database-url-dev", "api-key-dev"}
    assert all(inputs["recoveryWindowInDays"] == 0 for inputs in secrets.values())
    versions = by_name(resources, "aws:secretsmanager/secretVersion:SecretVersion")
    assert {v["secretId"] for v in versions.values()} == set(secrets)
    for inputs in versions.values():
        assert inputs["secretString"][SECRET_SIGNATURE_KEY] == SECRET_SIGNATURE
        assert inputs["secretString"]["value"] in SECRETS.values()


def test_stack_file_holds_no_plaintext_secret():
    for stack_file in PROGRAM_DIR.glob("Pulumi.*.yaml"):
        config = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {})
        for key, value in config.items():
            if key.split(":")[-1] in SECRETS:
                assert isinstance(value, dict) and set(value) == {"secure"}, f"{stack_file.name}: {key} is plaintext"
        text = stack_file.read_text()
        assert not any(secret in text for secret in SECRETS.values())


def test_missing_secret_config_fails_the_program():
    with pytest.raises(Exception, match="API_KEY"):
        declare({"suffix": "dev", "DATABASE_URL": "postgres://x"})


def test_cost_tags_on_every_taggable_resource(resources):
    taggable = [r for r in resources if r.type in {
        "aws:lambda/function:Function", "aws:iam/role:Role", "aws:cloudwatch/logGroup:LogGroup",
        "aws:s3/bucket:Bucket", "aws:s3/bucketObjectv2:BucketObjectv2", "aws:secretsmanager/secret:Secret",
        "aws:dynamodb/table:Table",
    }]
    assert len(taggable) == len(EXPECTED_FUNCTIONS) * 4 + 1 + 1 + 2 + 1
    for resource in taggable:
        assert set(resource.inputs["tags"]) == COST_TAGS, resource.name
        assert resource.inputs["tags"]["Environment"] == "dev"


def test_suffix_falls_back_to_environment_variable(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "qa")
    functions = by_name(declare(SECRETS), "aws:lambda/function:Function")
    assert set(functions) == {name.replace("-dev", "-qa") for name in EXPECTED_FUNCTIONS}


def test_stack_config_suffix_wins_over_environment(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "qa")
    functions = by_name(declare({"suffix": "prod", **SECRETS}), "aws:lambda/function:Function")
    assert set(functions) == {name.replace("-dev", "-prod") for name in EXPECTED_FUNCTIONS}


@pytest.mark.parametrize("suffix", ["Dev", "dev_1", "-dev", "x" * 40])
def test_invalid_suffix_is_refused(suffix):
    with pytest.raises(Exception, match="suffix"):
        declare({"suffix": suffix, **SECRETS})


def test_missing_suffix_is_refused(monkeypatch):
    monkeypatch.delenv("ENVIRONMENT_SUFFIX", raising=False)
    with pytest.raises(Exception, match="no suffix"):
        declare(SECRETS)


def test_region_defaults_to_us_east_1_and_follows_config(resources):
    (provider,) = of_type(resources, "pulumi:providers:aws")
    assert provider.inputs["region"] == "us-east-1"
    moved = declare({"suffix": "dev", "aws:region": "eu-west-1", **SECRETS})
    (provider,) = of_type(moved, "pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    (policy, *_) = by_name(moved, "aws:iam/rolePolicy:RolePolicy").values()
    assert ":logs:eu-west-1:" in json.loads(policy["policy"])["Statement"][0]["Resource"]


def test_endpoint_override_sends_every_service_to_the_emulator(resources):
    (provider,) = of_type(resources, "pulumi:providers:aws")
    assert "endpoints" not in provider.inputs
    local = declare({"suffix": "dev", "endpoint": "http://127.0.0.1:5000", **SECRETS})
    (provider,) = of_type(local, "pulumi:providers:aws")
    (endpoints,) = json.loads(provider.inputs["endpoints"])
    assert set(endpoints) == {"cloudwatchlogs", "iam", "lambda", "s3", "secretsmanager", "sts", "dynamodb", "sqs",
                              "apigateway"}
    assert set(endpoints.values()) == {"http://127.0.0.1:5000"}
    assert provider.inputs["s3UsePathStyle"] == "true"


def test_every_resource_uses_the_stack_provider(resources):
    # An explicit provider carries region and endpoint settings; a default one would ignore them.
    for resource in resources:
        if not resource.type.startswith("pulumi:providers:"):
            assert resource.provider and resource.provider.endswith("pulumi:providers:aws::aws::aws"), resource.name
