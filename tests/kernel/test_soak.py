"""Soak (issue 18): a 60 s live trace of ``ping -i 0.002`` between the lab's pods.

It asserts what a careful user checked by hand: every ICMP packet ping sent
and received is printed or counted as evicted (and by default none is
evicted); the tracer's memory is flat over the last 30 s; it exits cleanly.
Bounded: ping stops after 60 s (-w), the trace after 90 s.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.kernel.test_ping import no_brtrace_programs
from tests.support.proc import rss_kb

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
SECONDS = 60



def _sample_rss(proc: subprocess.Popen[bytes], limit_s: float) -> list[tuple[float, int]]:
    """(seconds since start, RSS kB) once a second until the trace exits."""
    start = time.monotonic()
    samples: list[tuple[float, int]] = []
    while proc.poll() is None and time.monotonic() - start < limit_s:
        kb = rss_kb(proc.pid)
        if kb:
            samples.append((time.monotonic() - start, kb))
        time.sleep(1.0)
    return samples


def test_sixty_seconds_of_ping_i_0_002_nothing_lost(flannel_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keep = os.environ.get("BRT_SOAK_KEEP")
    where = Path(keep) if keep else tmp_path
    out, err = where / "trace.out", where / "trace.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen([BRTRACE, "trace", "--host", "10.244.1.3", "--proto", "icmp", "--plain",
                                 "--duration", "90", "--", "ip", "netns", "exec", "brt-pod-a", "ping",
                                 "-q", "-i", "0.002", "-w", str(SECONDS), "10.244.1.3"],
                                stdout=fo, stderr=fe)
        try:
            samples = _sample_rss(proc, SECONDS + 60)
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = err.read_text()
    assert rc == 0, text[-2000:]
    assert "Traceback" not in text
    m = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    assert m, text[-2000:]
    sent, received = int(m.group(1)), int(m.group(2))
    assert sent >= 10_000  # the load really ran
    summary = re.search(r"brtrace: (\d+) packets, (\d+) events, (\d+) lost, (\d+) packets not shown "
                        r"\(evicted before completion\)", text)
    assert summary, text[-2000:]
    evicted = int(summary.group(4))
    printed: Counter[tuple[str, str]] = Counter()  # (ICMP id, type): ping's id is the busiest
    with open(out) as f:
        for line in f:
            # "packet N  icmp echo request id 0xb702 seq 4  …" (tracer/render/text.packet_line)
            if m := re.match(r"packet \d+  icmp echo (request|reply) id (\S+) ", line):
                printed[(m.group(2), "8" if m.group(1) == "request" else "0")] += 1
    ident = max(printed, key=printed.__getitem__)[0]
    ours = printed[(ident, "8")] + printed[(ident, "0")]
    assert ours + evicted == sent + received, (printed, evicted, sent, received)
    assert evicted == 0  # the default prints every packet
    late = [kb for t, kb in samples if t >= SECONDS - 30]
    at_30 = [kb for t, kb in samples if t <= SECONDS - 30]
    assert late and at_30
    print(f"RSS at 30 s {at_30[-1] / 1024:.0f} MB, max after {max(late) / 1024:.0f} MB", file=sys.stderr)
    assert max(late) <= at_30[-1] * 1.05, samples
    assert no_brtrace_programs()
