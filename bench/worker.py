"""One measurement in a fresh process, against one source tree.

    python bench/worker.py --tree DIR COMMAND [options]

``bench/run.py`` starts this for every sample so that each one gets a clean
interpreter (startup, RSS, replay load are per process figures) and so that
the same measurement runs against two trees side by side (``--tree`` is put
first on ``sys.path``: the working tree, or an older commit unpacked by
``run.py --baseline REF``). It only uses APIs both trees have, checking for
newer ones. Every command prints one JSON object on its last line.

Commands:
  pipeline   decode + correlate N synthetic events through a ring buffer
  replay     load a recording into Events (and correlate: --correlate)
  rss        RSS after 1M, 2M, 3M synthetic events through the live pipeline
  trace      attach the probes, say "ready", consume until "stop" on stdin
  floor      the same with an empty program (the kernel's dispatch cost alone)
  flood      UDP from pod-a to pod-b for a while (optionally paced)
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import mmap
import os
import resource
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

T_START = time.perf_counter()


def _setup_path(tree: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [tree, os.path.dirname(here)]  # the tree's packages; then the working tree's


def _synth() -> ModuleType:
    """The tree's own synthetic-event generator: it builds that tree's event layout.

    tests/support/synth.py; trees from before it moved there have bench/synth.py.
    """
    try:
        return importlib.import_module("tests.support.synth")
    except ModuleNotFoundError as exc:
        if exc.name not in ("tests.support", "tests.support.synth"):
            raise
        return importlib.import_module("bench.synth")


def _decoder() -> Any:
    """The tree's own decoder class: tracer/schema/decode.py; older trees have probes/layout.py."""
    try:
        return importlib.import_module("tracer.schema.decode").Decoder
    except ModuleNotFoundError as exc:
        if exc.name not in ("tracer.schema", "tracer.schema.decode"):
            raise
        return importlib.import_module("probes.layout").Decoder


