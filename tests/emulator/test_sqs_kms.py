"""The emulator's SQS encryption and KMS key lookup follow AWS (tools/emulator_patches/sqs_kms.py).

Sources: Amazon SQS API Reference, CreateQueue / SetQueueAttributes, `SqsManagedSseEnabled` ("Only one
server-side encryption option is supported per queue (for example, SSE-KMS or SSE-SQS)"); AWS KMS API
Reference, DescribeKey, `KeyId` (a predefined AWS alias returns its AWS managed key; a key in another account
is named by its key or alias ARN)."""

import pytest
from botocore.exceptions import ClientError

from tools.emulator import emulator_session

OTHER_ACCOUNT = "111111111111"


def attributes(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_a_queue_is_encrypted_one_way_only(aws):
    sqs, kms = aws.client("sqs"), aws.client("kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    assert attributes(sqs, plain)["SqsManagedSseEnabled"] == "true"  # SSE-SQS is the default for new queues
    assert "KmsMasterKeyId" not in attributes(sqs, plain)

    with_key = sqs.create_queue(QueueName="with-key", Attributes={"KmsMasterKeyId": key_arn})["QueueUrl"]
    assert attributes(sqs, with_key)["SqsManagedSseEnabled"] == "false"
    assert attributes(sqs, with_key)["KmsMasterKeyId"] == key_arn

    sqs.set_queue_attributes(QueueUrl=plain, Attributes={"KmsMasterKeyId": "alias/aws/sqs"})
    assert (attributes(sqs, plain)["SqsManagedSseEnabled"], attributes(sqs, plain)["KmsMasterKeyId"]) == (
        "false", "alias/aws/sqs")
    sqs.set_queue_attributes(QueueUrl=with_key, Attributes={"SqsManagedSseEnabled": "true"})
    assert attributes(sqs, with_key)["SqsManagedSseEnabled"] == "true"
    assert "KmsMasterKeyId" not in attributes(sqs, with_key)


def test_asking_for_both_encryptions_at_once_is_refused(aws):
    sqs = aws.client("sqs")
    with pytest.raises(ClientError) as refused:
        sqs.create_queue(QueueName="both", Attributes={"KmsMasterKeyId": "alias/aws/sqs",
                                                       "SqsManagedSseEnabled": "true"})
    assert refused.value.response["Error"]["Code"] == "InvalidAttributeValue"
    url = sqs.create_queue(QueueName="one")["QueueUrl"]
    with pytest.raises(ClientError):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": "alias/aws/sqs",
                                                           "SqsManagedSseEnabled": "true"})


def test_the_aws_managed_sqs_key_is_described_as_aws_managed(aws):
    kms = aws.client("kms")
    by_name = kms.describe_key(KeyId="alias/aws/sqs")["KeyMetadata"]
    by_arn = kms.describe_key(KeyId="arn:aws:kms:us-east-1:123456789012:alias/aws/sqs")["KeyMetadata"]
    assert by_name["KeyManager"] == "AWS" and by_name["Arn"] == by_arn["Arn"]  # created once, then found
    assert kms.describe_key(KeyId="alias/aws/lambda")["KeyMetadata"]["KeyManager"] == "AWS"
    assert kms.describe_key(KeyId=kms.create_key()["KeyMetadata"]["KeyId"])["KeyMetadata"]["KeyManager"] == (
        "CUSTOMER")


def test_a_key_arn_names_the_key_in_its_own_account(aws, emulator):
    kms = aws.client("kms")
    mine = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/shared-name", TargetKeyId=mine["KeyId"])
    other = emulator_session(emulator.endpoint, account_id=OTHER_ACCOUNT).client("kms")
    theirs = other.create_key()["KeyMetadata"]
    other.create_alias(AliasName="alias/shared-name", TargetKeyId=theirs["KeyId"])

    described = kms.describe_key(KeyId=f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:alias/shared-name")["KeyMetadata"]
    assert described["Arn"] == theirs["Arn"] and described["AWSAccountId"] == OTHER_ACCOUNT
    assert kms.describe_key(KeyId=theirs["Arn"])["KeyMetadata"]["Arn"] == theirs["Arn"]
    with pytest.raises(ClientError) as missing:
        kms.describe_key(KeyId=f"arn:aws:kms:us-east-1:{OTHER_ACCOUNT}:key/{mine['KeyId']}")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    assert kms.describe_key(KeyId="alias/shared-name")["KeyMetadata"]["Arn"] == mine["Arn"]
