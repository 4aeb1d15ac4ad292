# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What makes a file a tap.lambdaopt change record, for the code that writes one (plugin_utils/change_record.py,
and journal.py for a killed run) and the code that reads one (record_trust.py, before lambda_rollback acts on it).
data/change_record.schema.json describes the whole record of this version."""

from __future__ import annotations

KIND = "tap.lambdaopt change record"
# Version 2 records carry the digest of their content; version 1 records carried none.
SCHEMA_VERSION = 2
# A record's `mode`: only an applied run changed anything that a rollback could put back.
APPLIED = "applied"
DRY_RUN = "dry_run"
