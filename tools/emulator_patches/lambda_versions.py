"""Lambda's versions as AWS publishes them: each new version gets the next number, never one used before, and
nothing is published while $LATEST is what the last version holds.

AWS (Lambda developer guide, "Introduction to AWS Lambda Versioning": Lambda assigns incremental version numbers,
and "the version numbers are never reused, even if your function gets deleted or re-created"; "Lambda function
versions": every version has a unique ARN, and "if $LATEST is identical to a previously published version, you won't
be able to create a new version"; API reference, PublishVersion: "Lambda doesn't publish a version if the function's
configuration and code haven't changed since the last version").

moto 5.2.5 numbers a new version one above the count of versions the function holds, so after a version is deleted
the next publication reuses a number - one still held when the deleted version was not the last, in which case two
versions share an ARN and deleting "that" version can delete the other. It also publishes a second version of an
unchanged function after its first (only later publications clear its record of a change). Here the number is one
above the highest the function (by name, in this account-region) was ever given, and every publication clears the
record.
"""

from __future__ import annotations

from moto.awslambda.models import LambdaFunction, LambdaStorage


def apply() -> None:
    never_reused_numbers()


def never_reused_numbers() -> None:
    original_publish = LambdaStorage.publish_version

    def publish_version(self: LambdaStorage, name_or_arn: str, description: str = "") -> LambdaFunction | None:
        name = self.get_function_by_name_or_arn_forbid_qualifier(name_or_arn).function_name
        held = list(self._functions.get(name, {}).get("versions") or [])
        version = original_publish(self, name_or_arn, description)
        if version is None or any(version is existing for existing in held):
            return version  # nothing published: Lambda answers with the last version
        self._functions[name]["latest"].code_or_config_updated = False
        issued = self.__dict__.setdefault("lambdaopt_last_version", {})
        number = max([issued.get(name, 0), *(int(existing.version) for existing in held)]) + 1
        issued[name] = number
        if int(version.version) != number:
            self._arns.pop(version.function_arn, None)
            version.set_version(number)
            self._arns[version.function_arn] = version
            # moto registered the new version under a number another one may still hold.
            for existing in held:
                self._arns[existing.function_arn] = existing
        return version

    LambdaStorage.publish_version = publish_version
