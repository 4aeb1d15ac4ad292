# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which KMS key a dead-letter queue encrypts with, and what a function's execution role needs to send to it.

What AWS does, and where it says so:

- Lambda sends a failed asynchronous event to the dead-letter queue with the function's execution role
  (Lambda Developer Guide, "Capturing records of Lambda asynchronous invocations", dead-letter queues:
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq).
  When the send fails, the event is gone; only the `DeadLetterErrors` metric counts it ("the number of times
  that Lambda attempts to send an event to a dead-letter queue (DLQ) but fails ... due to permissions errors,
  misconfigured resources, or size limits": Lambda Developer Guide, "Types of metrics for Lambda functions",
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
- A producer to a queue encrypted with a customer managed KMS key needs `kms:GenerateDataKey` and `kms:Decrypt`
  on that key, from the key policy or from an IAM policy that names the key's full ARN ("AWS KMS requires
  explicitly naming the full ARN of KMS keys in specific regions in the Resource section of an IAM policy":
  Amazon SQS Developer Guide, "Amazon SQS Key management",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
- The AWS managed key for SQS (`alias/aws/sqs`) needs no grant: its key policy, which nobody can change, already
  lets every principal in the account that may use SQS use it through SQS (same page). Granting on it would
  only widen the role's policy. SSE-SQS (`SqsManagedSseEnabled`) uses no KMS key at all.
- `DescribeKey` takes a key id, key ARN, alias name or alias ARN; a key in another account only by its key or
  alias ARN; a predefined AWS alias with no key yet gets its AWS managed key (KMS API Reference, DescribeKey,
  KeyId: https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html). A queue's
  `KmsMasterKeyId` is relative to the queue's own account and region, so it is qualified with them first.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import format_arn, parse_whole_arn

try:
    from botocore.exceptions import ClientError
except ImportError:  # handled by AnsibleAWSModule
    pass

SEND_STATEMENT_ID = "SendToDeadLetterQueue"
KMS_STATEMENT_ID = "EncryptForDeadLetterQueue"
KMS_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
SQS_MISSING_QUEUE_CODES = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def _resource(arns: list):
    return arns[0] if len(arns) == 1 else sorted(arns)


def dlq_policy(queue_arns: list, key_arns: list, send_sid: str = SEND_STATEMENT_ID,
               kms_sid: str = KMS_STATEMENT_ID) -> dict:
    """The role's dead-letter statements: send to its queues; encrypt with the customer managed keys they use."""
    statements = []
    if queue_arns:
        statements.append({"Sid": send_sid, "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": _resource(sorted(set(queue_arns)))})
    if key_arns:
        statements.append({"Sid": kms_sid, "Effect": "Allow", "Action": KMS_ACTIONS,
                           "Resource": _resource(sorted(set(key_arns)))})
    return {"Version": "2012-10-17", "Statement": statements}


def qualified_key_id(key_id: str, queue_arn: str) -> str:
    """A queue's KmsMasterKeyId (alias name, alias ARN, key id or key ARN) as an ARN in the queue's account and
    region: DescribeKey reads a bare id or alias name in the caller's account, which may not be the queue's."""
    if key_id.startswith("arn:"):
        return key_id
    resource = key_id if key_id.startswith("alias/") else f"key/{key_id}"
    return format_arn(_queue_arn_parts(queue_arn), service="kms", resource=resource)


def key_to_grant(metadata: dict, key_id: str) -> tuple[str | None, str | None]:
    """(key ARN the role must be granted, or None when it needs no grant; why the key cannot be used, or None)."""
    state = metadata.get("KeyState")
    if state != "Enabled":
        return None, f"its KMS key {key_id} is {state}: SQS cannot encrypt failed events with it"
    if metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or metadata.get(
            "KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return None, f"its KMS key {key_id} is not a symmetric encryption key, the only kind SQS encrypts with"
    if metadata.get("KeyManager") == "AWS":
        return None, None
    return metadata["Arn"], None


def resolve_key(kms, key_id: str, queue_arn: str) -> tuple[str | None, str | None]:
    """key_to_grant for the key a queue names, read with DescribeKey; an error when it cannot be read."""
    try:
        metadata = kms.describe_key(KeyId=qualified_key_id(key_id, queue_arn))["KeyMetadata"]
    except is_boto3_error_code("NotFoundException"):
        return None, f"its KMS key {key_id} does not exist (or was deleted)"
    except is_boto3_error_code("AccessDeniedException"):
        return None, (f"its KMS key {key_id} cannot be read (kms:DescribeKey denied), so the role's permission "
                      "to encrypt with it cannot be scoped to it")
    except ClientError as error:  # pylint: disable=duplicate-except
        return None, f"its KMS key {key_id} cannot be read: {_error_text(error)}"
    return key_to_grant(metadata, key_id)


def queue_key_id(sqs, queue_arn: str) -> tuple[str | None, str | None]:
    """(the KmsMasterKeyId of the queue an ARN names, or None for SSE-SQS or no encryption; why it cannot be
    read, or None). The queue may be in another account, which then has to allow GetQueueAttributes."""
    queue = _queue_arn_parts(queue_arn)
    try:
        url = sqs.get_queue_url(QueueName=queue["resource"], QueueOwnerAWSAccountId=queue["account_id"])["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])
    except is_boto3_error_code(SQS_MISSING_QUEUE_CODES):
        return None, "its dead-letter queue does not exist: Lambda cannot send failed events to it"
    except ClientError as error:  # pylint: disable=duplicate-except
        return None, f"its dead-letter queue cannot be read: {_error_text(error)}"
    return attributes.get("Attributes", {}).get("KmsMasterKeyId") or None, None


def _queue_arn_parts(queue_arn: str) -> dict:
    """parse_aws_arn's parts of a queue's ARN (arn:<partition>:sqs:<region>:<account>:<name>)."""
    parts = parse_whole_arn(queue_arn)
    if parts is None:
        raise ValueError(f"{queue_arn!r} is not the ARN of a queue")
    return parts


def _error_text(error) -> str:
    """An AWS error as the result tells it: its code and AWS's message."""
    return f"{error.response['Error'].get('Code')}: {error.response['Error'].get('Message', '')}"
