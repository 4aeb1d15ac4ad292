"""SQS queue encryption and KMS key lookup as AWS does them.

- A queue is encrypted with SQS-managed keys (SSE-SQS) or with a KMS key (SSE-KMS), never both: "Only one
  server-side encryption option is supported per queue (for example, SSE-KMS or SSE-SQS)" (Amazon SQS API
  Reference, CreateQueue / SetQueueAttributes, `SqsManagedSseEnabled`). moto keeps `SqsManagedSseEnabled` true
  beside a `KmsMasterKeyId`, so a KMS-encrypted queue looked like an SSE-SQS one.
- DescribeKey of a predefined AWS alias (`alias/aws/<service>`) that has no key yet returns the AWS managed key,
  created for it, with `KeyManager` `AWS` (AWS KMS API Reference, DescribeKey, KeyId). moto knows only some of
  these aliases (not `alias/aws/sqs`) and marks their keys `CUSTOMER`.
- A key named by its key or alias ARN is the key in the ARN's account and region ("To specify a KMS key in a
  different AWS account, you must use the key ARN or alias ARN", same page). moto looks every ARN up in the
  caller's own account, so another account's ARN found the caller's key of the same id or alias.
"""

from __future__ import annotations

from typing import Any

from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.sqs.exceptions import InvalidAttributeValue
from moto.sqs.models import SQSBackend

AWS_MANAGED_ALIAS_PREFIX = "alias/aws/"


def apply() -> None:
    one_encryption_per_queue()
    aws_managed_keys()
    keys_in_their_own_account()


def _asks_for_sse_sqs(attributes: dict) -> bool:
    return str(attributes.get("SqsManagedSseEnabled", "")).lower() == "true"


def _encryption(attributes: dict) -> dict:
    """The request's attributes with the encryption it does not ask for turned off; both at once is refused."""
    attributes = dict(attributes)
    if attributes.get("KmsMasterKeyId"):
        if _asks_for_sse_sqs(attributes):
            raise InvalidAttributeValue("SqsManagedSseEnabled")
        attributes["SqsManagedSseEnabled"] = "false"
    elif _asks_for_sse_sqs(attributes):
        attributes["KmsMasterKeyId"] = None
    return attributes


def one_encryption_per_queue() -> None:
    create_queue, set_queue_attributes = SQSBackend.create_queue, SQSBackend.set_queue_attributes

    def create(self: SQSBackend, name: str, tags: dict | None = None, **attributes: Any):
        return create_queue(self, name, tags, **_encryption(attributes))

    def set_attributes(self: SQSBackend, queue_name: str, attributes: dict):
        return set_queue_attributes(self, queue_name, _encryption(attributes))

    SQSBackend.create_queue = create
    SQSBackend.set_queue_attributes = set_attributes


def aws_managed_keys() -> None:
    original = KmsBackend.get_key_id_from_alias

    def get_key_id_from_alias(self: KmsBackend, alias_name: str) -> str | None:
        key_id = original(self, alias_name)
        if not alias_name.startswith(AWS_MANAGED_ALIAS_PREFIX):
            return key_id
        if key_id is None:
            service = alias_name.removeprefix(AWS_MANAGED_ALIAS_PREFIX)
            key = self.create_key(None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT",
                                  f"Default key that protects my {service} data when no other key is defined", None)
            self.create_alias(key.id, alias_name)
            key_id = key.id
        self.keys[key_id].key_manager = "AWS"
        return key_id

    KmsBackend.get_key_id_from_alias = get_key_id_from_alias


def keys_in_their_own_account() -> None:
    def kms_backend(self: KmsResponse) -> KmsBackend:
        key_id = self._get_param("KeyId") if self.body else None
        if isinstance(key_id, str) and key_id.startswith("arn:"):
            _, _, _, region, account = key_id.split(":")[:5]
            return kms_backends[account][region]
        return kms_backends[self.current_account][self.region]

    KmsResponse.kms_backend = property(kms_backend)
