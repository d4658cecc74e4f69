"""Across nodes: what one agent streams to one client, and how late a kernel event
reaches the client's journey (bench/agent_stream.py measures both, its own rounds)."""

from __future__ import annotations

import os
import re
import subprocess

from bench.context import Bench
from bench.figure import EVENTS_PER_S, Figure, Target, single
from bench.procs import HERE, PY, ROOT

AGENT_LATENCY = Target.at_most(50, "ms")  # p99, kernel event -> the client's journey


def agent_stream(b: Bench) -> None:
    fig = b.add(Figure("agent_stream", "one agent streams to one client over loopback "
                       "(synthetic ring, decoded, not correlated)", EVENTS_PER_S, "events/s"))
    lat = b.add(Figure("agent_latency", "kernel event to the client's journey through an agent, p99",
                       AGENT_LATENCY, "ms"))
    args = [PY, os.path.join(HERE, "agent_stream.py")] + (["--events", "100000"] if b.smoke else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=ROOT)
    m = re.search(r"\(median of \d+\): ([\d,]+) events/s", proc.stdout)
    if not m:
        fig.skipped = lat.skipped = (f"bench/agent_stream.py printed no figure (rc {proc.returncode}): "
                                     + (proc.stderr or proc.stdout).strip()[-300:].replace("\n", " "))
        return
    rate = float(m.group(1).replace(",", ""))
    fig.results["after"] = single(rate, output=proc.stdout.strip().splitlines())
    fig.judge(rate)
    fig.note = "agent in its own process (real gRPC service), client receives and checks every batch"
    m = re.search(r"p99 ([\d.]+) ms over", proc.stdout)
    if not m:
        lat.skipped = "bench/agent_stream.py printed no latency"
        return
    ms = float(m.group(1))
    lat.results["after"] = single(ms)
    lat.judge(ms)
    lat.note = ("synthetic events stamped when written to the agent's ring, 20k events/s; session, "
                "merge at the watermark and correlator as `trace --agents` runs them")
