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

import pytest

from bench.figure import Figure

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


def _targets_in_code() -> set[str]:
    """Every Target the bench's steps (and bench.figure) define, as the table shows it."""
    from bench import figure
    from bench.run import STEPS

    modules = {figure} | {sys.modules[step.__module__] for step in STEPS.values()}
    return {v.text() for m in modules for v in vars(m).values() if isinstance(v, figure.Target)}


def test_each_committed_target_is_one_target_in_the_code() -> None:
    """The committed table's target column is what the Targets render: same text, same format."""
    results = RUN.parent / "RESULTS.md"
    rows = [ln.split(" | ") for ln in results.read_text().splitlines() if ln.startswith("| ")]
    committed = {r[1] for r in rows[1:]}  # the header row first
    assert committed and committed <= _targets_in_code()


def test_a_target_decides_met_at_its_own_number() -> None:
    from bench.figure import Figure, Target

    kept = Target.at_least(97, "%")
    assert kept.text() == ">= 97 %" and kept.met(97) and not kept.met(96.99)
    start = Target.at_most(1.0, "s", digits=1)
    assert start.text() == "<= 1.0 s" and start.met(1.0) and not start.met(1.01)
    assert Target.exactly(0).text() == "0" and Target.exactly(0).met(0) and not Target.exactly(0).met(1)
    assert Target.at_most(200, "MB", also="flat").text() == "<= 200 MB, flat"
    fig = Figure("k", "t", kept, "% of untraced", results={"after": {"median": 96.0}})
    fig.judge(fig.after_median())
    assert fig.ok is False and fig.to_json()["target"] == ">= 97 %"
    with pytest.raises(ValueError):
        Target.none("(reference)").met(1.0)


def _kept(**medians: float) -> dict[str, Figure]:
    from bench.figure import REFERENCE, Figure

    return {k: Figure(k, k, REFERENCE, "%", results={"after": {"median": v}}) for k, v in medians.items()}


def test_kept_share_is_judged_against_tcpdump_and_the_floor() -> None:
    """Issue 25's relative targets: at or above tcpdump in node1, and (UDP) within 5 points of the floor."""
    from bench.figure import FLOOR_POINTS
    from bench.throughput import judge_kept

    cases = [((80.0, 79.0, 84.0), FLOOR_POINTS, True),   # above tcpdump, 4 points under the floor
             ((78.9, 79.0, 80.0), FLOOR_POINTS, False),  # under tcpdump
             ((80.0, 70.0, 85.5), FLOOR_POINTS, False),  # more than 5 points under the floor
             ((80.0, 70.0, 95.0), None, True)]           # TCP: tcpdump only
    for (kept, tcpdump, floor), points, ok in cases:
        figs = _kept(nomatch=kept, match=50.0, tcpdump=tcpdump, floor=floor)
        judge_kept(figs, points)
        assert figs["nomatch"].ok is ok, (kept, tcpdump, floor)
        assert "floor" in figs["match"].note
