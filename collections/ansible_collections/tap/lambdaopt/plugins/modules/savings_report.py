#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: savings_report
short_description: Report what an optimization run saves, in dollars, net of what its hardening costs
version_added: 0.1.0
description:
  - Prices one account-region's fleet a month before and after the run, per function and in total, from the
    usage M(tap.lambdaopt.lambda_usage_info) measured (invocations, average billed duration, the memory it
    was measured at, architecture, errors, cold starts, log bytes ingested) and the results the optimizing
    tasks registered. No traffic figure is assumed.
  - Lambda compute at a new memory size is a range, from I/O-bound code (duration unchanged) to CPU-bound code
    (duration scales with the CPU share), with an expected value in between (O(cpu_bound_share)).
  - Log costs are ingestion, and storage under the old and the new retention, including how a never-expiring
    group grows. A log group several functions share, or one a function's C(LoggingConfig) names instead of its
    own, is priced once, on a line of its own among the shared lines, since its ingestion and stored bytes are the
    whole group's.
  - Provisioned concurrency is priced per alias at the memory of the version it serves, billed every second it is
    allocated, less what the requests it serves save at its lower duration rate. DynamoDB tables are priced by the
    capacity-hour when provisioned and by the request units they consumed when on demand.
  - What the hardening adds is subtracted - alarms per alarm metric, X-Ray traces at the sampled rate, Secrets
    Manager secrets and their reads, dead-letter queue requests - so the net figure is what is claimed.
    Alarms the run deletes count as savings.
  - In check mode the results are plans, and the report gives the projected savings of the plan, labelled as
    a dry run. After a real run it counts only what was applied; a failed change saves nothing.
  - A figure that cannot be computed for lack of data is listed as unknown and left out of the totals, never
    counted as zero. Every line is rounded to the cent, and every total is the sum of its lines.
  - Prices come from one table, C(data/prices.yaml) in this collection, which names its sources and the date
    they were checked. A region the table does not list is an error unless O(price_region) names a fallback,
    which the report then states.
  - Runs on the controller and makes no AWS call. Writing the files is its output and never counts as a change,
    so it reports C(changed=false), in check mode too.
options:
  usage:
    description: The C(functions) returned by M(tap.lambdaopt.lambda_usage_info).
    type: list
    elements: dict
    required: true
  dest:
    description:
      - Directory to write the report to, as C(lambdaopt-savings-<account>-<region>-<UTC time>.json), C(.md) and
        C(.html), with C(-dry-run) at the end of the name in check mode. No run overwrites another's report.
        Created when missing. No files are written when omitted.
    type: path
  price_file:
    description: A price table to use instead of the collection's, in the same format.
    type: path
  price_region:
    description: Region whose prices to use when the table has none for the fleet's region. The report says so.
    type: str
  cpu_bound_share:
    description: Share of the billed time the expected case takes as CPU-bound (0 to 1).
    type: float
    default: 0.5
  xray_reservoir_per_second:
    description: Requests a second X-Ray records before sampling at O(xray_fixed_rate).
    type: float
    default: 1
  xray_fixed_rate:
    description: Share of the requests above the reservoir that X-Ray records.
    type: float
    default: 0.05
  secret_reads_per_cold_start:
    description: Times a function reads each of its secrets per cold start.
    type: float
    default: 1
notes:
  - The region comes from the functions' ARNs; when O(region) is set too, the two must agree.
  - Results of tasks that were skipped may be passed as they are; they count as not run.
extends_documentation_fragment:
  - tap.lambdaopt.run_results
  - amazon.aws.common.modules
  - amazon.aws.region.modules
author:
  - tap.lambdaopt maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Report the savings and publish them as job artifacts
  tap.lambdaopt.savings_report:
    usage: "{{ usage.functions }}"
    rightsize: "{{ rightsize }}"
    log_retention: "{{ retention }}"
    tracing: "{{ tracing }}"
    dead_letter_queues: "{{ dlq }}"
    alarms: "{{ alarms }}"
    dest: "{{ playbook_dir }}/../reports"
  register: savings

- name: Show the savings in AWX
  ansible.builtin.set_stats:
    data:
      lambdaopt_savings: "{{ {inventory_hostname: savings.summary} }}"

- name: Price a fleet in a region the table does not list yet at us-east-1 prices
  tap.lambdaopt.savings_report:
    usage: "{{ usage.functions }}"
    rightsize: "{{ rightsize }}"
    price_region: us-east-1
"""

RETURN = r"""
summary:
  description: The headline figures (expected case unless a range is given), small enough for C(set_stats).
  returned: always
  type: dict
  sample: {"mode": "applied", "headline": "Net savings: $35.75 a month expected ($30.02 to $41.48), $429.00 a year.",
           "account_id": "123456789012", "region": "us-east-1", "currency": "USD",
           "monthly_cost_before": 41.87, "monthly_cost_after": 6.12,
           "net_monthly_savings": {"expected": 35.75, "low": 30.02, "high": 41.48}, "net_annual_savings": 429.0,
           "hardening_monthly_cost": 2.3, "functions": 6, "functions_without_data": [], "changes": 21,
           "refused": 2, "failed": 0}
report:
  description:
    - The whole report, as written to the JSON file; C(data/savings_report.schema.json) in this collection is its
      schema. Money is in USD a month, each figure as C(io_bound), C(expected) and C(cpu_bound).
  returned: always
  type: dict
  contains:
    mode:
      description: C(dry_run) or C(applied).
      type: str
    label:
      description: What the figures are, for people.
      type: str
      sample: "Projected savings of the plan (dry run: nothing was changed)"
    functions:
      description: Per function, its lines of cost before and after, their totals, the changes with their
        reasons, the refused changes with their risk, failures, and what is unknown.
      type: list
      elements: dict
    shared:
      description: Lines that belong to no single function (queue alarms, secrets).
      type: dict
    totals:
      description: The sums of the functions and the shared lines, by component, with annual savings.
      type: dict
    prices:
      description: The price table used, its region (and whether it is a fallback), date and sources.
      type: dict
    assumptions:
      description: What the figures assume where measurements cannot tell.
      type: dict
files:
  description: The report files written.
  returned: when O(dest) is set
  type: dict
  sample: {"json": "reports/lambdaopt-savings-123456789012-us-east-1-20261123T120000Z.json",
           "markdown": "reports/lambdaopt-savings-123456789012-us-east-1-20261123T120000Z.md",
           "html": "reports/lambdaopt-savings-123456789012-us-east-1-20261123T120000Z.html"}
"""
