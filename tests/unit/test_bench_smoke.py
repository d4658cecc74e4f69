"""The benchmark harness still runs: a smoke run of its user-space figures.

Benchmarks are not tests: the figures of a smoke run mean nothing, only that
every figure was measured and written (``bench/run.py --smoke``). The kernel
figures have their own smoke test in tests/kernel/test_bench_kernel_smoke.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def test_bench_smoke_user_space(tmp_path: Path) -> None:
    out, md = tmp_path / "results.json", tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(RUN), "--smoke", "--only", "pipeline,recording,rss",
                           "--out", str(out), "--md", str(md)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    figs = {f["key"]: f for f in data["figures"]}
    assert {"pipeline_synth", "pipeline_recording", "replay_load", "rss"} <= set(figs)
    for f in figs.values():
        assert not f["skipped"], f
        assert f["results"]["after"]["median"] > 0
    assert figs["pipeline_synth"]["results"]["after"]["n"] == 1
    table = md.read_text()
    assert "| figure | target | after | met |" in table and "synthetic ring" in table
