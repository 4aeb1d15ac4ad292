#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: lambda_rollback
short_description: Put back what an optimization run changed, from its change record
version_added: 0.1.0
description:
  - Restores every "before" value of a change record written by M(tap.lambdaopt.change_record), in the
    account-region it was written for - memory, timeout, reserved concurrency, provisioned concurrency of each
    alias, tracing, dead-letter target, the environment variables the run managed, log retention, the role
    policies the run added or changed, DynamoDB tables' billing mode and capacity - and deletes the alarms the
    run created.
  - An alias M(tap.lambdaopt.lambda_canary) moved goes back to the version and routing it held before the run's
    first move (C(UpdateAlias) with the C(RevisionId) just read), only where it still holds the run's last; where it
    has provisioned concurrency, the task waits until that is C(READY) again. A version the canary published is then
    deleted, unless an alias still serves it.
  - Putting a table back on demand counts against DynamoDB's limit of four switches to on demand a day; where
    DynamoDB refuses it, the item fails with its answer and the others go on.
  - A value is put back only where it is still what the run left. A value someone changed since the record is
    drift - reported and kept, unless O(force) is set. A value already back as it was is left alone, so running
    the rollback twice changes nothing the second time.
  - A role policy may be shared by several fleets and by people; the record holds the run's own statements of it
    (named by Sid), and only those are compared and put back. Statements another suffix's run or a person added
    since stay as they are; a policy left with no statement is deleted.
  - Queues and secrets the run created are kept and reported (a queue may hold failed events, a secret's value
    would be lost), as are alarms the run updated or deleted, whose earlier definition the record does not hold.
  - Reservations and provisioned concurrency put back draw on the account's unreserved pool, which every function
    without a reservation shares, the fleet's and everyone else's. A restore that takes from it - a reservation put
    back higher than it is or added back, an allocation raised back on an alias of a function without a reservation
    - is planned, as M(tap.lambdaopt.lambda_rightsize) plans reservations, against the pool read once
    (C(GetAccountSettings)), after the restores that give back to it, smallest first; one that would leave the pool
    below what it must keep - O(unreserved_floor), or the account-wide peak of C(UnreservedConcurrentExecutions)
    over O(lookback_days) times O(concurrency_headroom) if that is more - is not made. Its item is C(refused), with
    the budget's reason, with O(force) or without (O(force) overrides a change made since the run, never the
    account's budget). A decrease always goes.
  - The decreases of reservations and allocations are applied first, then the account's settings are read again
    and each raise that still fits is applied (a reservation before the allocations it covers); one that no longer
    fits, as other teams took from the pool meanwhile, is refused in the same way and left as it is.
  - Functions are changed before role policies are, so that no function is left with a setting its role no
    longer allows. Check mode returns the plan, budget refusals included. One item failing does not stop the
    others; the task fails at the end and names it.
  - Before any AWS call, the record is checked, and refused as a whole when anything in it is wrong, naming every
    item at fault and why; nothing is changed then, in check mode or not, with O(force) or without. One item
    asking for what the collection never writes means the file is not as the collection wrote it, so none of its
    other items is trusted either. The checks follow.
  - B(Digest) - the record's C(digest) must be the SHA-256 of its content (see C(data/change_record.schema.json)),
    so a record edited since it was written, even in a single memory value, is refused. O(force) does not
    override this. Records of schema version 1 (tap.lambdaopt 0.1) carry no digest and are refused;
    roll them back with the version that wrote them, or by hand.
  - B(Shape) - every field rollback reads, with the schema's types and values (memory and timeout within Lambda's
    limits, retention days CloudWatch Logs accepts, names rather than ARNs for functions, roles and tables).
  - B(Only what the collection manages) - role policies only of the names the collection writes
    (C(lambdaopt-xray-write), C(lambdaopt-dlq-send), C(lambdaopt-secrets-read)), whose statements, before and
    after, allow only the actions it grants (X-Ray trace writes, C(sqs:SendMessage), C(kms:Decrypt) and
    C(kms:GenerateDataKey), C(secretsmanager:GetSecretValue)) on single resources (or a suffix's per-function
    dead-letter queues, C(*-<suffix>-dlq)); alarms only of its
    C(lambdaopt-) names; dead-letter targets, queues, secrets, KMS keys and the secret ARNs in environment
    variables only in the record's own account and region.
  - An alarm the record says the run created is deleted only when its description carries the collection's
    marker; when one of that name exists without it, the task fails before anything is changed, naming it.
  - A log group's retention is put back only while the record's function logs to that group (a function that is
    gone, to its default group); otherwise the item is C(kept) with the reason, with O(force) or without.
  - Instead of a record, O(journal) takes the write-ahead journal of a run (optimize.yml writes one per run and
    host, also when the run is killed before its record is written). Every line must follow the chain of digests
    from the first, or the journal is refused as a whole, as an edited record is; its changes then pass the same
    checks as a record's. A journal holds what a record does - function settings, the environment variables the
    run managed (never the others), aliases' provisioned concurrency, log retention, role policies, alarms,
    tables, queues and secrets - each announced before its call. A change announced but not seen accepted (the run
    was stopped during the call) is treated like any other - put back only where the resource holds its "after";
    an alarm announced as created is deleted only where it exists. An alarm update or deletion not seen accepted
    is left out; a queue or secret whose creation was not seen accepted is reported C(kept) with field
    C(interrupted), since it may exist.
