# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change record of a run: every value the run changed, before and after, and the module that
changed it, so that tap.lambdaopt.lambda_rollback can put each one back. The record carries the digest
of its content (record_trust.digest), which rollback checks before it acts on anything."""

from __future__ import annotations

from datetime import UTC, datetime

from ansible_collections.tap.lambdaopt.plugins.module_utils.record_trust import KIND, SCHEMA_VERSION, with_digest
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import TASKS, left_as_after, ran, took_effect

POLICY_KEYS = ("role_name", "policy_name", "before", "after")
MODULES = {
    "rightsize": "tap.lambdaopt.lambda_rightsize",
    "log_retention": "tap.lambdaopt.log_retention",
    "tracing": "tap.lambdaopt.lambda_tracing",
    "dead_letter_queues": "tap.lambdaopt.lambda_dlq",
    "alarms": "tap.lambdaopt.lambda_alarms",
    "secrets": "tap.lambdaopt.lambda_secrets",
    "provisioned_concurrency": "tap.lambdaopt.lambda_provisioned_concurrency",
    "tables": "tap.lambdaopt.dynamodb_capacity",
}


class Recorder:
    def __init__(self, results: dict, dry_run: bool):
        self.results = {task: results.get(task) for task in TASKS if ran(results.get(task))}
        self.dry_run = dry_run
        self.record = {"changes": [], "role_policies": [], "alarms": [], "resources": [], "tables": [], "refused": [],
                       "failed": []}

    def entries(self, task: str, key: str = "functions"):
        for entry in (self.results.get(task) or {}).get(key) or []:
            if entry.get("status") == "failed":
                self.record["failed"].append({"function_name": entry.get("function_name") or entry.get("table_name"),
                                              "module": MODULES[task], "error": entry.get("error")})
            # A failed entry part of whose change was made counts, with the `after` it was read back to hold.
            yield entry, left_as_after(entry, self.dry_run)

    def refusals(self, task: str, name: str, entry: dict, **extra) -> None:
        self.record["refused"] += [{"function_name": name, "field": refusal["field"],
                                    "requested": refusal.get("requested"), "reason": refusal["reason"],
                                    "risk": refusal.get("risk"), "module": MODULES[task], **extra}
                                   for refusal in entry.get("refused") or []]

    def change(self, task: str, name: str, field: str, before, after, reason: str | None = None, **extra) -> None:
        self.record["changes"].append({"function_name": name, "field": field, "before": before, "after": after,
                                       "module": MODULES[task], "reason": reason, **extra})

    def rightsize(self) -> None:
        for entry, applied in self.entries("rightsize"):
            if applied:
                for change in entry.get("changes") or []:
                    # Of a function that failed part-way, only what Lambda accepted, as it was read back.
                    after = entry["after"][change["field"]] if "accepted" in entry else change["after"]
                    if change["field"] in entry.get("accepted", [change["field"]]) and change["before"] != after:
                        self.change("rightsize", entry["function_name"], change["field"], change["before"],
                                    after, change.get("reason"))
            self.refusals("rightsize", entry["function_name"], entry)

    def provisioned_concurrency(self) -> None:
        for entry, applied in self.entries("provisioned_concurrency", "aliases"):
            before = entry["before"]["provisioned_concurrency"]
            after = entry["after"]["provisioned_concurrency"]
            if applied and before != after:
                reason = next((change.get("reason") for change in entry.get("changes") or []), None)
                self.change("provisioned_concurrency", entry["function_name"], "provisioned_concurrency", before,
                            after, reason, qualifier=entry["qualifier"])
            self.refusals("provisioned_concurrency", entry["function_name"], entry, qualifier=entry["qualifier"])

    def tables(self) -> None:
        for entry, applied in self.entries("tables", "tables"):
            if applied and entry["before"] != entry["after"]:
                reasons = "; ".join(change["reason"] for change in entry.get("changes") or [] if change.get("reason"))
                self.record["tables"].append({"table_name": entry["table_name"], "before": entry["before"],
                                              "after": entry["after"], "module": MODULES["tables"],
                                              "reason": reasons or None})

    def retention(self) -> None:
        for entry, applied in self.entries("log_retention", "log_groups"):
            before, after = entry["before"]["retention_in_days"], entry["after"]["retention_in_days"]
            if applied and (before != after or not entry["before"].get("exists", True)):
                self.change("log_retention", entry["function_name"], "log_retention_days", before, after,
                            entry.get("reason"), log_group_name=entry["log_group_name"],
                            log_group_existed=entry["before"].get("exists", True))
            if entry.get("status") == "refused":
                self.record["refused"].append({"function_name": entry["function_name"], "field": "log_retention_days",
                                               "requested": None, "reason": entry.get("reason"),
                                               "risk": "permanent loss of older log events",
                                               "module": MODULES["log_retention"]})

    def function_field(self, task: str, field: str, source: str) -> set:
        """Record one configuration field a module changed; the roles of the functions it changed."""
        roles = set()
        for entry, applied in self.entries(task):
            if not applied:
                continue
            roles.add(entry.get("role_name"))
            before, after = entry["before"].get(source), entry["after"].get(source)
            if before != after:
                self.change(task, entry["function_name"], field, before, after)
        return roles

    def role_policies(self, task: str, roles: set) -> None:
        """The policies of the roles whose functions changed, and any a real run wrote (it stays written even
        when the functions then failed); a grant that failed left the policy as it was, so it is no change."""
        for policy in (self.results.get(task) or {}).get("role_policies") or []:
            status = policy.get("status")
            if status != "failed" and (status == "changed" or policy["role_name"] in roles):
                self.record["role_policies"].append({**{key: policy[key] for key in POLICY_KEYS},
                                                     "module": MODULES[task]})

    def hardening(self) -> None:
        self.role_policies("tracing", self.function_field("tracing", "tracing_mode", "tracing_mode"))
        self.role_policies("dead_letter_queues",
                           self.function_field("dead_letter_queues", "dead_letter_target", "dead_letter_target"))
        # Only the variables lambda_secrets manages: the function's other variables were never touched.
        self.role_policies("secrets", self.function_field("secrets", "environment", "variables"))
        for alarm in (self.results.get("alarms") or {}).get("alarms") or []:
            status = alarm.get("status") or ""
            if took_effect(status, self.dry_run):
                action = status.removeprefix("planned-")
                self.record["alarms"].append({"alarm_name": alarm["alarm_name"], "function_name":
                                              alarm.get("function_name"), "queue_name": alarm.get("queue_name"),
                                              "change": {"create": "created", "update": "updated",
                                                         "delete": "deleted"}.get(action, action),
                                              "module": MODULES["alarms"]})
        self.resources("dead_letter_queues", "queues", "sqs_queue", "queue_name", "queue_arn")
        self.resources("secrets", "secrets", "secret", "secret_name", "secret_arn")

    def resources(self, task: str, key: str, kind: str, name_key: str, arn_key: str) -> None:
        """Queues and secrets the run created or changed (a secret's value is never recorded)."""
        for resource in (self.results.get(task) or {}).get(key) or []:
            status = resource.get("status") or ""
            if took_effect(status, self.dry_run):
                change = {"create": "created", "update": "updated"}.get(resource.get("action"), status)
                self.record["resources"].append({"kind": kind, "name": resource[name_key],
                                                 "arn": resource.get(arn_key), "change": change,
                                                 "module": MODULES[task]})


def build(results: dict, dry_run: bool, account_id: str | None, region: str, now: datetime | None = None) -> dict:
    recorder = Recorder(results, dry_run)
    recorder.rightsize()
    recorder.provisioned_concurrency()
    recorder.retention()
    recorder.hardening()
    recorder.tables()
    return with_digest({
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "mode": "dry_run" if dry_run else "applied",
        "recorded_at": (now or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        "account_id": account_id,
        "region": region,
        **recorder.record,
    })


def file_name(record: dict) -> str:
    recorded = datetime.fromisoformat(record["recorded_at"]).strftime("%Y%m%dT%H%M%SZ")
    return f"lambdaopt-changes-{record['account_id'] or 'unknown-account'}-{record['region']}-{recorded}.json"
