# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tap.lambdaopt.change_record runs on the controller: it turns the results earlier tasks registered into
the run's change record, and writes it there after a real run. It makes no AWS call."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.amazon.aws.plugins.module_utils.modules import aws_argument_spec
from ansible_collections.tap.lambdaopt.plugins.plugin_utils import change_record, report
from ansible_collections.tap.lambdaopt.plugins.plugin_utils.run_results import TASKS

ARGUMENT_SPEC = dict(
    usage=dict(type="list", elements="dict", required=True),
    **{task: dict(type="dict") for task in TASKS},
    dest=dict(type="path", required=True),
    # Accepted so that module_defaults for the tap.lambdaopt group (region, profile, ...) apply here too.
    **aws_argument_spec(),
)


def write_whole(path: Path, text: str) -> None:
    """Write the file whole or not at all: a run killed while it writes leaves no half record under the name
    (its journal still holds what it changed), only a temporary file beside it."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dry_run = bool(self._task.check_mode)
        try:
            account_id, region = report.account_and_region(params["usage"], params["region"])
            record = change_record.build({task: params[task] for task in TASKS}, dry_run, account_id, region)
        except report.FleetMismatch as error:
            raise AnsibleActionFail(str(error)) from None
        except (KeyError, TypeError, AttributeError) as error:
            raise AnsibleActionFail("pass the results the collection's modules registered, as they are "
                                    f"(no {error} found)") from None
        result.update(changed=False, record=record)
        if not dry_run:
            path = Path(params["dest"]) / change_record.file_name(record)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_whole(path, json.dumps(record, indent=2) + "\n")
            except OSError as error:
                raise AnsibleActionFail(f"cannot write the change record to {path}: {error.strerror}") from None
            result["path"] = str(path)
        return result