options:
  record:
    description:
      - The change record, e.g. C("{{ lookup('ansible.builtin.file', path) | from_json }}").
      - One of O(record) and O(journal) is required.
    type: dict
  journal:
    description:
      - The text of a run's journal, as the C(ansible.builtin.file) lookup of its path reads it with C(rstrip=false)
        (a journal's last line is whole only with its newline).
    type: str
    version_added: 0.2.0
  suffix:
    description:
      - The suffix of the run (C(dev) for C(-e suffix=dev)). A record or journal naming a function or table whose
        name does not end in C(-<suffix>) is refused, and nothing is changed. rollback.yml passes the suffix a
        journal's file name claims.
    type: str
    version_added: 0.2.0
  force:
    description:
      - Put back values that were changed since the record as well.
      - It never lets a refused record through, nor a reservation or allocation the account's concurrency budget
        has no room for.
    type: bool
    default: false
  concurrency_headroom:
    description:
      - What the account's unreserved pool keeps after a reservation or allocation put back is this multiple of the
        account-wide peak of C(UnreservedConcurrentExecutions) in the window, as for
        M(tap.lambdaopt.lambda_rightsize).
    type: float
    default: 1.2
    version_added: 0.2.0
  unreserved_floor:
    description: Unreserved concurrency the account must keep at least (AWS requires 100; lower on small accounts).
    type: int
    default: 100
    version_added: 0.2.0
  lookback_days:
    description: The window, in days, whose account-wide unreserved peak the pool must keep room for.
    type: int
    default: 14
    version_added: 0.2.0
extends_documentation_fragment:
  - tap.lambdaopt.updates
  - tap.lambdaopt.function_updates
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Roll back a run
  tap.lambdaopt.lambda_rollback:
    record: "{{ lookup('ansible.builtin.file', 'records/lambdaopt-changes-123456789012-us-east-1-20261123T120000Z.json')
             | from_json }}"
