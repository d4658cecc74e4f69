"""Events/s one agent streams to one client over loopback (issue: across nodes).

The agent runs in its own process and serves the real gRPC service; its
trace source is a synthetic ring (bench/synth.py: a flannel UDP path laid out
as the kernel's ring records) drained by the same RingBuffer as live, so the
agent does exactly what it does live after the kernel: drain, batch, send.
The client receives and checks/decodes every batch into record arrays
(tracer/agent/wire.py), without correlating. Prints one line per round and
the median; exits 1 when the median misses the target.

    .venv/bin/python bench/agent_stream.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import mmap
import multiprocessing as mp
import os
import queue
import statistics
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

TARGET = 1_000_000


class SyntheticSource:
    """A synthetic ring refilled with N flannel events, drained in batches as LiveSource drains.

    The records are laid out once (one packet path repeated): refilling is a
    memcpy, as cheap for the agent as the kernel writing them is, so the
    figure is the agent's drain + batch + send, not the benchmark's making.
    """

    CHUNK = 65_536

    def __init__(self, n: int) -> None:
        from probes.layout import Decoder
        from synth import SyntheticRing, flannel_batch
        from tracer.source import SourceInfo
        from tracer.topology.model import Topology

        self.ring = SyntheticRing(size=64 << 20)
        recs = np.zeros(self.CHUNK, dtype=self.ring.dtype)
        recs["rb_len"] = self.ring.dtype["ev"].itemsize
        recs["ev"] = flannel_batch(self.CHUNK)
        self.raw = recs.tobytes()
        self.left = n
        self.dec = Decoder()
        self.info = SourceInfo(live=True, topology=Topology())
        self._filled = 0

    def poll(self, timeout_ms: int = 100) -> Any:
        while self.left > 0 and self._fill(min(self.CHUNK, self.left)):
            self.left -= min(self.CHUNK, self.left)
        arr = self.ring.ring.drain()
        return self.dec.decode(arr["ev"]) if len(arr) else []

    def _fill(self, n: int) -> bool:
        """n prebuilt records into the ring at the producer position, as the kernel writes them."""
        r = self.ring
        rec = r.dtype.itemsize
        cons = int.from_bytes(r._cons[:8], "little")
        if r.size - (r._prod_pos - cons) < n * rec:
            return False
        page, start, raw = mmap.PAGESIZE, r._prod_pos & (r.size - 1), self.raw[:n * rec]
        for base in (page + start, page + start + r.size):  # the data area is mapped twice
            end = min(base + len(raw), page + 2 * r.size)
            r._prod[base:end] = raw[:end - base]
        if start + len(raw) > r.size:  # the wrapped tail, at the start of the first mapping
            over = start + len(raw) - r.size
            r._prod[page:page + over] = raw[len(raw) - over:]
        r._prod_pos += n * rec
        r._prod[:8] = r._prod_pos.to_bytes(8, "little")
        return True

    def stats(self) -> Any:
        from tracer.model import SourceStats

        return SourceStats()

    def close(self) -> None:
        self.ring.close()


def agent_main(n: int, port_q: Any, stop: Any) -> None:
    from tracer.agent.server import AgentConfig, Kernel, serve
    from tracer.topology.model import Topology

    kern = Kernel(Topology, lambda flt, snaplen, all_hooks: SyntheticSource(n),
                  lambda req: None, "synthetic", lambda: [])
    serve(AgentConfig(node="bench", listen="127.0.0.1:0"), kern, port_q.put, stop)


def one_round(addr: str, n: int) -> float:
    """Seconds from asking for the stream to the last of N events decoded on the client."""
    from tracer.filter import TraceFilter
    from tracer.remote.client import AgentClient, StreamItem

    c = AgentClient(addr)
    c.hello()
    q: queue.Queue[StreamItem] = queue.Queue()
    got = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    c.trace(TraceFilter(), 128, False, q)
    while got < n:
        item = q.get(timeout=60)
        if item.ended:
            raise SystemExit(f"stream ended after {got} events: {item.ended}")
        if item.records is not None:
            got += len(item.records.arr)
    dt = time.perf_counter() - t0
    c.close()
    if os.environ.get("BRT_BENCH_VERBOSE"):
        print(f"  client CPU {time.process_time() - cpu0:.2f} s of {dt:.2f} s wall")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    ctx = mp.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=agent_main, args=(a.events, port_q, stop), daemon=True)
    proc.start()
    try:
        addr = f"127.0.0.1:{port_q.get(timeout=60)}"
        rates = []
        for r in range(a.rounds):
            dt = one_round(addr, a.events)
            rates.append(a.events / dt)
            print(f"round {r + 1}: {a.events} events in {dt:.3f} s = {a.events / dt:,.0f} events/s")
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    med = statistics.median(rates)
    print(f"agent stream over loopback (median of {a.rounds}): {med:,.0f} events/s "
          f"(target >= {TARGET:,})")
    return 0 if med >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
