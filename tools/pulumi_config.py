"""Carry a change record back into a Pulumi stack: the settings the run left each function with go into
the stack's `lambdaopt-baseline:functions` config, and the data table's throughput into
`lambdaopt-baseline:data_table`, so that the next `pulumi up` keeps them.

    python -m tools.pulumi_config --record records/lambdaopt-changes-....json --stack-file infra_pulumi/Pulumi.dev.yaml

The stack's suffix (config `lambdaopt-baseline:suffix`) says which of the record's functions belong to it.
Earlier settings stay unless the record changes them; the file's leading comments are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from fleet_spec import load_fleet
from tuned_settings import from_record, merged, parse, parse_table, table_from_record

PROJECT = "lambdaopt-baseline"
KEY = f"{PROJECT}:functions"
TABLE_KEY = f"{PROJECT}:data_table"


def updated_stack(stack: dict, record: dict) -> dict:
    """The stack file's content with the record's settings merged into its `functions` config."""
    config = dict((stack or {}).get("config") or {})
    suffix = config.get(f"{PROJECT}:suffix")
    if not suffix:
        raise ValueError(f"the stack has no {PROJECT}:suffix, so its functions cannot be told apart")
    if record.get("kind") != "tap.lambdaopt change record" or record.get("mode") != "applied":
        raise ValueError("not the change record of a real tap.lambdaopt run")
    fleet = load_fleet()
    names = [entry["name"] for entry in fleet["functions"]]
    tunings = parse(merged(config.get(KEY), from_record(record, suffix)), names)
    if tunings:
        config[KEY] = tunings
    table = parse_table({**(config.get(TABLE_KEY) or {}),
                         **table_from_record(record, f"{fleet['data_table']['name']}-{suffix}")})
    if table:
        config[TABLE_KEY] = table
    return {**(stack or {}), "config": config}


def write_stack(path: Path, record: dict) -> bool:
    """Update the stack file in place; whether it changed."""
    text = path.read_text() if path.exists() else ""
    stack = yaml.safe_load(text) or {}
    new = updated_stack(stack, record)
    if new == stack:
        return False
    comments = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    path.write_text(comments + yaml.safe_dump(new, sort_keys=False))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pulumi_config", description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, required=True, help="a change record written by a real run")
    parser.add_argument("--stack-file", type=Path, required=True, help="Pulumi.<stack>.yaml to update")
    args = parser.parse_args(argv)
    try:
        changed = write_stack(args.stack_file, json.loads(args.record.read_text()))
    except (OSError, ValueError) as error:
        parser.error(str(error))
    print(f"{'updated' if changed else 'unchanged'}: {args.stack_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
