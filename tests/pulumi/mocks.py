"""Run the Pulumi program under Pulumi's mock runtime (no CLI, no cloud) and record what it declares."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

PROJECT = "lambdaopt-baseline"
ACCOUNT_ID = "123456789012"


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict
    provider: str | None


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Declared] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(Declared(args.typ, args.name, dict(args.inputs), args.provider))
        state = dict(args.inputs)
        if args.typ == "aws:s3/bucketObjectv2:BucketObjectv2":
            state["versionId"] = f"v-{args.name}"
        if args.typ.startswith("aws:lambda/") or args.typ.startswith("aws:iam/"):
            state.setdefault("arn", f"arn:aws:mock:::{args.name}")
        if args.typ == "aws:dynamodb/table:Table" and args.inputs.get("streamEnabled"):
            # As AWS answers: the stream's label is when it was enabled.
            state["streamArn"] = (f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/{args.inputs['name']}"
                                  "/stream/2026-11-30T00:00:00.000")
        if args.typ == "aws:sqs/queue:Queue":
            state["arn"] = f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:{args.inputs['name']}"
        if args.typ == "aws:apigateway/restApi:RestApi":
            state["rootResourceId"] = f"root-{args.name}"
            state["executionArn"] = f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{args.name}"
        if args.typ in ("aws:lambda/function:Function", "aws:lambda/alias:Alias"):
            state["invokeArn"] = f"arn:aws:apigateway:us-east-1:lambda:path/functions/{args.name}/invocations"
        if args.typ == "aws:lambda/function:Function":
            # As AWS answers: the number `publish` gave the new version, else $LATEST.
            state["version"] = "1" if args.inputs.get("publish") else "$LATEST"
        return args.name, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock", "userId": "mock"}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsSuffix": "com.amazonaws"}
        raise NotImplementedError(f"the mocks do not answer {args.token}")


def declare(config: dict[str, str], secret_keys: tuple[str, ...] = ("DATABASE_URL", "API_KEY")) -> list[Declared]:
    """Run the baseline program with `config` (keys without the project prefix, or `aws:` keys)."""
    import baseline

    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="dev", preview=False)
    qualified = {key if ":" in key else f"{PROJECT}:{key}": value for key, value in config.items()}
    pulumi.runtime.set_all_config(qualified, secret_keys=[f"{PROJECT}:{key}" for key in secret_keys])

    @pulumi.runtime.test
    def program():
        baseline.deploy(baseline.read_settings())

    program()
    return mocks.resources


def of_type(resources: list[Declared], type_token: str) -> list[Declared]:
    return [resource for resource in resources if resource.type == type_token]
