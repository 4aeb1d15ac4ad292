# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # The registered results of an optimization run's tasks (plugin_utils.run_results.TASKS), which the modules
    # that report on a run read.
    DOCUMENTATION = r"""
options:
  rightsize:
    description: The registered result of M(tap.lambdaopt.lambda_rightsize).
    type: dict
  log_retention:
    description: The registered result of M(tap.lambdaopt.log_retention).
    type: dict
  tracing:
    description: The registered result of M(tap.lambdaopt.lambda_tracing).
    type: dict
  dead_letter_queues:
    description: The registered result of M(tap.lambdaopt.lambda_dlq).
    type: dict
  alarms:
    description: The registered result of M(tap.lambdaopt.lambda_alarms).
    type: dict
  secrets:
    description: The registered result of M(tap.lambdaopt.lambda_secrets). Secret values are never in it.
    type: dict
  provisioned_concurrency:
    description: The registered result of M(tap.lambdaopt.lambda_provisioned_concurrency).
    type: dict
  tables:
    description: The registered result of M(tap.lambdaopt.dynamodb_capacity).
    type: dict
"""
