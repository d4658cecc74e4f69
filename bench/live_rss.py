"""Bench step: RSS of a live ``brtrace trace`` after 60 s of ``ping -i 0.002``.

Beside the synthetic RSS figure (decode + correlate only), this one measures
the path a user runs (issue 18): probes loaded (compiled in a child, so no
LLVM here), ring drain, correlator, text output to /dev/null. RSS is read
from /proc once a second; the figure is the RSS at the end, and "flat" means
the last 30 s grew at most 5 %. Bounded: ping stops after the given seconds
(-w), the trace a minute later at most.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from bench.context import Bench
from bench.figure import Figure, Target, single
from bench.procs import traced_ping
from tests.support.proc import rss_kb

FLAT = 1.05  # the last half grows at most 5 %
LIVE_RSS = Target.at_most(200, "MB", also="+5 % at most over the last half")



def measure(tree_path: str, seconds: int) -> dict[str, Any]:
    """One live trace of ``seconds`` of ping -i 0.002 pod-a -> pod-b: RSS samples (MB)."""
    cmd, env = traced_ping(tree_path, seconds, slack=60)
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, cwd=tree_path, env=env)
        try:
            while proc.poll() is None and time.monotonic() - start < seconds + 60:
                kb = rss_kb(proc.pid)
                if kb:
                    samples.append((time.monotonic() - start, kb / 1024))
                time.sleep(1.0)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate()
    half = [mb for t, mb in samples if t <= seconds / 2]
    late = [mb for t, mb in samples if t > seconds / 2]
    return {"end_mb": samples[-1][1] if samples else 0.0, "half_mb": half[-1] if half else 0.0,
            "late_max_mb": max(late) if late else 0.0, "rc": proc.returncode,
            "summary": err.decode(errors="replace").strip().splitlines()[-1:]}


def step(b: Bench) -> None:
    """The figure, for each tree (bench/run.py registers this as "liverss")."""
    seconds = 10 if b.smoke else 60
    fig = b.add(Figure("live_rss", f"RSS of a live trace after {seconds} s of ping -i 0.002 "
                       "(text to /dev/null)", LIVE_RSS, "MB"))
    if b.skip_kernel(fig):
        return
    for t in b.trees:
        res = measure(t.path, seconds)
        b.log(f"live rss {t.name}: {res}")
        fig.results[t.name] = single(res["end_mb"], **res)
    after = fig.results.get("after", {})
    fig.ok = (0 < after.get("end_mb", 0) and fig.target.met(after["end_mb"])
              and after.get("late_max_mb", 1e9) <= after.get("half_mb", 0) * FLAT)
    fig.note = ("the CLI's live path (probes compiled in a child process, ring, correlator, "
                "text out), sampled once a second from /proc")
