# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # How the modules that change function configurations meet Lambda's update state machine.
    DOCUMENTATION = r"""
options: {}
notes:
  - Each function is read with GetFunction just before it is updated. A function that is C(Pending) or whose
    C(LastUpdateStatus) is C(InProgress) is waited for; one whose state or last update is C(Failed) is left alone
    and reported failed. The update names the C(RevisionId) that was read; when someone changes the function in
    between, Lambda refuses it, and the function is read again and updated only if every field being changed
    still holds the value it was planned from. Otherwise it is reported failed and nothing is overwritten.
  - An update Lambda accepted whose wait then fails (it ended C(Failed), or outlasted the wait) is reported
    failed with the function read back in C(after) and the fields Lambda took in C(accepted); so is a
    reservation put before a configuration update that Lambda then refused. The change record records those
    changes, and M(tap.lambdaopt.lambda_rollback) puts them back even though the function's last update failed.
"""
