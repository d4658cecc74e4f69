"""The identity memo behind the hop builder's topology questions (tracer/memo.py).

A wrong memo would name hops after the wrong namespace silently, so these
check the three ways it could: a second topology sharing the first one's id,
a stale answer after the topology changed, and unbounded growth.
"""

from __future__ import annotations

from pathlib import Path

from tracer.correlate.place import place_of
from tracer.memo import IdentityMemo
from tracer.model import Event, Hook
from tracer.record.reader import open_recording
from tracer.topology.model import Address, Link, Netns, Topology

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _topo(name: str, addr: str) -> Topology:
    link = Link(ifindex=2, name="eth0", kind="veth", mac="02:00:00:00:00:01",
                addresses=(Address(addr, 24),))
    return Topology(namespaces=(Netns(name, 4026532001, links=(link,)),))


def _event(netns: int, ifindex: int) -> Event:
    return Event(ts_ns=1, cpu=0, hook=Hook.NETIF_RECEIVE_SKB, skb=1, netns=netns, ifindex=ifindex,
                 ifname="", length=84)


def test_answers_once_per_object_and_key() -> None:
    calls: list[tuple[str, int]] = []

    def fn(obj: str, key: int) -> str:
        calls.append((obj, key))
        return f"{obj}:{key}"

    memo: IdentityMemo[str, int, str] = IdentityMemo(fn)
    a = "alpha"
    assert [memo(a, 1), memo(a, 1), memo(a, 2)] == ["alpha:1", "alpha:1", "alpha:2"]
    assert calls == [("alpha", 1), ("alpha", 2)]


def test_a_new_object_with_a_reused_id_is_asked_again() -> None:
    """Ids are reused once an object is gone. An entry left by a topology that
    had the id a new one has now (made here directly: when CPython reuses an id
    is up to its allocator) must not answer for the new one."""
    memo: IdentityMemo[Topology, str, bool] = IdentityMemo(
        lambda t, addr: any(ns.owns_address(addr) for ns in t.namespaces))
    gone, new = _topo("brt-one", "10.0.0.1"), _topo("brt-two", "10.0.0.9")
    assert memo(gone, "10.0.0.1") is True
    memo._answers[(id(new), "10.0.0.1")] = (gone, True)  # as if ``new`` had taken gone's id
    assert memo(new, "10.0.0.1") is False
    assert memo(new, "10.0.0.1") is False and memo(gone, "10.0.0.1") is True


def test_bounded_in_answers_and_in_objects_held() -> None:
    """A live view takes a new topology now and then: the memo must not keep them all."""
    memo: IdentityMemo[str, int, int] = IdentityMemo(lambda _o, k: k, size=8)
    for k in range(100):
        memo("o", k)
    assert len(memo) <= 8
    held: IdentityMemo[Topology, str, bool] = IdentityMemo(
        lambda t, addr: any(ns.owns_address(addr) for ns in t.namespaces), objects=4)
    snapshots = [_topo(f"brt-{i}", f"10.0.0.{i}") for i in range(10)]
    for i, t in enumerate(snapshots):
        assert held(t, f"10.0.0.{i}") is True
        assert held.objects() <= 4
    assert held(snapshots[-1], "10.0.0.9") is True and held(snapshots[0], "10.0.0.0") is True


def test_place_follows_the_topology_it_is_asked_about() -> None:
    """Two snapshots of one namespace (a link renamed between them): each hop is
    named after the topology passed in, never after a remembered earlier one."""
    before = _topo("brt-pod-a", "10.0.0.1")
    renamed = Link(ifindex=2, name="eth9", kind="veth", mac="02:00:00:00:00:01")
    after = Topology(namespaces=(Netns("brt-pod-a", 4026532001, links=(renamed,)),))
    ev = _event(4026532001, 2)
    assert place_of(before, ev, None).dev == "eth0"
    assert place_of(after, ev, None).dev == "eth9"
    assert place_of(before, ev, None).dev == "eth0"
    assert place_of(before, ev, None) is place_of(before, ev, None)


def test_route_and_address_answers_match_a_recorded_topology() -> None:
    """The memoised Netns questions answer as the scans did, on a recorded lab's topology."""
    with open_recording(SAMPLES / "flannel-ping.brt") as rec:
        topo = rec.info.topology
    assert len(topo.namespaces) >= 4
    for ns in topo.namespaces:
        for ln in ns.links:
            for a in ln.addresses:
                assert ns.owns_address(a.address) and ns.owns_address(a.address)
    node1 = topo.find_netns("node1")
    assert node1 is not None
    route = node1.route_for("10.244.1.3")
    assert route is not None and route is node1.route_for("10.244.1.3")
    assert route.dst == "10.244.1.0/24"
    assert not any(ns.owns_address("203.0.113.77") for ns in topo.namespaces)