def _emit(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- user-space pipeline ---------------------------------------------------------

def _ring(size: int) -> Any:
    """A synthetic ring buffer; works with trees whose RingBuffer predates from_memory.

    Typed ``Any``: the tree measured may be an older one, with other APIs."""
    from probes.ringbuf import RingBuffer

    if not hasattr(RingBuffer, "from_memory"):
        def from_memory(cls: type[Any], cons: mmap.mmap, prod: mmap.mmap, size: int, dtype: Any) -> Any:
            self = object.__new__(cls)
            self._size, self._mask, self._dtype = size, size - 1, dtype
            self._cons, self._prod = cons, prod
            self._data = memoryview(prod)[mmap.PAGESIZE:]
            self._ep = None
            return self
        setattr(RingBuffer, "from_memory", classmethod(from_memory))  # noqa: B010 - older trees only
    return _synth().SyntheticRing(size)


def _source_batches(n: int, batch: int) -> Iterator[Any]:
    synth = _synth()
    for k in range(0, n, batch):  # whole packets per batch, every packet new
        yield synth.flannel_batch(batch, first_packet=k // synth.EVENTS_PER_PACKET)


def cmd_pipeline(a: argparse.Namespace) -> None:
    from tracer.correlate.correlator import Correlator

    Decoder = _decoder()

    ring = _ring(8 << 20)
    dec, corr = Decoder(), Correlator()
    arrs = list(_source_batches(a.events, a.batch))  # made before the clock starts
    done, t_cpu = 0, 0.0
    for arr in arrs:
        ring.push(arr)
        t = time.process_time()
        recs = ring.ring.drain()
        corr.feed(dec.decode(recs["ev"]))
        t_cpu += time.process_time() - t
        done += len(recs)
    _emit({"events": done, "cpu_s": t_cpu, "rate": done / t_cpu if t_cpu else 0.0,
           "journeys": len(corr.journeys)})


def cmd_replay(a: argparse.Namespace) -> None:
    """Load a recording as ``brtrace replay`` does: every batch read, Events built on access."""
    from tracer.record import open_recording

    t0, c0 = time.perf_counter(), time.process_time()
    with open_recording(a.path) as rec:
        batches = list(rec.batches())
    t1, c1 = time.perf_counter(), time.process_time()
    n = sum(len(b) for b in batches)
    out: dict[str, object] = {"events": n, "load_s": t1 - t0, "load_cpu_s": c1 - c0,
                              "rss_mb": rss_mb()}
    if a.correlate:
        from tracer.correlate.correlator import Correlator

        corr = Correlator()
        c = time.process_time()
        for b in batches:
            corr.feed(b)
        cc = time.process_time() - c
        out["correlate_cpu_s"] = cc
        out["rate"] = n / (c1 - c0 + cc)
    _emit(out)


def cmd_rss(a: argparse.Namespace) -> None:
    from tracer.correlate.correlator import Correlator

    Decoder = _decoder()

    ring = _ring(8 << 20)
    dec, corr = Decoder(), Correlator()
    marks: dict[str, float] = {"start": rss_mb()}
    done, step = 0, a.events
    for arr in _source_batches(a.times * step, a.batch):
        ring.push(arr)
        recs = ring.ring.drain()
        corr.feed(dec.decode(recs["ev"]))
        done += len(recs)
        if done % step < a.batch and done >= step:
            gc.collect()
            marks[f"{done // step}x"] = rss_mb()
    _emit({"events": done, "rss_mb": marks, "journeys": len(corr.journeys)})


# -- live probes -----------------------------------------------------------------

def _filter(kind: str, port: int, proto: str = "udp") -> Any:
    from tracer.filter import TraceFilter

    if kind == "match":
        return TraceFilter(proto=proto, port=port)
    if kind == "pcap-nomatch":  # the same test as a pcap-filter expression (bench/pcap_cost.py)
        return TraceFilter(expr=f"{proto} port 9")
    return TraceFilter(proto=proto, port=9)  # discard port: nothing in the flood matches


def _hook_plan() -> Any:
    """The tree's own hook plan module: probes/plan.py; older trees plan in probes/loader.py."""
    try:
        return importlib.import_module("probes.plan")
    except ModuleNotFoundError as exc:
        if exc.name != "probes.plan":
            raise
        return importlib.import_module("probes.loader")


def _floor(all_hooks: bool) -> Any:
    """probes/floor.c (returns at once) on the tracepoints brtrace would attach."""
    from bcc import BPF

    from probes import loader

    planner = _hook_plan()
    plan: Sequence[Any] = planner.load_plan().hooks
    if hasattr(planner, "choose_hooks"):
        plan = planner.choose_hooks(plan, all_hooks)
    bpf = BPF(src_file=os.path.join(loader.PROBE_DIR, "floor.c").encode())
    for h in plan:
        if h.mode == "raw_tracepoint":
            bpf.attach_raw_tracepoint(tp=h.detail.split(":")[1].encode(), fn_name=b"brt_floor")
    return bpf


def cmd_floor(a: argparse.Namespace) -> None:
    bpf = _floor(a.all_hooks)
    _emit({"ready": True})
    sys.stdin.read()  # until "stop" and EOF
    t = time.perf_counter()
    bpf.cleanup()
    _emit({"events": 0, "lost": 0, "close_s": time.perf_counter() - t, "rss_mb": rss_mb()})


def cmd_trace(a: argparse.Namespace) -> None:
    import inspect

    from probes import loader
    from tracer.correlate.correlator import Correlator
    from tracer.topology.model import empty_topology

    kw = {}
    if a.ring_pages:
        if "ringbuf_pages" in inspect.signature(loader.LiveSource).parameters:
            kw["ringbuf_pages"] = a.ring_pages
        else:
            loader.RINGBUF_PAGES = a.ring_pages
    if a.all_hooks and "all_hooks" in inspect.signature(loader.LiveSource).parameters:
        kw["all_hooks"] = True
    t_imp = time.perf_counter()
    src = loader.LiveSource(_filter(a.filter, a.port, a.proto), empty_topology(), **kw)
    t_ready = time.perf_counter()
    cpu_ready = time.process_time()  # the consumer's CPU from here on is what the load competes with
    _emit({"ready": True, "import_s": t_imp - T_START, "attach_s": t_ready - t_imp,
           "since_interp_s": t_ready - T_START})
    corr = Correlator()
    events = 0
    os.set_blocking(sys.stdin.fileno(), False)
    stop = False
    while not stop:
        try:
            stop = bool(os.read(sys.stdin.fileno(), 64))
        except BlockingIOError:
            pass
        if a.no_poll:
            time.sleep(0.02)
            continue
        batch = src.poll(50)
        if batch:
            events += len(batch)
            if not a.no_correlate:
                corr.feed(batch)
    for _ in range(1000):  # what is left in the ring
        batch = src.poll(0)
        if not batch:
            break
        events += len(batch)
    consumer_cpu_s = time.process_time() - cpu_ready
    stats = src.stats()
    counts = getattr(src, "kernel_counts", None)  # older trees lack it
    produced = counts()[0] if counts else -1
    t = time.perf_counter()
    src.close()
    _emit({"events": events, "lost": stats.lost, "produced": produced,
           "close_s": time.perf_counter() - t, "rss_mb": rss_mb(), "consumer_cpu_s": consumer_cpu_s})


# The send loops keep the send inline (no call per datagram): the sender's speed is the load.
# A refused datagram (full queue) is part of a flood: not counted, not an error.

def _send_count(send: Callable[[bytes], int], payload: bytes, count: int, rate: int, t0: float) -> int:
    """Exactly ``count`` datagrams, each at its due time when ``rate`` is set."""
    gap = 1.0 / rate if rate else 0.0
    sent = 0
    for i in range(count):
        if gap:
            due = t0 + i * gap
            while time.perf_counter() < due:
                pass
        try:
            send(payload)
            sent += 1
        except OSError:
            pass
    return sent


def _send_paced(send: Callable[[bytes], int], payload: bytes, rate: int, t0: float, end: float) -> int:
    """``rate`` datagrams per second, in bursts each millisecond, until ``end``."""
    burst = max(1, rate // 1000)
    tick, sent = 0, 0
    while time.perf_counter() < end:
        due = t0 + tick / 1000.0
        now = time.perf_counter()
        if now < due:
            if due - now > 0.0005:
                time.sleep(due - now)
            continue
        for _ in range(burst):
            try:
                send(payload)
                sent += 1
            except OSError:
                pass
        tick += 1
    return sent


def _send_flat_out(send: Callable[[bytes], int], payload: bytes, end: float) -> int:
    """As fast as one Python sender goes, until ``end`` (the clock read every 256)."""
    sent = 0
    while True:
        for _ in range(256):
            try:
                send(payload)
                sent += 1
            except OSError:
                pass
        if time.perf_counter() >= end:
            return sent


def cmd_flood(a: argparse.Namespace) -> None:
    from tracer import netns

    with netns.enter("/run/netns/brt-pod-b"):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("0.0.0.0", a.port))  # delivered packets end here (no ICMP unreachable)
    with netns.enter("/run/netns/brt-pod-a"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((a.dest, a.port))
    payload = bytes(a.size)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = ru.ru_utime + ru.ru_stime
    t0 = time.perf_counter()
    if a.count:
        sent = _send_count(s.send, payload, a.count, a.rate, t0)
    elif a.rate:
        sent = _send_paced(s.send, payload, a.rate, t0, t0 + a.duration)
    else:
        sent = _send_flat_out(s.send, payload, t0 + a.duration)
    took = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime - cpu0
    time.sleep(0.05)
    sink.close()
    s.close()
    _emit({"sent": sent, "seconds": took, "pps": sent / took if took else 0.0,
           "cpu_s": cpu, "pkts_per_cpu_s": sent / cpu if cpu else 0.0})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tree", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pipeline")
    q.add_argument("--events", type=int, default=1_000_000)
    q.add_argument("--batch", type=int, default=16380)
    q = sub.add_parser("replay")
    q.add_argument("path")
    q.add_argument("--correlate", action="store_true")
    q = sub.add_parser("rss")
    q.add_argument("--events", type=int, default=1_000_000)
    q.add_argument("--times", type=int, default=3, help="go on to this many times --events")
    q.add_argument("--batch", type=int, default=16380)
    q = sub.add_parser("trace")
    q.add_argument("--filter", choices=("match", "nomatch", "pcap-nomatch"), default="nomatch")
    q.add_argument("--port", type=int, default=5201)
    q.add_argument("--proto", choices=("udp", "tcp"), default="udp")
    q.add_argument("--ring-pages", type=int, default=0)
    q.add_argument("--no-poll", action="store_true")
    q.add_argument("--no-correlate", action="store_true")
    q.add_argument("--all-hooks", action="store_true", help="also the same-crossing tracepoints")
    q = sub.add_parser("floor", help="an empty program on brtrace's tracepoints, until stop")
    q.add_argument("--all-hooks", action="store_true")
    q = sub.add_parser("flood")
    q.add_argument("--dest", default="10.244.1.3")
    q.add_argument("--port", type=int, default=5201)
    q.add_argument("--duration", type=float, default=2.0)
    q.add_argument("--rate", type=int, default=0, help="packets/s (0: as fast as possible)")
    q.add_argument("--count", type=int, default=0, help="send exactly this many, paced at --rate")
    q.add_argument("--size", type=int, default=64)
    a = p.parse_args()
    _setup_path(os.path.abspath(a.tree))
    {"pipeline": cmd_pipeline, "replay": cmd_replay, "rss": cmd_rss, "trace": cmd_trace,
     "floor": cmd_floor, "flood": cmd_flood}[a.cmd](a)


if __name__ == "__main__":
    main()
