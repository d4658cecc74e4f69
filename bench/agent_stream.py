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

# Run as a script: the tree this file is in, first (its bench, tracer, probes, tests packages).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGET = 1_000_000
LAT_TARGET_MS = 50


class SyntheticSource:
    """A synthetic ring refilled with N flannel events, drained in batches as LiveSource drains.

    The records are laid out once (one packet path repeated): refilling is a
    memcpy, as cheap for the agent as the kernel writing them is, so the
    figure is the agent's drain + batch + send, not the benchmark's making.
    """

    CHUNK = 65_536

    def __init__(self, n: int, rate: int = 0) -> None:
        from tests.support.synth import SyntheticRing, flannel_batch
        from tracer.schema.decode import Decoder
        from tracer.source import SourceInfo
        from tracer.topology.model import Topology

        self.ring = SyntheticRing(size=64 << 20)
        recs = np.zeros(self.CHUNK, dtype=self.ring.dtype)
        recs["rb_len"] = self.ring.dtype["ev"].itemsize
        recs["ev"] = flannel_batch(self.CHUNK)
        self.raw = recs.tobytes()
        self.left = n
        self.rate = rate  # events/s with their times stamped now (latency rounds); 0: as fast as it drains
        self._pos = 0
        self._last = time.monotonic()
        self.dec = Decoder()
        self.info = SourceInfo(live=True, topology=Topology())
        self._filled = 0
        self.read_to_ns = time.monotonic_ns()  # as a LiveSource's (tracer/source.py: ReadMarked)

    def poll(self, timeout_ms: int = 100) -> Any:
        if self.rate:
            self._paced()
        while not self.rate and self.left > 0 and self._fill(min(self.CHUNK, self.left)):
            self.left -= min(self.CHUNK, self.left)
        self.read_to_ns = time.monotonic_ns()  # everything stamped before it is in the ring now
        arr = self.ring.ring.drain()
        return self.dec.decode(arr["ev"]) if len(arr) else []

    def _paced(self) -> None:
        """What the kernel would have written since the last poll, stamped with the clock now."""
        time.sleep(0.001)
        now = time.monotonic()
        n = min(int((now - self._last) * self.rate), self.left, self.CHUNK - self._pos)
        if n <= 0:
            return
        self._last = now
        rec = self.ring.dtype.itemsize
        raw = bytearray(self.raw[self._pos * rec:(self._pos + n) * rec])
        chunk = np.frombuffer(raw, dtype=self.ring.dtype)
        chunk["ev"]["ts_ns"] = time.monotonic_ns()
        self._pos = (self._pos + n) % (self.CHUNK - self.CHUNK % 18)
        saved, self.raw = self.raw, chunk.tobytes()
        if self._fill(n):
            self.left -= n
        self.raw = saved

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


def agent_main(n: int, port_q: Any, stop: Any, rate: int = 0) -> None:
    from tracer.agent.server import AgentConfig, Kernel, serve
    from tracer.topology.model import Topology

    def no_probes(req: Any) -> Any:
        raise SystemExit("the bench agent sends no probes")

    kern = Kernel(Topology, lambda flt, snaplen, all_hooks: SyntheticSource(n, rate),
                  no_probes, "synthetic", lambda: [])
    serve(AgentConfig(node="bench", listen="127.0.0.1:0"), kern, port_q.put, stop, lambda msg: None)


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


def latency_round(addr: str, n: int) -> list[int]:
    """Per event: its (synthetic) kernel time to the client's journey holding it, in ns.

    The real client path: session, merge at the watermark, correlator.
    """
    from tracer.correlate.correlator import Correlator
    from tracer.filter import TraceFilter
    from tracer.remote.client import AgentClient
    from tracer.remote.session import connect
    from tracer.remote.source import RemoteSource

    src = RemoteSource(connect([addr], AgentClient), TraceFilter())
    corr = Correlator()
    lat: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(lat) < n and time.monotonic() < deadline:
            batch = src.poll(10)
            if not len(batch):
                continue
            corr.feed(batch)
            now = time.monotonic_ns()
            lat += (now - batch.arr["ts_ns"].astype(np.int64)).tolist()  # type: ignore[attr-defined]
    finally:
        src.close()
    return lat


def latency(rate: int, seconds: float) -> int:
    """p99 of the kernel -> journey latency at ``rate`` events/s, in ns."""
    ctx = mp.get_context("spawn")
    n = int(rate * seconds)
    port_q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=agent_main, args=(n, port_q, stop, rate), daemon=True)
    proc.start()
    try:
        lat = latency_round(f"127.0.0.1:{port_q.get(timeout=60)}", n)
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    p99 = int(np.percentile(lat, 99)) if lat else 10**12
    print(f"latency kernel event -> client journey at {rate:,} events/s: p50 "
          f"{np.percentile(lat, 50) / 1e6:.1f} ms, p99 {p99 / 1e6:.1f} ms over {len(lat)} events "
          f"(target p99 <= {LAT_TARGET_MS} ms)")
    return p99


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-rate", type=int, default=20_000, help="events/s of the latency run (0: skip)")
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
    p99 = latency(a.latency_rate, 3.0) if a.latency_rate else 0
    return 0 if med >= TARGET and p99 <= LAT_TARGET_MS * 1_000_000 else 1


if __name__ == "__main__":
    sys.exit(main())
