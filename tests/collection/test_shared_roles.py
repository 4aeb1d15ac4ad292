"""A role shared by two fleets (and by a function outside any fleet) keeps every grant each of them needs, through
optimizing one fleet after the other and rolling them back one after the other; a role whose inline policies would
exceed IAM's size limit is refused whole."""

import json

from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = "test-function-role"
FLEETS = {"a": ["api-a", "batch-a"], "b": ["api-b", "batch-b"]}
OUTSIDE = "standalone-report"
HAND_WRITTEN = {"Sid": "TeamReadsItsBucket", "Effect": "Allow", "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::team-bucket/*"}
XRAY = "xray:PutTraceSegments"


def queue(suffix):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:lambda-dlq-{suffix}"


def secret_arn(aws, suffix):
    return aws.client("secretsmanager").describe_secret(SecretId=f"api-key-{suffix}")["ARN"]


def allowed(aws, action, resource) -> bool:
    iam = aws.client("iam")
    answer = iam.simulate_principal_policy(PolicySourceArn=iam.get_role(RoleName=ROLE)["Role"]["Arn"],
                                           ActionNames=[action], ResourceArns=[resource])
    return answer["EvaluationResults"][0]["EvalDecision"] == "allowed"


def grants(aws, suffix) -> dict:
    """What the shared role may do for one fleet: send to its queue, read its secret."""
    secrets = aws.client("secretsmanager").list_secrets()["SecretList"]
    arn = next((secret["ARN"] for secret in secrets if secret["Name"] == f"api-key-{suffix}"), None)
    return {"send": allowed(aws, "sqs:SendMessage", queue(suffix)),
            "read": arn is not None and allowed(aws, "secretsmanager:GetSecretValue", arn)}


def hand_written_kept(aws) -> bool:
    iam = aws.client("iam")
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="lambdaopt-dlq-send")["PolicyDocument"]
    return HAND_WRITTEN in document["Statement"] and iam.get_role_policy(
        RoleName=ROLE, PolicyName="team-own")["PolicyDocument"]["Statement"] == [HAND_WRITTEN]


def optimize(run_module, suffix) -> dict:
    results = {
        "tracing": run_module("lambda_tracing", {"suffix": suffix}),
        "dead_letter_queues": run_module("lambda_dlq", {"suffix": suffix}),
        "secrets": run_module("lambda_secrets", {"suffix": suffix, "secrets": [
            {"env": "API_KEY", "value": f"key-of-{suffix}"}]}),
    }
    assert not any(result.failed for result in results.values()), results
    return change_record.build({task: dict(result) for task, result in results.items()}, dry_run=False,
                               account_id=ACCOUNT, region=REGION)


def test_two_fleets_on_one_role_keep_their_grants_through_optimize_and_rollback(aws, make_function, run_module):
    for names in FLEETS.values():
        for name in names:
            make_function(name, active=True)
    make_function(OUTSIDE, active=True, TracingConfig={"Mode": "Active"})
    iam = aws.client("iam")
    iam.put_role_policy(RoleName=ROLE, PolicyName="team-own",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [HAND_WRITTEN]}))
    # Someone added a statement of their own to the collection's policy: it is theirs, and stays.
    iam.put_role_policy(RoleName=ROLE, PolicyName="lambdaopt-dlq-send",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [HAND_WRITTEN]}))

    record_a = optimize(run_module, "a")
    assert grants(aws, "a") == {"send": True, "read": True} and grants(aws, "b") == {"send": False, "read": False}
    assert allowed(aws, XRAY, "*") and hand_written_kept(aws)

    record_b = optimize(run_module, "b")
    assert grants(aws, "a") == {"send": True, "read": True} and grants(aws, "b") == {"send": True, "read": True}
    assert allowed(aws, XRAY, "*") and hand_written_kept(aws)
    # Each run recorded only its own statements.
    for record, suffix in ((record_a, "a"), (record_b, "b")):
        sids = {statement["Sid"] for policy in record["role_policies"] for statement in policy["after"]["Statement"]}
        assert sids and all(sid.endswith(f"For{suffix}") for sid in sids), sids

    rolled_b = run_module("lambda_rollback", {"record": record_b})
    assert not rolled_b.failed and {item["status"] for item in rolled_b["items"]
                                    if item["kind"] == "role_policy"} == {"restored"}
    assert grants(aws, "a") == {"send": True, "read": True} and grants(aws, "b") == {"send": False, "read": False}
    assert allowed(aws, XRAY, "*") and hand_written_kept(aws)

    rolled_a = run_module("lambda_rollback", {"record": record_a})
    assert not rolled_a.failed and {item["status"] for item in rolled_a["items"]
                                    if item["kind"] == "role_policy"} == {"restored"}
    assert grants(aws, "a") == {"send": False, "read": False} and grants(aws, "b") == {"send": False, "read": False}
    assert not allowed(aws, XRAY, "*") and hand_written_kept(aws)
    # Policies left with no statement are gone; the collection's policy someone else also wrote to stays.
    assert sorted(iam.list_role_policies(RoleName=ROLE)["PolicyNames"]) == ["lambdaopt-dlq-send", "team-own"]
    assert not run_module("lambda_rollback", {"record": record_a})["changed"]


