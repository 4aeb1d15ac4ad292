#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: run_lock
short_description: Let one optimize or rollback run at a time act on an account-region
version_added: 0.1.0
description:
  - Two runs on one account-region at once would plan reservations against the same unreserved pool and each take
    what the other counted on. C(state=present) takes a lock for the run, or waits up to O(wait_seconds) for the
    run that holds it, then fails naming that run, when it took the lock and when the lock expires.
  - The lock lives in the account, as the SSM parameter O(name) in the host's region, so that runs on different
    controllers or AWX execution nodes see it. It holds the holder's id, the time it was taken and its expiry.
    PutParameter creates it only where none exists, so two runs cannot both take it.
  - A lock expires O(ttl_seconds) after it was taken, so a run that was killed blocks the next ones only until
    then; an expired lock is taken over. To clear a lock by hand, when you know its run is gone -
    C(aws ssm delete-parameter --name /tap-lambdaopt/run-lock --region <region>), or this module with
    C(state=absent) and O(force=true).
  - C(state=absent) releases the lock, only if O(holder) holds it (the C(lock.holder) that C(state=present)
    returned), unless O(force) is set.
  - In check mode nothing is written; C(state=present) reports whether another run holds the lock, and a dry run
    goes on with a warning, since it changes nothing.
options:
  state:
    description: C(present) takes the lock, C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: The SSM parameter that is the lock.
    type: str
    default: /tap-lambdaopt/run-lock
  holder:
    description:
      - Who holds the lock. For C(present), defaults to a new unique id; for C(absent), required unless O(force).
    type: str
  purpose:
    description: What the run does, shown to runs that find the lock taken (e.g. C(optimize dev)).
    type: str
    default: ""
  ttl_seconds:
    description: How long the lock lasts if it is never released. Longer than the longest run.
    type: int
    default: 7200
  wait_seconds:
    description: How long C(present) waits for another run's lock before failing. C(0) fails at once.
    type: int
    default: 0
  force:
    description: With C(state=absent), release the lock whoever holds it.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Take the account-region's lock for this run
  tap.lambdaopt.run_lock:
    purpose: "optimize {{ suffix }}"
    wait_seconds: 600
  register: lambdaopt_lock

- name: Release it
  tap.lambdaopt.run_lock:
    state: absent
    holder: "{{ lambdaopt_lock.lock.holder }}"
  when: lambdaopt_lock.acquired | default(false)

- name: Clear a lock whose run is gone
  tap.lambdaopt.run_lock:
    state: absent
    force: true
"""

RETURN = r"""
acquired:
  description: Whether this task took the lock (always false in check mode).
  returned: always
  type: bool
  sample: true
lock:
  description: The lock this task took or released, or the one another run holds; null when there is none.
  returned: always
  type: dict
  sample: {"holder": "4f9c0c3e-6a5f-4bb1-9d0e-1d2f3a4b5c6d", "acquired_at": "2026-11-30T06:00:02+00:00",
           "expires_at": "2026-11-30T08:00:02+00:00", "purpose": "optimize dev"}
taken_over:
  description:
    - The expired lock this task deleted to take its own, with a warning naming it; null when there was none.
    - A run that ends without releasing its lock (killed, or its node lost) leaves it until it expires.
  returned: when the lock was taken
  type: dict
  version_added: 0.2.0
  sample: {"holder": "1d2f3a4b-6a5f-4bb1-9d0e-4f9c0c3e5c6d", "acquired_at": "2026-11-30T04:00:02+00:00",
           "expires_at": "2026-11-30T06:00:02+00:00", "purpose": "optimize dev"}
held_by_another:
  description: Whether another run holds the lock (check mode reports it instead of failing).
  returned: always
  type: bool
  sample: false
