"""Measure recording encodings: JSON lines vs msgspec msgpack (maps, arrays).

    .venv/bin/python bench/record_format.py [--events N] [--json-events M]

Prints encode/decode CPU time and bytes per event for each encoding, then writes
an N-event file with the real RecordWriter and times loading it back into
Event objects in a fresh process (what ``brtrace replay`` does). JSON is slow,
so it runs on ``--json-events`` and is reported per event and scaled to N.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import msgspec

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tracer.model import Event, Hook, L4Key, Route
from tracer.record import RecordWriter
from tracer.record import format as fmt
from tracer.source import SourceInfo
from tracer.topology.model import empty_topology

HOOKS = (Hook.NET_DEV_QUEUE, Hook.NETIF_RECEIVE_SKB, Hook.BR_HANDLE_FRAME,
         Hook.VXLAN_XMIT, Hook.FIB_TABLE_LOOKUP, Hook.KFREE_SKB)


def synthetic(i: int) -> Event:
    """A plausible mix: ICMP hops, some VXLAN-encapsulated, some routes and drops."""
    hook = HOOKS[i % len(HOOKS)]
    outer = L4Key(0x0A0A0001, 0x0A0A0002, 1, i & 0xFFFF, 64 - i % 3, 7, i & 0xFFFF, 8, 0)
    vx = hook == Hook.VXLAN_XMIT
    return Event(
        ts_ns=1_000_000_000_000 + i * 2_000, cpu=i % 4, hook=hook,
        skb=0xFFFF888000000000 + (i // 6) * 256, netns=4026531840 + i % 5,
        ifindex=i % 7 + 1, ifname=f"veth{i % 7:04x}", length=98 + (50 if vx else 0),
        src_mac="02:42:ac:11:00:02", dst_mac="02:42:ac:11:00:03", ethertype=0x800,
        outer=outer, vni=1 if vx else 0,
        inner=L4Key(0x0AF40102, 0x0AF40203, 1, i & 0xFFFF, 63, 7, i, 8, 0) if vx else None,
        drop_reason=2 if hook == Hook.KFREE_SKB else 0,
        reason_name="NOT_SPECIFIED" if hook == Hook.KFREE_SKB else "",
        location_sym="br_handle_frame+0x1c4" if hook == Hook.KFREE_SKB else "",
        route=Route(254, 0, 0, 3, 3, 0x0A0A0001) if hook == Hook.FIB_TABLE_LOOKUP else None,
        headers=bytes(range(64)) + (i & 0xFFFFFFFF).to_bytes(4, "little") * (26 if vx else 1),
    )


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds of ``fn`` with the collector paused, as the reader runs."""
    gc.collect()
    gc.disable()
    try:
        t = time.process_time()
        out = fn()
        return time.process_time() - t, out
    finally:
        gc.enable()


def batches(events: Sequence[Event]) -> list[Sequence[Event]]:
    return [events[i:i + fmt.BATCH_EVENTS] for i in range(0, len(events), fmt.BATCH_EVENTS)]


def bench_json(events: Sequence[Event]) -> tuple[float, float, int]:
    te, blob = timed(lambda: "\n".join(json.dumps(e.to_dict()) for e in events).encode())
    assert isinstance(blob, bytes)
    td, out = timed(lambda: [Event.from_dict(json.loads(line)) for line in blob.splitlines()])
    assert out == list(events)
    return te, td, len(blob)


def bench_msgpack_maps(events: Sequence[Event]) -> tuple[float, float, int]:
    enc, dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(list[Event])
    te, blobs = timed(lambda: [enc.encode(b) for b in batches(events)])
    assert isinstance(blobs, list)
    td, out = timed(lambda: [e for b in blobs for e in dec.decode(b)])
    assert out == list(events)
    return te, td, sum(map(len, blobs))


def bench_msgpack_arrays(events: Sequence[Event]) -> tuple[float, float, int]:
    te, blobs = timed(lambda: [fmt.encode_batch(b) for b in batches(events)])
    assert isinstance(blobs, list)
    td, out = timed(lambda: [e for b in blobs for e in fmt.decode_batch(b)])
    assert out == list(events)
    return te, td, sum(map(len, blobs))


def report(name: str, n: int, scale_to: int, figures: tuple[float, float, int]) -> None:
    te, td, size = figures
    print(f"{name:24s} encode {te / n * 1e6:6.2f} us/ev  decode {td / n * 1e6:6.2f} us/ev  "
          f"size {size / n:6.1f} B/ev  (~{td / n * scale_to:5.1f} s to decode {scale_to:,})")


LOADER = """
import sys, time
sys.path.insert(0, {root!r})
from tracer.record import open_recording
t, c = time.perf_counter(), time.process_time()
with open_recording({path!r}) as r:
    n = len(r.events())
print(n, time.perf_counter() - t, time.process_time() - c)
"""


def bench_file(n: int) -> None:
    events = [synthetic(i) for i in range(n)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.brt")
        t = time.perf_counter()
        with RecordWriter(path, SourceInfo(live=True, topology=empty_topology())) as w:
            for b in batches(events):
                w.write_batch(b)
        tw = time.perf_counter() - t
        size = os.path.getsize(path)
        del events
        gc.collect()
        for _ in range(3):
            out = subprocess.run([sys.executable, "-c", LOADER.format(root=root, path=path)],
                                 check=True, capture_output=True, text=True).stdout.split()
            print(f"file of {n:,} events: {size / 1e6:.1f} MB, written in {tw:.2f} s, "
                  f"loaded into Event objects in {float(out[1]):.2f} s wall, "
                  f"{float(out[2]):.2f} s CPU (fresh process)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--json-events", type=int, default=50_000)
    ap.add_argument("--sample-events", type=int, default=200_000)
    a = ap.parse_args()
    sample = [synthetic(i) for i in range(a.sample_events)]
    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    report("json lines", a.json_events, a.events, bench_json(sample[:a.json_events]))
    report("msgpack maps (batches)", len(sample), a.events, bench_msgpack_maps(sample))
    report("msgpack arrays (chosen)", len(sample), a.events, bench_msgpack_arrays(sample))
    del sample
    bench_file(a.events)


if __name__ == "__main__":
    main()