"""

RETURN = r"""
items:
  description: Each recorded value, what it is now, and what the rollback did with it.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: C(function), C(alias), C(log_group), C(role_policy), C(alarm), C(table), C(sqs_queue), C(secret)
        or C(lambda_version).
      type: str
    name:
      description: The function, C(function:alias), C(function:version), log group, role, alarm, table, queue or
        secret.
      type: str
    field:
      description: The setting (for a role policy, the policy's name; for an alias a canary moved, C(routing); for a
        version, C(exists)).
      type: str
    before:
      description: The recorded value before the run.
      type: raw
    after:
      description: The recorded value after the run.
      type: raw
    current:
      description: The value now, before the rollback.
      type: raw
    status:
      description: C(restored), C(unchanged) (already as before), C(drifted) (changed since the record, kept),
        C(forced) (changed since the record, restored by O(force)), C(kept), C(refused) (a reservation or allocation
        the account's concurrency budget has no room for, left as it is), C(missing), C(failed), or C(planned) in
        check mode.
      type: str
      sample: restored
    reason:
      description: Why an item is C(kept) or C(refused).
      type: str
      returned: when kept or refused
      sample: "putting back the reservation of 400 would take 350 from the account's unreserved pool and leave 600
        unreserved, below the 846 that functions without a reservation need (their account-wide peak of 705 x
        headroom 1.2): the rest of the account keeps its budget, with force or without"
failed_items:
  description: Each item that could not be restored, as C(<kind> <name> <field>).
  returned: always
  type: list
  elements: str
summary:
  description: How many items ended in each status.
  returned: always
  type: dict
  sample: {"restored": 31, "drifted": 1, "kept": 1}
concurrency_budget:
  description:
    - What the account's unreserved pool must keep after the reservations and allocations put back
      (C(keep_unreserved)) - the account's floor, or the account-wide peak of C(UnreservedConcurrentExecutions) in the
      window times O(concurrency_headroom) if that is more - and where it came from, with the C(reason) refusals
      quote, as M(tap.lambdaopt.lambda_rightsize) returns it. When that peak cannot be read, the account-wide
      C(ConcurrentExecutions) peak stands in for it; when neither can, C(increases_refused) says why, and nothing
      put back takes from the pool.
    - Null when nothing the rollback puts back raises a reservation or an allocation.
  returned: always
  type: dict
  version_added: 0.2.0
  sample: {"keep_unreserved": 846, "account_floor": 100, "unreserved_peak": 705, "headroom": 1.2,
           "unreserved_peak_unknown": null, "stand_in_peak": null, "increases_refused": null,
           "reason": "the 846 that functions without a reservation need (their account-wide peak of 705 x headroom
           1.2)", "source": "AWS/Lambda UnreservedConcurrentExecutions, account-wide (GetMetricData);
             ConcurrentExecutions, account-wide, in its stead when it cannot be read"}
diff:
  description:
    - Each value put back (or to be), by C(kind name field) as in RV(failed_items), from what it is now (C(before))
      to what the record holds it was before the run (C(after)).
  returned: when diff mode is on
  type: dict
  sample: {"before": {"function transform-dev memory_size": 128}, "after": {"function transform-dev memory_size": 3008}}
"""

from collections import Counter

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.tap.lambdaopt.plugins.module_utils import alarms, journal, policy_merge, record_trust, roles
from ansible_collections.tap.lambdaopt.plugins.module_utils import rollback as plan
from ansible_collections.tap.lambdaopt.plugins.module_utils._dynamodb.api import table_settings, update_throughput
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda import canary_api, log_groups
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.api import (
    apply_all,
    delete_version,
    undecryptable_environment,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.concurrency import read_pool, unreserved_now
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.discovery import details, discover
from ansible_collections.tap.lambdaopt.plugins.module_utils._lambda.plan import ConcurrencyPool
from ansible_collections.tap.lambdaopt.plugins.module_utils._provisioned.api import (
    allocations,
    apply_allocation,
    wait_until_ready,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.common import (
    UPDATE_ARGUMENT_SPEC,
    aws_client,
    suffix_errors,
    update_option_errors,
    waiter_client,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.metric_data import lookback_errors
from ansible_collections.tap.lambdaopt.plugins.module_utils.redaction import redact_environment
from ansible_collections.tap.lambdaopt.plugins.module_utils.results import (
    FAILED,
    FORCED,
    PLANNED,
    REFUSED,
    RESTORED,
    bulk_result,
    finish,
)
from ansible_collections.tap.lambdaopt.plugins.module_utils.throttling import RateLimiter

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

# The status of an item whose value was put back, by its decision; every other decision is its status as it is.
ACTED = {plan.RESTORE: RESTORED, plan.FORCE: FORCED}
# How long a restored provisioned concurrency allocation (or an alias's, once it serves its old version again) may
# take to become READY.
WAIT_SECONDS = 900


def routing_of(alias: dict) -> dict:
    """An alias's version and routing, as a change record holds them."""
    return {"function_version": alias["FunctionVersion"],
            "additional_version_weights": (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}}


class Rollback:
    def __init__(self, module: AnsibleAWSModule, record: dict):
        self.module = module
        self.record = record
        self.force = module.params["force"]
        self.lambda_client = aws_client(module, "lambda")
        self.logs = aws_client(module, "logs")
        self.iam = aws_client(module, "iam")
        self.cloudwatch = aws_client(module, "cloudwatch")
        self.dynamodb = aws_client(module, "dynamodb")
        # For restoring provisioned concurrency: one rate limit across aliases, and a plain client for its waiter.
        self.limiter = RateLimiter(module.params["requests_per_second"])
        self.waiter_client = waiter_client(module, "lambda")
        # {(function, alias): RevisionId} as read: an alias is put back only if nobody moved it since.
        self.alias_revisions: dict = {}
        # What the account's unreserved pool must keep, once a restore that raises concurrency is planned, and
        # {function: plan.FunctionConcurrency} as read before the plan: the raises are checked again from it.
        self.budget = None
        self.held: dict = {}

    def current_functions(self) -> dict:
        """The functions whose settings or log groups the record changed, as they are now; `environment_error` says
        why a function's variables cannot be known (Lambda cannot decrypt them)."""
        names = sorted({change["function_name"] for change in self.record["changes"]
                        if change["field"] in plan.FUNCTION_FIELDS or change["field"] == "log_retention_days"})
        if not names:
            return {}
        functions, _missing = discover(self.lambda_client, {"functions": names}, with_environment=True)
        current = {}
        for function in functions:
            error = function.get("environment_error")
            current[function["function_name"]] = {
                **function["configuration"], "environment": function["environment"],
                "environment_error": undecryptable_environment(error) if error else None}
        return current

    def current_retention(self) -> dict:
        """{log group: retention days} of the groups the record changed, whatever their names (a function's
        LoggingConfig may name any group)."""
        names = {change["log_group_name"] for change in self.record["changes"]
                 if change["field"] == "log_retention_days"}
        if not names:
            return {}
        groups = log_groups.describe_groups(self.logs, names)
        return {name: group.get("retentionInDays") for name, group in groups.items()}

    def current_policies(self) -> dict:
        return {(policy["role_name"], policy["policy_name"]):
                roles.inline_policy(self.iam, policy["role_name"], policy["policy_name"])
                for policy in self.record["role_policies"]}

    def existing_alarms(self) -> set:
        """The alarms the run created that still exist; fails, before anything is changed, when one of their
        names belongs to an alarm the collection does not manage (someone else's, or one made since)."""
        names = [alarm["alarm_name"] for alarm in self.record["alarms"] if alarm["change"] == "created"]
        found, foreign = set(), []
        for start in range(0, len(names), 100):
            response = self.cloudwatch.describe_alarms(AlarmNames=names[start:start + 100])
            for alarm in response["MetricAlarms"]:
                if alarms.MARKER in (alarm.get("AlarmDescription") or ""):
                    found.add(alarm["AlarmName"])
                else:
                    foreign.append(alarm["AlarmName"])
        if foreign:
            self.module.fail_json(msg=f"the record is refused and nothing was changed: alarm {', '.join(foreign)}: "
                                      f"its description lacks {alarms.MARKER!r}; the collection deletes only the "
                                      "alarms it manages")
        return found

    def current_allocations(self) -> dict:
        """{(function, qualifier): provisioned concurrency now, 0 for none}; functions that are gone are left out."""
        found = {}
        for change in self.record["changes"]:
            if change["field"] != "provisioned_concurrency":
                continue
            key = (change["function_name"], change["qualifier"])
            try:
                found[key] = self.lambda_client.get_provisioned_concurrency_config(
                    FunctionName=key[0], Qualifier=key[1])["RequestedProvisionedConcurrentExecutions"]
            except self.lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException:
                found[key] = 0
            except self.lambda_client.exceptions.ResourceNotFoundException:
                pass
        return found

    def current_tables(self) -> dict:
        found = {}
        for table in self.record.get("tables", []):
            try:
                found[table["table_name"]] = table_settings(self.dynamodb.describe_table(
                    TableName=table["table_name"])["Table"])
            except self.dynamodb.exceptions.ResourceNotFoundException:
                pass
        return found

    def current_aliases(self) -> dict:
        """{(function, alias): its function_version and additional_version_weights now}; aliases that are gone are
        left out."""
        found = {}
        for alias in self.record.get("aliases", []):
            key = (alias["function_name"], alias["alias_name"])
            try:
                answer = canary_api.read_alias(self.lambda_client, self.limiter, *key)
            except self.lambda_client.exceptions.ResourceNotFoundException:
                continue
            self.alias_revisions[key] = answer["RevisionId"]
            found[key] = routing_of(answer)
        return found

    def current_versions(self) -> tuple[dict, dict]:
        """({function: its published version numbers}, {function: {alias: routing}}) of the functions the canary
        published a version of; functions that are gone are left out."""
        names = sorted({resource["name"] for resource in self.record["resources"]
                        if resource["kind"] == plan.VERSION and resource["change"] == "created"})
        existing, routings = {}, {}
        for name in names:
            try:
                existing[name] = canary_api.published_versions(self.lambda_client, self.limiter, name)
                routings[name] = {alias["Name"]: routing_of(alias)
                                  for alias in canary_api.aliases_of(self.lambda_client, self.limiter, name)}
            except self.lambda_client.exceptions.ResourceNotFoundException:
                existing.pop(name, None)
        return existing, routings

    def concurrency_held(self, candidates: list, functions_now: dict) -> dict:
        """{function: plan.FunctionConcurrency now} of the functions whose reservation or allocations the record
        changed: the reservation as read with the other settings (GetFunction where it was not), and every alias's
        and version's allocation, those the record does not name too. A function deleted since it was read is left
        out."""
        names = sorted({plan.owner(planned) for planned in candidates})
        unread = [name for name in names if name not in functions_now]
        reserved = {name: function["reserved_concurrency"] for name, function in functions_now.items()}
        if unread:
            reserved.update({name: detail["reserved_concurrency"] for name, detail in
                             details(self.lambda_client, unread, self.module.params["max_workers"]).items()})
        held = {}
        for name in names:
            if name not in reserved:
                continue
            try:
                provisioned = allocations(self.lambda_client, self.limiter, name)
            except self.lambda_client.exceptions.ResourceNotFoundException:
                continue
            held[name] = plan.FunctionConcurrency(reserved[name], {allocation["qualifier"]: allocation["requested"]
                                                                   for allocation in provisioned})
        return held

    def plan_budget(self, items: list, work: dict, functions_now: dict) -> None:
        """Plan the reservations and allocations to be put back against the account's unreserved pool, read once,
        when one of them raises what is reserved or provisioned (decreases alone always go, and read nothing). A
        reservation the budget refuses leaves the function's update; a function deleted since it was read is
        missing, all of its items, and leaves it too."""
        candidates = plan.budget_candidates(items)
        if not any(plan.restore_raises(planned) for planned in candidates):
            return
        held = self.concurrency_held(candidates, functions_now)
        gone = {plan.owner(planned) for planned in candidates} - set(held)
        plan.leave_gone(items, gone)
        for name in gone:
            work.pop(name, None)
        candidates = plan.budget_candidates(items)
        if not any(plan.restore_raises(planned) for planned in candidates):
            return
        self.held = dict(held)
        pool, self.budget = read_pool(self.lambda_client, self.cloudwatch, self.module.params["unreserved_floor"],
                                      self.module.params["concurrency_headroom"], self.module.params["lookback_days"])
        plan.plan_budget(candidates, held, pool)
        self.leave_refused(candidates, work)

    @staticmethod
    def leave_refused(items: list, work: dict) -> None:
        """Take the refused reservations out of their functions' updates; the other fields still go."""
        for planned in items:
            name = planned.entry["name"]
            if planned.decision == REFUSED and planned.entry["field"] == plan.RESERVED and name in work:
                work[name].pop(plan.RESERVED, None)
                if not work[name]:
                    del work[name]

    def refit_raises(self, raising: list, lowered: list, work: dict) -> None:
        """Before the first raise, the account's unreserved pool as it is now, after the decreases (`lowered`, the
        reservations and allocations put back so far: one that failed holds what it held): each raise that no longer
        leaves it its budget is refused, and not made."""
        if self.budget is None or not any(planned.decision in ACTED for planned in raising):
            return
        held = plan.restored_holdings(self.held, lowered)
        pool = ConcurrencyPool(unreserved_now(self.lambda_client), self.budget.floor, self.budget.reason)
        self.leave_refused(plan.refit(raising, held, pool), work)

    def restore_routing(self, entry: dict) -> None:
        """The alias back on its recorded version and routing, then, where it has provisioned concurrency, READY
        on the version it serves again."""
        function_name, alias = entry["name"].split(":", 1)
        canary_api.route(self.lambda_client, self.limiter, function_name, alias, entry["before"]["function_version"],
                         entry["before"]["additional_version_weights"], self.alias_revisions[(function_name, alias)])
        if canary_api.allocation(self.lambda_client, self.limiter, function_name, alias) is not None:
            wait_until_ready(self.waiter_client, function_name, alias, WAIT_SECONDS)

    def delete_version(self, entry: dict) -> None:
        function_name, version = entry["name"].split(":", 1)
        delete_version(self.lambda_client, self.limiter, function_name, version)

    def restore_allocation(self, entry: dict) -> None:
        function_name, qualifier = entry["name"].rsplit(":", 1)
        apply_allocation(self.lambda_client, self.waiter_client, self.limiter, function_name, qualifier,
                         entry["before"], WAIT_SECONDS)

    def restore_table(self, entry: dict) -> None:
        update_throughput(self.dynamodb, entry["name"], entry["before"])

    def check_account(self) -> None:
        """Before anything is read: tables, log groups and roles of the same name may exist in other accounts."""
        account = aws_client(self.module, "sts").get_caller_identity()["Account"]
        if self.record.get("account_id") and account != self.record["account_id"]:
            self.module.fail_json(msg=f"the record is for account {self.record['account_id']}, but these credentials "
                                      f"reach account {account}")

    def run(self) -> dict:
        self.check_account()
        functions_now = self.current_functions()
        function_items, work = plan.plan_functions(self.record["changes"], functions_now, self.force)
        routing_items = plan.plan_aliases(self.record.get("aliases", []), self.current_aliases(), self.force)
        versions_now, routings_now = self.current_versions()
        alias_items = plan.settle_decisions(plan.plan_provisioned(self.record["changes"], self.current_allocations()),
                                            self.force)
        table_items = plan.settle_decisions(plan.plan_tables(self.record.get("tables", []), self.current_tables()),
                                            self.force)
        retention_items = plan.plan_retention(self.record["changes"], self.current_retention(), self.force,
                                              {name: function["log_group"] for name, function in functions_now.items()})
        policy_items = plan.plan_policies(self.record["role_policies"], self.current_policies(), self.force)
        alarm_items = plan.plan_alarms(self.record["alarms"], self.existing_alarms())
        self.plan_budget(function_items + alias_items, work, functions_now)
        items = function_items + routing_items + alias_items + retention_items + policy_items + alarm_items + \
            table_items + plan.plan_resources(self.record["resources"])
        if self.module.check_mode:
            items += plan.plan_versions(self.record["resources"], versions_now, routings_now, routing_items)
            for item in items:
                item.entry["status"] = PLANNED if item.decision in ACTED else item.decision
        else:
            # Decreases first, so that what they give back (to the pool, or within a function's reservation) is
            # there for the raises; a reservation raised goes before the allocations it covers.
            raised_reservation_owners = {
                item.entry["name"] for item in function_items
                if item.entry["field"] == plan.RESERVED and item.decision in ACTED and plan.restore_raises(item)}
            raised_allocations = [item for item in alias_items if item.decision in ACTED and plan.restore_raises(item)]
            for item in alias_items:
                if not any(item is raising for raising in raised_allocations):
                    self.settle(item, self.attempt(item, self.restore_allocation))
            # Functions before role policies: tracing and dead-letter targets go before the permissions they need.
            errors = self.restore_functions({name: changes for name, changes in work.items()
                                             if name not in raised_reservation_owners}, functions_now)
            for item in routing_items:
                self.settle(item, self.attempt(item, self.restore_routing))
            # A canary's version goes only once the aliases are back, and only where none of them serves it then.
            version_items = plan.plan_versions(self.record["resources"], versions_now, routings_now, routing_items)
            items += version_items
            for item in version_items:
                self.settle(item, self.attempt(item, self.delete_version))
            lowered = [item for item in plan.budget_candidates(function_items)
                       if item.entry["name"] not in raised_reservation_owners
                       and errors.get(item.entry["name"]) is None]
            lowered += [item for item in alias_items if item.entry.get("status") in (RESTORED, FORCED)]
            self.refit_raises([item for item in function_items if item.entry["name"] in raised_reservation_owners]
                              + raised_allocations, lowered, work)
            errors.update(self.restore_functions({name: work[name] for name in sorted(raised_reservation_owners)
                                                  if name in work}, functions_now))
            for item in function_items:
                self.settle(item, errors.get(item.entry["name"]))
            for group, restore in ((raised_allocations, self.restore_allocation), (table_items, self.restore_table),
                                   (retention_items, self.restore_retention), (policy_items, self.restore_policy),
                                   (alarm_items, self.delete_alarm)):
                for item in group:
                    self.settle(item, self.attempt(item, restore))
            for item in items:
                item.entry.setdefault("status", item.decision)  # kept, missing: nothing was attempted
        entries = [item.entry for item in items]
        # Under --diff, each value put back goes from what it is now to what the record holds it was.
        return bulk_result(self.module, "items", entries, (),
                           lambda entry: f"{entry['kind']} {entry['name']} {entry['field']}",
                           diff_of=lambda entry: (entry["current"], entry["before"]),
                           summary=dict(Counter(entry["status"] for entry in entries)),
                           concurrency_budget=self.budget.as_dict() if self.budget else None)

    def restore_functions(self, work: dict, functions_now: dict) -> dict:
        """Put back {function: {field: value}}; {function: error or None}."""
        if not work:
            return {}
        planned_from = {name: {field: functions_now[name][field] for field in changes}
                        for name, changes in work.items()}
        # A function whose recorded update then failed is put back too: that is what resolves the failure.
        return apply_all(self.lambda_client, work, planned_from, self.module.params["requests_per_second"],
                         self.module.params["max_workers"], after_failed_update=True)

    @staticmethod
    def attempt(item: plan.PlanItem, restore):
        if item.decision not in ACTED:
            return None
        try:
            restore(item.entry)
        except (BotoCoreError, ClientError) as error:
            return error
        return None

    @staticmethod
    def settle(item: plan.PlanItem, error) -> None:
        if item.decision in ACTED and error is not None:
            # An environment Lambda refuses (over its 4 KB) is echoed in the error, every variable's value with it.
            item.entry.update(status=FAILED, error=redact_environment(str(error)))
        else:
            item.entry["status"] = ACTED.get(item.decision, item.decision)

    def delete_alarm(self, entry: dict) -> None:
        self.cloudwatch.delete_alarms(AlarmNames=[entry["name"]])

    def restore_retention(self, entry: dict) -> None:
        if entry["before"] is None:
            self.logs.delete_retention_policy(logGroupName=entry["name"])
        else:
            self.logs.put_retention_policy(logGroupName=entry["name"], retentionInDays=entry["before"])

    def restore_policy(self, entry: dict) -> None:
        """The run's own statements go back as they were; every other statement of the policy stays as it is now."""
        document = policy_merge.restored(roles.inline_policy(self.iam, entry["name"], entry["field"]),
                                         entry["before"], entry["after"])
        if document is None:
            roles.delete_inline_policy(self.iam, entry["name"], entry["field"])
        else:
            roles.put_inline_policy(self.iam, entry["name"], entry["field"], document)


def budget_option_errors(params: dict) -> list:
    errors = lookback_errors(params["lookback_days"])
    if params["concurrency_headroom"] < 1:
        errors.append(f"concurrency_headroom must be at least 1, got {params['concurrency_headroom']:g}")
    if params["unreserved_floor"] < 0:
        errors.append(f"unreserved_floor is out of range: {params['unreserved_floor']}")
    return errors


def main():
    argument_spec = dict(record=dict(type="dict"), journal=dict(type="str"), force=dict(type="bool", default=False),
                         suffix=dict(type="str"), concurrency_headroom=dict(type="float", default=1.2),
                         unreserved_floor=dict(type="int", default=100), lookback_days=dict(type="int", default=14),
                         **UPDATE_ARGUMENT_SPEC)
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              mutually_exclusive=[("record", "journal")], required_one_of=[("record", "journal")])
    errors = update_option_errors(module.params) + suffix_errors(module.params["suffix"])
    errors += budget_option_errors(module.params)
    record = module.params["record"]
    try:
        if module.params["journal"] is None:
            record_trust.check_record(record)
        else:
            record = journal.as_record(module.params["journal"], module.region)
            if any(record[section] for section in journal.SECTIONS):
                record_trust.check_record(record)  # an empty journal names no account-region, and asks for nothing
    except (record_trust.RecordError, journal.JournalError) as error:
        errors.append(str(error))
    else:
        outside = plan.outside_suffix(record, module.params["suffix"]) if module.params["suffix"] else []
        if outside:
            errors.append(f"the {'journal' if module.params['journal'] is not None else 'record'} is refused and "
                          f"nothing was changed: it is said to be of suffix {module.params['suffix']!r}, but names "
                          f"{', '.join(outside)}")
    if not errors and record.get("region") not in (None, module.region):
        errors.append(f"the record is for region {record['region']}, not {module.region}")
    if errors:
        module.fail_json(msg="; ".join(errors))
    try:
        result = Rollback(module, record).run()
    except (BotoCoreError, ClientError) as error:
        module.fail_json_aws(error, msg="Could not read what the record changed")
    finish(module, result, "could not roll back")


if __name__ == "__main__":
    main()
