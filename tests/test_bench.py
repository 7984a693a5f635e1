"""The benchmark (bench/relay.py) keeps working at a tiny scale: it finishes, prints its rows and
writes its figures. Its figures are printed, never compared with a time: the machine is shared."""
import json
import subprocess
import sys

import pytest
from instance import ROOT

TINY = ["--cities", "1", "--bots", "2", "--reports", "5", "--rate", "10", "--idle", "1",
        "--long-poll", "2"]


def bench(tmp_path, *extra):
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "relay.py"), *TINY,
                             "--json", str(out), *extra],
                            capture_output=True, text=True, timeout=240, cwd=tmp_path,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    return result.stdout, json.loads(out.read_text())


def measured(run, *keys):
    """The figures that are missing (null) among keys."""
    return [key for key in keys if not isinstance(run.get(key), (int, float))]


@pytest.mark.parametrize("baselines", [False, True], ids=["ticketfrei", "with-baselines"])
def test_relay_benchmark_runs_and_reports_its_figures(tmp_path, baselines):
    stdout, figures = bench(tmp_path, *(["--baselines"] if baselines else []))
    # cities | bots | supervised processes (2 bots, censor, frontend) | ...
    rows = [line for line in stdout.splitlines() if line.startswith("1 | 2 | 4 | ")]
    assert len(rows) == 1, stdout
    assert len(rows[0].split(" | ")) == 13, rows[0]

    runs = {run["system"]: run for run in figures["runs"]}
    assert set(runs) == ({"ticketfrei", "v2_loop", "kibicara"} if baselines else {"ticketfrei"})
    ours = runs["ticketfrei"]
    assert ours["errors"] == [] and ours["processes"] == 4
    assert ours["reports"] == ours["relayed"] == 5, ours
    assert not measured(ours, "start_s", "idle_cpu_pct", "e2e_p50", "e2e_p99", "core_p50",
                        "core_p99", "bot_pss", "bot_uss", "censor_pss", "frontend_pss",
                        "main_pss", "fork_parent_pss", "total_pss", "stop_s"), ours
    assert ours["hung_core_p99"] is None  # one city: no other city to relay while it hangs
    assert ours["busy_core_p99"] is None  # nor a few busy cities among many
    for system in ({"v2_loop", "kibicara"} if baselines else ()):
        run = runs[system]
        assert run["errors"] == [] and run["reports"] == run["relayed"] == 5, run
        assert not measured(run, "start_s", "e2e_p50", "e2e_p99", "total_pss"), run
        assert any(line.startswith(f"{system} | 1 | 2 | 1 | ") for line in stdout.splitlines())
