"""brtrace benchmarks: what tracing costs the traced system, how fast the pipeline is.

    .venv/bin/python bench/run.py [--smoke] [--rounds N] [--baseline REF] [--only FIG,...]

Writes ``bench/results.json`` and ``bench/RESULTS.md`` (the README's table);
a partial run (``--only``, ``--smoke``) writes to the temp dir instead, unless
``--out``/``--md`` say where.
Every sample runs in a fresh process (``bench/worker.py``); the variants of a
figure run interleaved, round after round (A/B/A/B, order rotated each round),
and the table gives the median with the spread [min–max]. ``--baseline REF``
unpacks that commit (``git archive``) and measures it side by side with the
working tree, so "before" and "after" come from the same run on the same load.

Traffic stays inside the flannel lab (UDP pod-a -> pod-b, bounded in time);
figures that need root or the lab are skipped, with the reason, when either is
missing. ``--smoke`` runs everything tiny and fast, to keep the harness alive
in CI (tests/unit/test_bench_smoke.py); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

# Run as a script: the tree this file is in, first (its bench, tracer, probes, tests packages).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import agent_figs, kernel_figs, live_cpu, live_rss, pcap_cost, throughput, userspace
from bench.context import Bench
from bench.figure import Tree
from bench.procs import ROOT, flannel_state, is_root
from bench.report import write_outputs

STEPS: dict[str, Callable[[Bench], None]] = {
    "pipeline": userspace.pipeline, "recording": userspace.recording, "rss": userspace.rss,
    "startup": kernel_figs.startup, "throughput": throughput.throughput,
    "iperf": throughput.iperf_figures, "loss": kernel_figs.loss, "probecost": kernel_figs.probecost,
    "tui": userspace.tui, "liverss": live_rss.step, "livecpu": live_cpu.step,
    "agent": agent_figs.agent_stream, "pcapcost": pcap_cost.step,
}


def prepare_lab(b: Bench) -> bool:
    """Whether this run brought the flannel lab up (and so takes it down); sets why kernel
    figures are skipped when they cannot run."""
    if not is_root():
        b.kernel_skip = "needs root"
        return False
    state = flannel_state()
    if state == "up":
        return False
    if b.smoke:
        b.kernel_skip = f"flannel lab is {state} (smoke runs do not build labs)"
        return False
    from tracer import lab

    b.log("bringing the flannel lab up")
    lab.up("flannel")
    return True


def run(b: Bench, only: list[str]) -> None:
    brought_up = prepare_lab(b)
    try:
        for key, step in STEPS.items():
            if not only or key in only:
                b.log(f"--- {key}")
                step(b)
    finally:
        if brought_up:
            from tracer import lab

            lab.down("flannel")


def unpack_baseline(ref: str) -> str:
    dest = tempfile.mkdtemp(prefix="brtrace-bench-base-")
    archive = subprocess.run(["git", "-C", ROOT, "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    return dest


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, seconds; figures mean nothing")
    p.add_argument("--rounds", type=int, default=None, help="rounds per figure (default 5, smoke 1)")
    p.add_argument("--baseline", default="", help="also measure this git ref, side by side")
    p.add_argument("--only", default="", help="comma list: " + ",".join(STEPS))
    p.add_argument("--flood-seconds", type=float, default=2.0)
    p.add_argument("--out", default="", help="results JSON (default bench/results.json)")
    p.add_argument("--md", default="", help="Markdown table (default bench/RESULTS.md)")
    a = p.parse_args()
    a.rounds = a.rounds or (1 if a.smoke else 5)
    a.load_start = os.getloadavg()
    return a


def main() -> int:
    a = parse_args()
    started = time.time()
    trees = [Tree("after", ROOT)]
    base = ""
    if a.baseline:
        base = unpack_baseline(a.baseline)
        trees.insert(0, Tree("before", base))
    bench = Bench(trees, a.smoke, a.rounds, a.flood_seconds)
    try:
        run(bench, a.only.split(",") if a.only else [])
    finally:
        write_outputs(bench, a, started)
        if base:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
