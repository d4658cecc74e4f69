"""The pure core of tracing across nodes: clocks, the time merge, the merged
topology, the journey's edges. Synthetic records laid out as the probes write
them (bench/synth.py), two "nodes" cut from one flannel path."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.support.synth import NS, flannel_batch
from tracer.correlate.correlator import Correlator
from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.model import Event, Hook, L4Key
from tracer.multinode.clock import ClockEstimate, ClockSample, Crossing, best_of, tighten
from tracer.multinode.edges import cut_at_edges, with_nodes
from tracer.multinode.merge import SKB_TAG_SHIFT, TimeMerger
from tracer.multinode.nodes import RENAMED_BASE, merge_topologies
from tracer.topology.model import Address, FdbEntry, Link, Netns, Topology, VxlanInfo

NODE1_NS = (NS["pod-a"], NS["node1"])
NODE2_SHIFT = 7_000_000_000  # node2 booted 7 s earlier: its clock reads 7 s more


def test_best_of_takes_the_shortest_round_trip() -> None:
    samples = [ClockSample(0, 5_000 + 900, 5_000 + 950, 2_000),  # rtt 1950
               ClockSample(10_000, 15_000 + 100, 15_000 + 110, 10_210)]  # rtt 200
    est = best_of(samples)
    assert est.samples == 2 and est.uncertainty_ns == 100
    assert est.offset_ns == ((15_100 - 10_000) + (15_110 - 10_210)) // 2


def test_tighten_puts_every_crossing_in_causal_order() -> None:
    rnd = random.Random(7)
    for _ in range(200):
        true = rnd.randint(-10**9, 10**9)
        err = rnd.randint(-200_000, 200_000)  # what the exchange got wrong
        est = {"a": ClockEstimate(0, 0, 1), "b": ClockEstimate(true + err, abs(err) + 50_000, 8)}
        cs = []
        for _ in range(4):  # a -> b then b -> a, a few µs on the wire
            t = rnd.randint(0, 10**9)
            cs.append(Crossing("a", t, "b", t + rnd.randint(2_000, 9_000) + true))
            cs.append(Crossing("b", t + true + 50_000, "a", t + 50_000 + rnd.randint(2_000, 9_000)))
        out = tighten(est, cs, "a")
        b = out["b"]
        for c in cs:  # arrival after departure, on the client's time line
            tx = c.tx_ns - out[c.tx_node].offset_ns
            rx = c.rx_ns - out[c.rx_node].offset_ns
            assert rx > tx
        assert abs(b.offset_ns - true) <= 9_000 and b.tightened
        assert b.uncertainty_ns <= 9_000


def _split(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    on1 = np.isin(arr["netns"], NODE1_NS)
    a, b = arr[on1].copy(), arr[~on1].copy()
    b["ts_ns"] += np.uint64(NODE2_SHIFT)
    return a, b


def _journeys(batches: list) -> list[tuple[tuple[object, ...], list[int]]]:  # type: ignore[type-arg]
    c = Correlator()
    for b in batches:
        c.feed(b)
    return sorted((j.key, [int(e.hook) for e in j.events]) for j in c.journeys.values())


def test_merge_of_two_nodes_correlates_as_one_kernel() -> None:
    from tracer.schema.decode import Decoder

    arr = flannel_batch(18 * 50)
    want = _journeys([Decoder().decode(arr)])
    n1, n2 = _split(arr)
    m = TimeMerger(["node1", "node2"])
    m.clocks = {"node1": ClockEstimate(0, 0), "node2": ClockEstimate(NODE2_SHIFT + 40_000, 150_000)}
    for lo in range(0, len(n1), 100):  # batches as streams deliver them
        m.push("node1", n1[lo:lo + 100], int(n1["ts_ns"][min(lo + 99, len(n1) - 1)]), {}, {})
    m.push("node2", n2, int(n2["ts_ns"].max()), {}, {})
    some, every = m.crossings(limit=18 * 5), m.crossings()
    assert 0 < len(some) < len(every) == 50 and set(some) <= set(every)  # a live trace samples
    m.clocks = tighten(m.clocks, every, "node1")
    # one direction only (pod-a -> pod-b): an upper bound, 1 µs from the truth on the synthetic wire
    assert NODE2_SHIFT - 150_000 <= m.clocks["node2"].offset_ns <= NODE2_SHIFT + 1_000
    out = m.flush()
    assert out is not None and len(out) == len(arr)
    ts = out.arr["ts_ns"]
    assert (np.diff(ts.astype(np.int64)) >= 0).all()
    got = _journeys([out])
    assert [k for k, _ in got] == [k for k, _ in want]
    assert got == want  # every packet: the same hooks in the same order


def test_skb_addresses_never_join_across_nodes() -> None:
    arr = flannel_batch(18)
    n1, n2 = _split(arr)
    m = TimeMerger(["node1", "node2"])
    m.push("node1", n1, 0, {}, {})
    m.push("node2", n2, 0, {}, {})
    out = m.flush()
    assert out is not None
    on1 = np.isin(out.arr["netns"], NODE1_NS)
    s1, s2 = set(out.arr["skb"][on1].tolist()), set(out.arr["skb"][~on1].tolist())
    assert not (s1 & s2)
    assert {(s >> SKB_TAG_SHIFT) & 0xFF for s in s1 if s} != {(s >> SKB_TAG_SHIFT) & 0xFF for s in s2 if s}


def test_watermark_waits_for_every_live_node_and_not_for_a_dead_one() -> None:
    n1, n2 = _split(flannel_batch(36))
    m = TimeMerger(["node1", "node2"], slack_ns=0)
    m.push("node1", n1, int(n1["ts_ns"].max()), {}, {})
    assert m.ready() is None  # node2 has said nothing yet
    m.feeds["node2"].lagging = True  # named as lagging: the others go on
    out = m.ready()
    assert out is not None and len(out) == len(n1)
    m.push("node2", n2[:0], 0, {}, {})  # it speaks again: it holds the line again
    assert not m.feeds["node2"].lagging and m.ready() is None
    m.node_gone("node2")
    assert m.watermark() is not None


def _ns(name: str, inode: int, addr: str, fdb_dst: str = "", init: bool = False) -> Netns:
    eth = Link(2, "eth0", "veth", addresses=(Address(addr, 24),))
    vx = Link(4, "flannel.1", "vxlan", vxlan=VxlanInfo(1, addr, 8472, underlay_ifindex=2))
    fdb = (FdbEntry(4, "aa:bb:cc:dd:ee:ff", dst=fdb_dst),) if fdb_dst else ()
    return Netns(name, inode, links=(eth, vx), fdb=fdb, is_init=init)


def test_merged_topology_renames_colliding_inodes_and_finds_the_underlay() -> None:
    init = 4026531840  # every kernel's initial namespace
    t1 = Topology((_ns("", init, "192.168.50.11", "192.168.50.12", True),))
    t2 = Topology((_ns("", init, "192.168.50.12", "192.168.50.11", True),))
    cl = merge_topologies({"node1": t1, "node2": t2})
    inodes = [ns.inode for ns in cl.topology.namespaces]
    assert inodes[0] == init and inodes[1] >= RENAMED_BASE
    assert cl.node_of == {init: "node1", inodes[1]: "node2"}
    assert cl.remap["node2"] == {init: inodes[1]}
    assert {(u.a, u.b, u.address) for u in cl.underlay} == {("node1", "node2", "192.168.50.12"),
                                                            ("node2", "node1", "192.168.50.11")}
    assert cl.find("node2:host") == ("node2", cl.topology.namespaces[1])
    with pytest.raises(ValueError, match="more than one node"):
        cl.find("host")
    d = cl.to_dict()
    assert [n["node"] for n in d["nodes"]] == ["node1", "node2"]


def test_a_journey_that_leaves_the_seen_nodes_says_so() -> None:
    cl = merge_topologies({"node1": Topology((_ns("brt-node1", 11, "192.168.50.11", "192.168.50.12"),))})
    outer = L4Key(saddr=int.from_bytes(bytes([192, 168, 50, 11]), "little"),
                  daddr=int.from_bytes(bytes([192, 168, 50, 12]), "little"), proto=17, dport=8472)
    ev = Event(1, 0, Hook.NET_DEV_QUEUE, 1, 11, 2, "eth0", 100, outer=outer, vni=1, inner=L4Key(proto=1))
    hops = [Hop(1, 0, "node1", "flannel.1", "vxlan", Verb.ENCAP, "…", netns_inode=11),
            Hop(2, 1, "node1", "eth0", "uplink", Verb.SEND_ENCAP, "…", netns_inode=11, events=(ev,))]
    out, edged = cut_at_edges(with_nodes(hops, cl.node_of), cl)
    assert edged and [h.verb for h in out] == ["encap", "send-encap", "left"]
    assert out[-1].action == "left node1 on eth0 towards 192.168.50.12: no agent there"
    assert all(h.node == "node1" for h in out)
    out2, _ = cut_at_edges(with_nodes(hops, cl.node_of), cl, {})
    assert out2 == out


def test_a_recording_keeps_which_node_each_namespace_is_on() -> None:
    from tracer.multinode.nodes import cluster_of

    t1 = Topology((_ns("brt-node1", 11, "192.168.50.11", "192.168.50.12"),))
    t2 = Topology((_ns("brt-node2", 12, "192.168.50.12", "192.168.50.11"),))
    cl = merge_topologies({"node1": t1, "node2": t2})
    back = cluster_of(Topology.from_dict(cl.topology.to_dict()))  # as a recording's header stores it
    assert dict(back.node_of) == {11: "node1", 12: "node2"} and back.nodes == ("node1", "node2")
    assert {(u.a, u.b) for u in back.underlay} == {("node1", "node2"), ("node2", "node1")}
    old = cl.topology.to_dict()
    for ns in old["namespaces"]:
        del ns["node"]  # a recording made before nodes existed
    assert all(ns.node == "" for ns in Topology.from_dict(old).namespaces)


def test_hop_table_shows_the_node_only_when_hops_are_on_several() -> None:
    from tracer.render.text import hop_table

    one = [Hop(1, 0, "pod-a", "eth0", "pod-eth0", Verb.SEND, "sent", node="n1"),
           Hop(2, 5, "host", "eth0", "uplink", Verb.SEND_ENCAP, "sent encapsulated", node="n1")]
    assert "node" not in hop_table(one)[0]
    two = one + [Hop(3, 9, "host", "eth0", "uplink", Verb.RECV_ENCAP, "received encapsulated", node="n2")]
    lines = hop_table(two)
    assert lines[0].split()[:3] == ["#", "node", "netns"]
    assert lines[3].split()[1:4] == ["n2", "host", "eth0"]


def test_the_watermark_allows_for_each_clock_and_says_when_something_is_due() -> None:
    """A node's mark counts minus its clock's uncertainty (its records may be
    that much later in client time); releasable() is what Session.pump asks
    after each message so a live view gets a due event at once."""
    n1, n2 = _split(flannel_batch(36))
    m = TimeMerger(["node1", "node2"], slack_ns=1_000)
    m.clocks = {"node1": ClockEstimate(0, 0), "node2": ClockEstimate(0, 500_000)}
    t = int(n1["ts_ns"].min())
    m.push("node1", n1, t + 10_000_000, {}, {})
    m.push("node2", n2[:0], t + 400_000, {}, {})
    assert m.watermark() == t + 400_000 - 500_000 - 1_000 and not m.releasable()
    m.push("node2", n2[:0], t + 502_000, {}, {})
    assert m.watermark() == t + 1_000 and m.releasable()
    out = m.ready()
    assert out is not None and (out.arr["ts_ns"].astype(np.int64) <= t + 1_000).all()
