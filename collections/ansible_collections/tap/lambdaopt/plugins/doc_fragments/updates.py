# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Options of the modules that update Lambda functions in bulk.
    DOCUMENTATION = r"""
options:
  requests_per_second:
    description:
      - Client-side limit on Lambda control-plane calls. Lambda allows 15 a second per account-region, shared
        with everything else that calls it.
    type: float
    default: 15
  max_workers:
    description: Functions updated in parallel.
    type: int
    default: 4
"""
