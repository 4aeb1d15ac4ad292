# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Options of the modules that write inline policies to the functions' execution roles.
    DOCUMENTATION = r"""
options:
  roles:
    description:
      - The functions' execution roles and their inline policies (each role's name mapped to its policies' names
        mapped to their documents), as M(tap.lambdaopt.lambda_usage_info) read them with
        O(tap.lambdaopt.lambda_usage_info#module:read_roles) (its RV(tap.lambdaopt.lambda_usage_info#module:roles)).
      - A dry run plans from them instead of reading every role again. A real run reads each role just before it
        plans what it writes there, since IAM has no conditional write that would refuse a plan made from a stale
        reading.
    type: dict
"""