"""

import time
import uuid
from datetime import UTC, datetime

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import run_lock
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import aws_client
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import finish

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

POLL_SECONDS = 10


def taken_message(name: str, region: str, lock: run_lock.Lock) -> str:
    purpose = f" ({lock.purpose})" if lock.purpose else ""
    return (f"another run holds the lock {name}: {lock.holder}{purpose}, taken at {lock.acquired_at}, expiring at "
            f"{lock.expires_at}. Wait for it to finish, or, if that run is gone, clear the lock: aws ssm "
            f"delete-parameter --name {name} --region {region} (or tap.lambdaopt.run_lock with state=absent and "
            f"force=true)")


def taken_over_message(name: str, lock: run_lock.Lock) -> str:
    purpose = f" ({lock.purpose})" if lock.purpose else ""
    return (f"took over the expired lock {name} of run {lock.holder}{purpose}, taken at {lock.acquired_at} and "
            f"expired at {lock.expires_at}: that run ended without releasing it, most likely killed. What it changed "
            f"is in its journal (rollback.yml -e journal=... rolls it back), even if it wrote no change record")


def acquire(module, ssm) -> dict:
    params = module.params
    if module.check_mode:
        current = run_lock.held(ssm, params["name"])
        if current is not None:
            module.warn(taken_message(params["name"], module.region, current) + " - a dry run goes on regardless")
        return dict(changed=False, acquired=False, held_by_another=current is not None,
                    lock=current.as_dict() if current else None)
    mine = run_lock.Lock.new(params["holder"] or str(uuid.uuid4()), params["ttl_seconds"], params["purpose"],
                             datetime.now(UTC))
    deadline = time.monotonic() + params["wait_seconds"]
    taken_over: list = []
    while True:
        holding = run_lock.try_acquire(ssm, params["name"], mine, taken_over=taken_over)
        if holding is None:
            for expired in taken_over:
                module.warn(taken_over_message(params["name"], expired))
            return dict(changed=True, acquired=True, held_by_another=False, lock=mine.as_dict(),
                        taken_over=taken_over[-1].as_dict() if taken_over else None)
        if time.monotonic() >= deadline:
            module.fail_json(msg=taken_message(params["name"], module.region, holding), acquired=False,
                             held_by_another=True, lock=holding.as_dict())
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def release(module, ssm) -> dict:
    params = module.params
    if module.check_mode:
        current = run_lock.held(ssm, params["name"])
        mine = current is not None and (params["force"] or current.holder == params["holder"])
        return dict(changed=mine, acquired=False, held_by_another=current is not None and not mine,
                    lock=current.as_dict() if current else None)
    released = run_lock.release(ssm, params["name"], params["holder"], params["force"])
    return dict(changed=released is not None, acquired=False, held_by_another=False,
                lock=released.as_dict() if released else None)


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", default=run_lock.DEFAULT_NAME),
        holder=dict(type="str"),
        purpose=dict(type="str", default=""),
        ttl_seconds=dict(type="int", default=7200),
        wait_seconds=dict(type="int", default=0),
        force=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    errors = []
    if params["ttl_seconds"] < 60:
        errors.append("ttl_seconds must be at least 60")
    if params["wait_seconds"] < 0:
        errors.append("wait_seconds must not be negative")
    if params["state"] == "absent" and not params["holder"] and not params["force"]:
        errors.append("state=absent needs the holder that took the lock, or force=true")
    if not params["name"].startswith("/"):
        errors.append(f"name {params['name']!r} must be an SSM parameter path starting with /")
    if errors:
        module.fail_json(msg="; ".join(errors))
    ssm = aws_client(module, "ssm")
    try:
        result = acquire(module, ssm) if params["state"] == "present" else release(module, ssm)
    except run_lock.LockError as error:
        module.fail_json(msg=str(error))
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg=f"Could not {'take' if params['state'] == 'present' else 'release'} the "
                                        f"lock {params['name']}")
    finish(module, result, f"could not {'take' if params['state'] == 'present' else 'release'} the lock")


if __name__ == "__main__":
    main()
