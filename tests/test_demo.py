"""`make demo` from start to end: it finishes with the net savings and the three report files."""

import json
import sys
from pathlib import Path

from tests.test_setup import run
from tools.demo import dollars


def test_the_demo_ends_with_the_net_savings_and_the_report_files(tmp_path):
    result = run([sys.executable, "-m", "tools.demo", "--reports", str(tmp_path),
                  "--records", str(tmp_path / "records")])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ending = result.stdout[result.stdout.index("=== Savings ==="):].strip().splitlines()
    paths = [Path(line.strip()) for line in ending[-3:]]
    assert [path.suffix for path in paths] == [".json", ".md", ".html"] and all(path.is_file() for path in paths)
    assert ending[-4] == "Reports:"
    report = json.loads(paths[0].read_text())
    assert report["mode"] == "applied"
    net = report["totals"]["net_monthly_savings"]["expected"]
    assert ending[-6].startswith(f"Net monthly savings: {dollars(net)} ")
    assert ending[-5] == f"Net annual savings:  {dollars(report['totals']['annual_savings']['expected'])}"
