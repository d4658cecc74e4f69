"""Hop and route records made whole events (tracer/schema/hops.py, routes.py, probes/drain.py).

The probes write a packet's later hooks, while its bytes stay the same, as
hop records naming their base record (brtrace.c: emit_hop). What the drain
hands out must be exactly the events full records would have been, whatever
drain each hop and its base land in. Synthetic rings, no root.
"""

from __future__ import annotations

import time

import numpy as np

from probes.drain import RingDrain
from tests.support.synth import SyntheticRing, flannel_batch
from tracer.schema.event import (
    F_ROUTE,
    HOP_FIELDS,
    event_dtype,
    hop_dtype,
    hop_record_dtype,
    record_dtype,
    route_dtype,
    route_record_dtype,
)
from tracer.schema.hops import MAX_WAIT_NS, HopExpander
from tracer.schema.routes import route_events


def _split(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``truth`` (events) as the probes would write it: (full records, hops).

    An event of the same skb as its CPU's last full record becomes a hop
    (two in three of them), its other fields made its base's, as equal bytes
    make them; every third stays a full record and a new base."""
    last: dict[int, int] = {}
    hop_of: dict[int, int] = {}
    for i in range(len(truth)):
        e = truth[i]
        if e["flags"] & F_ROUTE:
            continue
        b = last.get(int(e["cpu"]))
        if b is not None and truth[b]["skb"] == e["skb"] and i % 3:
            keep = {n: e[n] for n in HOP_FIELDS}
            truth[i] = truth[b]
            for n, v in keep.items():
                truth[i][n] = v
            hop_of[i] = b
        else:
            last[int(e["cpu"])] = i
    hops = np.zeros(len(hop_of), dtype=hop_dtype())
    for k, (i, b) in enumerate(sorted(hop_of.items())):
        for n in HOP_FIELDS:
            hops[k][n] = truth[i][n]
        hops[k]["base_ts"] = truth[b]["ts_ns"]
    full = np.ones(len(truth), dtype=bool)
    full[list(hop_of)] = False
    return truth[full], hops


def _records(events: np.ndarray) -> np.ndarray:
    out = np.zeros(len(events), dtype=record_dtype())
    out["ev"] = events
    return out


def _hop_records(hops: np.ndarray) -> np.ndarray:
    out = np.zeros(len(hops), dtype=hop_record_dtype())
    out["ev"] = hops
    return out


def _until(drain: RingDrain, got: list[np.ndarray], want: int, timeout_s: float = 5.0) -> None:
    """Batches appended to ``got`` until it holds ``want`` records (or the time is up)."""
    end = time.monotonic() + timeout_s
    while sum(map(len, got)) < want and time.monotonic() < end:
        arr = drain.get(50)
        if arr is not None:
            got.append(arr)


def _by_time(rows: np.ndarray) -> np.ndarray:
    return rows[np.argsort(rows["ts_ns"], kind="stable")]


def test_each_hop_becomes_the_event_a_full_record_would_have_been() -> None:
    truth = flannel_batch(18 * 40)
    full, hops = _split(truth)
    assert len(hops) > len(truth) // 4  # the split made many hops
    exp = HopExpander()
    whole = exp.expand(_records(full), _hop_records(hops))
    assert exp.expanded == len(hops) and exp.pending == 0
    got = _by_time(np.concatenate([full, whole["ev"]]))
    assert got.tobytes() == _by_time(truth).tobytes()


def test_a_base_from_earlier_drains_is_found() -> None:
    """A hop read in drain k names a base drain k-1 read (even one its CPU
    followed with another base before drain k-1 ended: written between drain
    k-1's read of the hop ring and of the others), or its CPU's last base of
    drain k-2 or before."""
    truth = flannel_batch(18 * 12)
    full, hops = _split(truth)
    exp = HopExpander()
    cpu0 = np.flatnonzero(full["cpu"] == 0)
    b1, b2 = cpu0[0], cpu0[1]  # two bases of CPU 0, b2 the later
    hop_b1 = np.zeros(1, dtype=hop_dtype())
    hop_b1[0] = hops[0]
    hop_b1[0]["cpu"], hop_b1[0]["base_ts"] = 0, full[b1]["ts_ns"]
    assert exp.expand(_records(full[:b2 + 1]), _hop_records(hop_b1[:0])).size == 0
    # retries between drains (get() with nothing new) do not count as drains
    exp.expand(_records(full[:0]), _hop_records(hop_b1[:0]), drained=False)
    got = exp.expand(_records(full[b2 + 1:b2 + 1]), _hop_records(hop_b1))  # drain k: b1 in k-1
    assert len(got) == 1 and got["ev"]["ifname"][0] == hop_b1["ifname"][0]
    assert got["ev"]["headers"][0] == full[b1]["headers"]
    exp.expand(_records(full[:0]), _hop_records(hop_b1[:0]))  # one more drain: b2 now 2 back
    hop_b2 = hop_b1.copy()
    hop_b2[0]["base_ts"] = full[b2]["ts_ns"]
    got = exp.expand(_records(full[:0]), _hop_records(hop_b2))
    assert len(got) == 1 and got["ev"]["skb"][0] == hop_b2["skb"][0] and exp.orphans == 0


def test_a_hop_waits_for_a_late_base_and_counts_lost_if_it_never_comes() -> None:
    truth = flannel_batch(18 * 4)
    full, hops = _split(truth)
    now = [0]
    exp = HopExpander(clock=lambda: now[0])
    assert exp.expand(_records(full[:0]), _hop_records(hops)).size == 0  # bases not read yet
    assert exp.pending == len(hops)
    assert len(exp.expand(_records(full), _hop_records(hops[:0]))) == len(hops)
    exp.expand(_records(full[:0]), _hop_records(hops[:0]))  # the bases move back two drains:
    exp.expand(_records(full[:0]), _hop_records(hops[:0]))  # now each CPU's last only
    stray = hops[:1].copy()
    stray["base_ts"] = 1  # a base no drain ever held
    exp.expand(_records(full[:0]), _hop_records(stray))
    assert exp.waiting_from() == int(stray["ts_ns"][0])
    now[0] += MAX_WAIT_NS
    exp.expand(_records(full[:0]), _hop_records(stray[:0]))
    assert exp.pending == 1 and exp.orphans == 0  # still waiting
    now[0] += 1
    exp.expand(_records(full[:0]), _hop_records(stray[:0]))
    assert exp.orphans == 1 and exp.pending == 0 and exp.waiting_from() is None


def test_two_cpus_records_at_the_same_nanosecond_are_told_apart() -> None:
    truth = flannel_batch(18 * 2)
    full, hops = _split(truth)
    a, b = np.flatnonzero(full["cpu"] == 0)[0], np.flatnonzero(full["cpu"] == 1)[0]
    full[a]["ts_ns"] = full[b]["ts_ns"]
    full[a]["vni"], full[b]["vni"] = 100, 101  # a field hops take from their base
    hop = np.zeros(2, dtype=hop_dtype())
    for k, cpu in enumerate((1, 0)):
        hop[k]["cpu"], hop[k]["base_ts"], hop[k]["ts_ns"] = cpu, full[a]["ts_ns"], 5 + k
    got = HopExpander().expand(_records(full), _hop_records(hop))
    assert got["ev"]["cpu"].tolist() == [1, 0]
    assert got["ev"]["vni"].tolist() == [101, 100]


def test_the_drain_hands_out_hops_whole_and_in_time_order() -> None:
    truth = flannel_batch(18 * 300)
    full, hops = _split(truth)
    main, hop_ring = SyntheticRing(1 << 20), SyntheticRing(1 << 18, dtype=hop_record_dtype())
    drain = RingDrain(main.ring, hops=hop_ring.ring)
    try:
        got: list[np.ndarray] = []
        f = h = 0
        end = time.monotonic() + 10
        while (f < len(full) or h < len(hops)) and time.monotonic() < end:
            f += main.push(full[f:f + 500])  # each hop after its base, as the probes write them
            upto = (np.searchsorted(hops["ts_ns"], full["ts_ns"][f - 1], "right")
                    if f < len(full) else len(hops))
            h += hop_ring.push(hops[h:upto])
            arr = drain.get(20)
            if arr is not None:
                got.append(arr)
        _until(drain, got, len(truth))
    finally:
        drain.close()
    out = np.concatenate(got)["ev"]
    assert drain.hops.expanded == len(hops) and drain.hops.orphans == 0
    assert np.all(np.diff(out["ts_ns"].astype(np.int64)) >= 0)
    assert out.tobytes() == _by_time(truth).tobytes()


def test_a_route_record_is_the_whole_event_the_probes_would_have_written() -> None:
    """brtrace.c's whole-event path for an IPv4 lookup: the record cleared,
    then the route's fields, the flow's addresses and protocol in outer."""
    r = np.zeros(2, dtype=route_dtype())
    r["ts_ns"], r["skb"], r["cpu"], r["hook"], r["flags"] = [7, 9], [0, 0xFFFF8880], [0, 1], 5, F_ROUTE
    r["netns"], r["ifindex"], r["ifname"] = 4026532001, 3, b"flannel.1"
    r["fib_table"], r["fib_err"], r["fib_oif"], r["fib_iif"] = 254, [0, -101], 0, 1
    r["fib_nh_ifindex"], r["fib_gw"] = 3, 0x000AF40A
    r["saddr"], r["daddr"], r["proto"] = 0x0200F40A, 0x0301F40A, 17
    want = np.zeros(2, dtype=event_dtype())
    for name in ("ts_ns", "skb", "cpu", "hook", "flags", "netns", "ifindex", "ifname", "fib_table",
                 "fib_err", "fib_oif", "fib_iif", "fib_nh_ifindex", "fib_gw"):
        want[name] = r[name]
    want["outer"]["saddr"], want["outer"]["daddr"], want["outer"]["proto"] = r["saddr"], r["daddr"], 17
    want["outer"]["icmp_type"] = 0xFF
    recs = np.zeros(2, dtype=route_record_dtype())
    recs["ev"] = r
    got = route_events(recs, record_dtype())
    assert got["ev"].tobytes() == want.tobytes()
    assert (got["rb_len"] == event_dtype().itemsize).all()  # what the agents' wire checks


def test_what_follows_a_hop_waiting_for_its_base_waits_with_it() -> None:
    """A base still behind a record being written comes a drain after its hop:
    the events stamped after the hop wait too, so the stream stays in time
    order, and the read mark stays before them."""
    truth = flannel_batch(18 * 6)
    full, hops = _split(truth)
    hop = hops[len(hops) // 2:len(hops) // 2 + 1]
    base = np.flatnonzero(full["ts_ns"] == hop["base_ts"][0])[0]
    later = full[full["ts_ns"] > hop["ts_ns"][0]]
    main, hop_ring = SyntheticRing(1 << 20), SyntheticRing(1 << 16, dtype=hop_record_dtype())
    drain = RingDrain(main.ring, hops=hop_ring.ring)
    try:
        hop_ring.push(hop)
        main.push(later)  # read before the base
        got = [a for a in (drain.get(30) for _ in range(5)) if a is not None]
        assert sum(map(len, got)) == 0  # everything after the waiting hop waits
        assert drain.read_to_ns <= int(hop["ts_ns"][0])  # what is stamped before it went out
        main.push(full[base:base + 1])
        _until(drain, got, len(later) + 2)
    finally:
        drain.close()
    out = np.concatenate(got)["ev"]
    assert len(out) == len(later) + 2 and drain.hops.expanded == 1
    assert np.all(np.diff(out["ts_ns"].astype(np.int64)) >= 0)
