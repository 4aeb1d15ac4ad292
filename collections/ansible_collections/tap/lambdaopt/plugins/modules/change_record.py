#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: change_record
short_description: Record every change an optimization run made, so that it can be rolled back
version_added: 0.1.0
description:
  - Turns the results the optimizing tasks registered into the run's change record for one account-region -
    for each function and each field, the value before and after and the module that changed it; each alias's
    provisioned concurrency and each DynamoDB table's billing mode and capacity; the role policies (documents before
    and after), alarms, queues and secrets the run added or changed (never a secret's value); every refused change
    with its reason and risk; and what failed.
  - The record's C(recorded_at) is when its changes were made, at the end of the run. The modules' registered
    results carry no time of their own, so no change has a time apart from its run's.
  - After a real run it writes the record as JSON to O(dest), named
    C(lambdaopt-changes-<account>-<region>-<UTC time>.json). C(data/change_record.schema.json) in this collection
    is its schema. In check mode it writes nothing and returns what the record would contain, from the plan.
  - The record carries C(digest), C(sha256:) and the SHA-256 of its content - the record without its digest, as
    JSON with keys sorted, no whitespace between tokens and non-ASCII characters unescaped, in UTF-8 - so that
    M(tap.lambdaopt.lambda_rollback) can tell a record changed since it was written, and refuses it. Do not edit
    a record; a changed one is never rolled back. The digest is no signature, so keep records where only those who
    may change the fleet can write.
  - M(tap.lambdaopt.lambda_rollback) puts back every recorded "before" value from such a file.
  - Runs on the controller and makes no AWS call; it never reports a change.
options:
  usage:
    description:
      - The C(functions) returned by M(tap.lambdaopt.lambda_usage_info), or its C(fleet). Their ARNs name the
        account-region, and nothing else of them is read, so the smaller C(fleet) costs the task less.
    type: list
    elements: dict
    required: true
  dest:
    description: Directory to write the record to; created when missing.
    type: path
    required: true
extends_documentation_fragment:
  - tap.lambdaopt.run_results
  - amazon.aws.common.modules
  - amazon.aws.region.modules
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Record what the run changed
  tap.lambdaopt.change_record:
    usage: "{{ usage.functions }}"
    rightsize: "{{ rightsize }}"
    log_retention: "{{ retention }}"
    dest: "{{ playbook_dir }}/../records"
"""

RETURN = r"""
record:
  description: The change record (what it would be, in check mode).
  returned: always
  type: dict
  sample: {"schema_version": 2, "kind": "tap.lambdaopt change record", "mode": "applied",
           "recorded_at": "2026-11-23T12:00:00+00:00", "account_id": "123456789012", "region": "us-east-1",
           "changes": [{"function_name": "transform-dev", "field": "memory_size", "before": 3008, "after": 128,
                        "module": "tap.lambdaopt.lambda_rightsize", "reason": "max memory used 91 MB x 1.3"}],
           "role_policies": [], "alarms": [], "resources": [], "tables": [], "refused": [], "failed": [],
           "digest": "sha256:5f0c6e0b2a4d8e1f9c3b7a6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f"}
path:
  description: The file written.
  returned: when not in check mode
  type: str
  sample: records/lambdaopt-changes-123456789012-us-east-1-20261123T120000Z.json
"""