def test_x_ray_write_is_kept_while_a_function_outside_the_fleet_traces(aws, make_function, run_module):
    for name in FLEETS["a"]:
        make_function(name, active=True)
    make_function(OUTSIDE, active=True, TracingConfig={"Mode": "Active"})
    assert not run_module("lambda_tracing", {"suffix": "a"}).failed

    off = run_module("lambda_tracing", {"suffix": "a", "mode": "PassThrough"})
    assert not off.failed and off["role_policies"] == []
    assert all(OUTSIDE in entry["reason"] for entry in off["functions"])
    assert allowed(aws, XRAY, "*")

    aws.client("lambda").update_function_configuration(FunctionName=OUTSIDE, TracingConfig={"Mode": "PassThrough"})
    make_function("late-a", active=True, TracingConfig={"Mode": "PassThrough"})
    dropped = run_module("lambda_tracing", {"suffix": "a", "mode": "PassThrough"})
    assert [policy["after"] for policy in dropped["role_policies"]] == [None]
    assert not allowed(aws, XRAY, "*")


def test_a_role_beyond_iams_size_limit_is_refused_and_nothing_is_written(aws, make_function, run_module):
    for name in FLEETS["a"]:
        make_function(name, active=True)
    filler = {"Sid": "Filler", "Effect": "Allow", "Action": "s3:GetObject",
              "Resource": [f"arn:aws:s3:::bucket-{index:04d}/*" for index in range(345)]}
    aws.client("iam").put_role_policy(RoleName=ROLE, PolicyName="team-own", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [filler]}))

    result = run_module("lambda_dlq", {"suffix": "a"})
    assert result.failed and sorted(result["failed_functions"]) == FLEETS["a"]
    assert all("beyond IAM's limit of 10240" in entry["error"] for entry in result["functions"])
    assert result["role_policies"] == []
    assert "lambdaopt-dlq-send" not in aws.client("iam").list_role_policies(RoleName=ROLE)["PolicyNames"]
    functions = aws.client("lambda").list_functions()["Functions"]
    assert all("DeadLetterConfig" not in function or not function["DeadLetterConfig"].get("TargetArn")
               for function in functions)


def test_near_the_limit_a_suffixs_per_function_queues_collapse_to_the_collections_pattern(aws, make_function,
                                                                                            run_module):
    for name in FLEETS["a"]:
        make_function(name, active=True)
    filler = {"Sid": "Filler", "Effect": "Allow", "Action": "s3:GetObject",
              "Resource": [f"arn:aws:s3:::bucket-{index:04d}/*" for index in range(275)]}
    aws.client("iam").put_role_policy(RoleName=ROLE, PolicyName="team-own", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [filler]}))

    result = run_module("lambda_dlq", {"suffix": "a", "per_function": True})
    assert not result.failed
    [statement] = aws.client("iam").get_role_policy(RoleName=ROLE, PolicyName="lambdaopt-dlq-send")[
        "PolicyDocument"]["Statement"]
    assert statement["Resource"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:*-a-dlq"
    assert all(allowed(aws, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-dlq") for name in FLEETS["a"])
    assert not allowed(aws, "sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:api-b-dlq")
    # The record holding the pattern is one rollback trusts.
    record = change_record.build({"dead_letter_queues": dict(result)}, dry_run=False, account_id=ACCOUNT,
                                 region=REGION)
    rolled = run_module("lambda_rollback", {"record": record})
    assert not rolled.failed and "lambdaopt-dlq-send" not in aws.client("iam").list_role_policies(
        RoleName=ROLE)["PolicyNames"]


def test_a_queue_or_secret_is_dropped_only_once_no_function_of_the_role_uses_it(aws, make_function, run_module):
    for name in FLEETS["a"]:
        make_function(name, active=True)
    other = f"arn:aws:sqs:{REGION}:{ACCOUNT}:other-dlq-a"
    assert not run_module("lambda_dlq", {"suffix": "a"}).failed
    # api-a moves to another queue; batch-a, on the same role, still sends to the first.
    moved = {"suffix": "a", "name_pattern": "api-*", "queue_name": "other-dlq-a", "replace_existing": True}
    assert not run_module("lambda_dlq", moved).failed
    assert allowed(aws, "sqs:SendMessage", queue("a")) and allowed(aws, "sqs:SendMessage", other)
    assert not run_module("lambda_dlq", {**moved, "name_pattern": "*"}).failed
    assert not allowed(aws, "sqs:SendMessage", queue("a")) and allowed(aws, "sqs:SendMessage", other)

    assert not run_module("lambda_secrets", {"suffix": "a", "secrets": [{"env": "API_KEY", "value": "k"}]}).failed
    api_key = secret_arn(aws, "a")
    # Another secret list: the functions keep API_KEY_SECRET_ARN in their environment, so the role may still read it.
    assert not run_module("lambda_secrets", {"suffix": "a", "secrets": [{"env": "DB_URL", "value": "d"}]}).failed
    assert allowed(aws, "secretsmanager:GetSecretValue", api_key)
    for name in FLEETS["a"]:
        variables = aws.client("lambda").get_function_configuration(FunctionName=name)["Environment"]["Variables"]
        aws.client("lambda").update_function_configuration(FunctionName=name, Environment={"Variables": {
            key: value for key, value in variables.items() if key != "API_KEY_SECRET_ARN"}})
    assert not run_module("lambda_secrets", {"suffix": "a", "secrets": [{"env": "DB_URL", "value": "d"}]}).failed
    assert not allowed(aws, "secretsmanager:GetSecretValue", api_key)
