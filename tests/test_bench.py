"""The benchmark script keeps working (its figures are printed, never asserted here)."""
import subprocess
import sys

from instance import ROOT


def test_relay_benchmark_runs_and_prints_a_row_of_figures():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "relay.py"), "--cities", "1",
                             "--bots", "2", "--reports", "5", "--rate", "10", "--poll", "0.2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("1 | 2 | 4 |")]
    assert len(rows) == 1, result.stdout
