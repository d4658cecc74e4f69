"""The benchmark harness's kernel figures still run on the flannel lab (smoke sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracer.lab import LabInfo

pytestmark = pytest.mark.kernel
RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"
STATS = "/proc/sys/kernel/bpf_stats_enabled"


def test_bench_smoke_kernel(flannel_lab: LabInfo, tmp_path: Path) -> None:
    stats_before = Path(STATS).read_text()
    out, md = tmp_path / "results.json", tmp_path / "RESULTS.md"
    only = "startup,throughput,iperf,loss,probecost"
    proc = subprocess.run([sys.executable, str(RUN), "--smoke", "--only", only,
                           "--out", str(out), "--md", str(md)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figs = {f["key"]: f for f in json.loads(out.read_text())["figures"]}
    for key in ("startup", "exit", "lost_100k", "lost_exact", "cost_skipped"):
        assert not figs[key]["skipped"], figs[key]
        assert figs[key]["results"]["after"]["n"] >= 1
    # loss is counted exactly: what a starved 1-page ring received plus what it counted lost
    assert figs["lost_exact"]["results"]["after"]["exact"], figs["lost_exact"]
    assert "tput_nomatch" in figs
    # iperf3 (installed by setup) ran its TCP stream with each variant beside it
    assert figs["iperf_untraced"]["results"]["after"]["median"] > 0, figs["iperf_untraced"]
    for key in ("iperf_nomatch", "iperf_match", "iperf_tcpdump", "iperf_floor"):
        assert 0 < figs[key]["results"]["after"]["median"] < 200, figs[key]
    # the kernel timed the programs: an emitted event costs more than a rejected packet,
    # and both more than the empty program; timing is switched back off afterwards
    cost = {k: figs[k]["results"]["after"] for k in ("cost_nomatch", "cost_match", "cost_floor")}
    assert cost["cost_match"]["per_run_ns"]["median"] > cost["cost_nomatch"]["per_run_ns"]["median"]
    assert cost["cost_nomatch"]["per_run_ns"]["median"] > cost["cost_floor"]["median"] > 0
    assert Path(STATS).read_text() == stats_before
