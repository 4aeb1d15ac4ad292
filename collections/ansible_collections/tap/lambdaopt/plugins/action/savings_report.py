# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tap.lambdaopt.savings_report runs on the controller: it reads the price table there, computes from
the results earlier tasks registered, and writes the report files there. It makes no AWS call."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import prices, report, report_render, savings
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import TASKS, read_run

ARGUMENT_SPEC = dict(
    usage=dict(type="list", elements="dict", required=True),
    **{task: dict(type="dict") for task in TASKS},
    price_file=dict(type="path"),
    price_region=dict(type="str"),
    dest=dict(type="path"),
    cpu_bound_share=dict(type="float", default=0.5),
    xray_reservoir_per_second=dict(type="float", default=1),
    xray_fixed_rate=dict(type="float", default=0.05),
    secret_reads_per_cold_start=dict(type="float", default=1),
    # Accepted so that module_defaults for the tap.lambdaopt group (region, profile, ...) apply here too.
    **aws_argument_spec(),
)


def assumptions_of(params: dict) -> savings.Assumptions:
    errors = []
    for name in ("cpu_bound_share", "xray_fixed_rate"):
        if not 0 <= params[name] <= 1:
            errors.append(f"{name} must be between 0 and 1, got {params[name]:g}")
    for name in ("xray_reservoir_per_second", "secret_reads_per_cold_start"):
        if params[name] < 0:
            errors.append(f"{name} must be 0 or more, got {params[name]:g}")
    if errors:
        raise AnsibleActionFail("; ".join(errors))
    return savings.Assumptions(
        cpu_bound_share=Decimal(str(params["cpu_bound_share"])),
        xray_reservoir_per_second=Decimal(str(params["xray_reservoir_per_second"])),
        xray_fixed_rate=Decimal(str(params["xray_fixed_rate"])),
        secret_reads_per_cold_start=Decimal(str(params["secret_reads_per_cold_start"])),
    )


def write_files(data: dict, directory: str) -> dict:
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stem = report.file_stem(data)
        files = {"json": folder / f"{stem}.json", "markdown": folder / f"{stem}.md", "html": folder / f"{stem}.html"}
        files["json"].write_text(report.to_json(data))
        files["markdown"].write_text(report_render.markdown(data))
        files["html"].write_text(report_render.html(data))
    except OSError as error:
        raise AnsibleActionFail(f"cannot write the report to {directory}: {error.strerror}") from None
    return {kind: str(path) for kind, path in files.items()}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dry_run = bool(self._task.check_mode)
        assumptions = assumptions_of(params)
        usage = params["usage"]
        malformed = [index for index, entry in enumerate(usage)
                     if not entry.get("function_name") or not (entry.get("configuration") or {}).get("memory_size")]
        if malformed:
            raise AnsibleActionFail("usage must be the functions lambda_usage_info returned; entries "
                                    f"{malformed} have no function_name or configuration.memory_size")
        try:
            account_id, region = report.account_and_region(usage, params["region"])
            price_table = prices.load(region, params["price_file"], params["price_region"])
            try:
                run = read_run(usage, {task: params[task] for task in TASKS}, dry_run)
            except (KeyError, TypeError, AttributeError) as error:
                raise AnsibleActionFail(f"{', '.join(task for task in TASKS if params[task])}: pass the results the "
                                        f"collection's modules registered, as they are (no {error} found)") from None
            data = report.assemble(usage, run, price_table, assumptions, account_id, region)
        except (report.FleetMismatch, prices.PriceTableError) as error:
            raise AnsibleActionFail(str(error)) from None
        result.update(changed=False, report=data, summary=summary_of(data))
        if not any(run.tasks.values()):
            result["warnings"] = ["none of the optimizing tasks' results were given: the report shows the fleet's "
                                  "cost as it is, with no savings"]
        if params["dest"]:
            result["files"] = write_files(data, params["dest"])
        return result


def summary_of(data: dict) -> dict:
    """The headline figures, small enough for set_stats and AWX job artifacts."""
    totals = data["totals"]
    return {
        "mode": data["mode"],
        "headline": report_render.headline(data),
        "account_id": data["account_id"],
        "region": data["region"],
        "currency": data["currency"],
        "monthly_cost_before": totals["before"]["expected"],
        "monthly_cost_after": totals["after"]["expected"],
        "net_monthly_savings": totals["net_monthly_savings"],
        "net_annual_savings": totals["annual_savings"]["expected"],
        "hardening_monthly_cost": totals["by_component"]["hardening"]["after"]["expected"],
        "functions": totals["functions"],
        "functions_without_data": totals["functions_without_data"],
        "changes": totals["changes"],
        "refused": totals["refused"],
        "failed": totals["failed"],
        "warnings": data.get("warnings", []),
    }
