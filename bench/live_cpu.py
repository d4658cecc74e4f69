"""Bench step: the consumer's CPU, a live ``brtrace trace`` beside ``ping -i 0.002``.

Issue 25: "the consumer's CPU counts too, on 2 cores". This is the path a
user runs: probes loaded, ring drain, decode, correlation, hop naming and text
out (to /dev/null), every thread of the brtrace process, not ping's. ping
sends 500 echo requests a second, so 1,000 packets a second are traced (~16
events each in the flannel lab). The CPU is read from /proc/PID/stat at
WARM_S and again at ping's end, so start-up and probe loading are not in it.

Rounds are interleaved, trees in rotated order (a single long run per tree
swung by ±15 % from one run to the next on this VM). Bounded: ping stops after
``seconds`` (-w), the trace at most 30 s later.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from bench.context import Bench
from bench.figure import REFERENCE, Figure, Tree, rotated, spread
from bench.procs import traced_ping
from tests.support.proc import cpu_s

WARM_S = 3.0  # past start-up (~0.5 s) and the first packets
PACKETS_PER_S = 1000  # ping -i 0.002: 500 echo requests and 500 replies a second


def measure(tree: Tree, seconds: float) -> dict[str, Any]:
    """One trace of ``seconds`` of ping: CPU share of one core and µs per packet, WARM_S to the end."""
    cmd, env = traced_ping(tree.path, seconds, slack=30)
    start = time.monotonic()
    marks: list[tuple[float, float]] = []
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, cwd=tree.path, env=env)
        try:
            for at in (WARM_S, seconds):  # ping starts once the probes are attached, ~0.5 s in
                time.sleep(max(0.0, start + at - time.monotonic()))
                marks.append((time.monotonic(), cpu_s(proc.pid)))
            proc.wait(timeout=seconds + 40)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
    (t0, c0), (t1, c1) = marks
    span = t1 - t0
    used = c1 - c0 if c0 and c1 and span > 0 else 0.0  # 0: gone before the second mark (a warm-up)
    return {"cpu_pct": 100.0 * used / span if used else 0.0,
            "us_per_packet": 1e6 * used / (span * PACKETS_PER_S) if used else 0.0,
            "rc": proc.returncode, "summary": err.decode(errors="replace").strip().splitlines()[-1:]}


def step(b: Bench) -> None:
    """The figure, rounds interleaved over the trees (bench/run.py registers this as "livecpu")."""
    seconds = 4.0 if b.smoke else 10.0
    fig = b.add(Figure("live_cpu", "CPU of a live trace beside ping -i 0.002 (1,000 packets/s traced, "
                       "text to /dev/null): every brtrace thread, share of one core", REFERENCE,
                       "% of a core"))
    if b.skip_kernel(fig):
        return
    for t in b.trees:  # a first run compiles the tree's probes into the program cache: not measured
        measure(t, 1.0)
    pct: dict[str, list[float]] = b.per_tree()
    per_packet: dict[str, list[float]] = b.per_tree()
    for r in range(b.rounds):
        for t in rotated(list(b.trees), r):
            res = measure(t, seconds)
            b.log(f"live cpu {t.name}: {res}")
            if res["rc"] == 0 and res["cpu_pct"] > 0:
                pct[t.name].append(res["cpu_pct"])
                per_packet[t.name].append(res["us_per_packet"])
    for name, vals in pct.items():
        fig.results[name] = {**spread(vals), "us_per_packet": spread(per_packet[name])}
    fig.note = (f"CPU of the brtrace process (/proc/PID/stat) from {WARM_S:.0f} s to ping's end "
                f"({seconds:g} s of ping per run, rounds interleaved); µs of CPU per packet: "
                + ", ".join(f"{n} {r['us_per_packet'].get('median', 0):.0f}"
                            for n, r in fig.results.items()))
