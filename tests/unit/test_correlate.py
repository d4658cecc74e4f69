"""The correlator on real recorded event streams (samples/), no root needed.

Each sample is a recording of the labs made by scripts/make_samples.py; the
tests also doctor those streams (interleave, split, reuse skb addresses,
clone, lose events, remap ids) to check the correlator's rules, not just one
happy path.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from tracer.correlate import Correlator, build_hops
from tracer.correlate.pairing import probe_packet
from tracer.model import ICMP_ECHO, ICMP_ECHOREPLY, IPPROTO_ICMP, Event, Hook
from tracer.record.reader import open_recording
from tracer.topology.model import Topology

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def load(name: str) -> tuple[list[Event], Topology]:
    rec = open_recording(SAMPLES / name)
    return rec.events(), rec.info.topology


def ident_of(events: list[Event]) -> int:
    return next(e.key.sport for e in events if e.key.proto == IPPROTO_ICMP and e.key.is_icmp_echo)


def verbs(events: list[Event], topo: Topology, typ: int, seq: int,
          batches: int = 1) -> list[tuple[str, str, str]]:
    corr = Correlator()
    size = max(1, len(events) // batches)
    for i in range(0, len(events), size):
        corr.feed(events[i:i + size])
    j = corr.icmp_journey(typ, ident_of(events), seq)
    assert j is not None
    return [(h.netns, h.dev, h.verb) for h in build_hops(j, topo)]


def subseq(seen: list[tuple[str, str, str]], want: list[tuple[str, str, str]]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in want)


FLANNEL = [("pod-a", "eth0", "send"), ("node1", "veth-pod-a", "veth-cross"),
           ("node1", "cni0", "bridge-up"), ("node1", "flannel.1", "encap"),
           ("node1", "eth0", "send-encap"), ("node2", "eth0", "recv-encap"),
           ("node2", "flannel.1", "decap"), ("node2", "cni0", "bridge-xmit"),
           ("node2", "veth-pod-b", "bridge-out"), ("pod-b", "eth0", "deliver")]


def test_flannel_sample_has_three_full_round_trips() -> None:
    events, topo = load("flannel-ping.brt")
    corr = Correlator()
    corr.feed(events)
    for seq in (1, 2, 3):
        r = probe_packet(corr, topo, ident_of(events), seq, rtt_ns=1)
        assert subseq([(h.netns, h.dev, h.verb) for h in r.request], FLANNEL), r.request
        assert r.reply and r.reply[0].netns == "pod-b" and r.drop is None


def test_vxlan_hops_follow_the_inner_packet() -> None:
    events, topo = load("flannel-ping.brt")
    corr = Correlator()
    corr.feed(events)
    j = corr.icmp_journey(ICMP_ECHO, ident_of(events), 1)
    assert j is not None
    encapsulated = [e for e in j.events if e.inner is not None]
    assert encapsulated and all(e.vni == 1 and e.outer.dport == 8472 for e in encapsulated)
    assert {e.inner.dst for e in encapsulated if e.inner} == {"10.244.1.3"}


@pytest.mark.parametrize("batches", [1, 3, 17, 1000])
def test_batch_boundaries_do_not_change_journeys(batches: int) -> None:
    events, topo = load("flannel-ping.brt")
    whole = verbs(events, topo, ICMP_ECHO, 2)
    assert verbs(events, topo, ICMP_ECHO, 2, batches=batches) == whole


def test_interleaved_probes_stay_apart() -> None:
    events, topo = load("flannel-ping.brt")
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)  # arrival order scrambled across probes and CPUs
    for seq in (1, 2, 3):
        assert verbs(shuffled, topo, ICMP_ECHO, seq) == verbs(events, topo, ICMP_ECHO, seq)


def test_reused_skb_address_does_not_join_reply_to_request() -> None:
    events, topo = load("flannel-ping.brt")
    ident = ident_of(events)
    req_skb = next(e.skb for e in events if e.key.icmp_type == ICMP_ECHO and e.key.dport == 1)
    reused = [dataclasses.replace(e, skb=req_skb) if e.key.icmp_type == ICMP_ECHOREPLY else e
              for e in events]
    corr = Correlator()
    corr.feed(reused)
    req = corr.icmp_journey(ICMP_ECHO, ident, 1)
    rep = corr.icmp_journey(ICMP_ECHOREPLY, ident, 1)
    assert req is not None and rep is not None and req.jid != rep.jid
    assert all(e.key.icmp_type != ICMP_ECHOREPLY for e in req.events if e.hook != Hook.FIB_TABLE_LOOKUP)


def test_clones_join_their_packet() -> None:
    events, topo = load("flannel-ping.brt")
    clones = [dataclasses.replace(e, skb=e.skb + 0x100, ts_ns=e.ts_ns + 1) for e in events
              if e.hook == Hook.NETIF_RECEIVE_SKB and e.key.dport == 1]
    corr = Correlator()
    corr.feed(events + clones)
    j = corr.icmp_journey(ICMP_ECHO, ident_of(events), 1)
    assert j is not None and sum(1 for e in j.events if e in clones) > 0


def test_lost_events_leave_a_shorter_but_ordered_journey() -> None:
    events, topo = load("flannel-ping.brt")
    ident = ident_of(events)
    lost = [e for e in events if not (e.ifname == "flannel.1" and e.key.dport == 1)]
    corr = Correlator()
    corr.feed(lost)
    j = corr.icmp_journey(ICMP_ECHO, ident, 1)
    assert j is not None
    hops = build_hops(j, topo)
    assert all(h.dev != "flannel.1" or h.verb == "route" for h in hops)
    assert [h.t_ns for h in hops] == sorted(h.t_ns for h in hops)
    assert hops[-1].netns == "pod-b" or any(h.verb == "deliver" for h in hops)


def test_docker_sample_names_the_nat() -> None:
    events, topo = load("docker-nat.brt")
    corr = Correlator()
    corr.feed(events)
    r = probe_packet(corr, topo, ident_of(events), 1, rtt_ns=1)
    nat = [h for h in r.request if "NAT rewrote source 192.168.88.2" in h.action]
    assert nat and nat[0].netns == "docker-host"
    assert any("NAT rewrote destination" in h.action for h in r.reply)
    assert r.reply[-1].netns == "ns0"


def test_nat_that_remaps_the_icmp_id_is_followed_by_skb() -> None:
    events, topo = load("docker-nat.brt")
    ident = ident_of(events)
    # Pretend conntrack remapped the id after the uplink (as it does on a clash).
    outside = _inode(topo, "outside")
    out = [e for e in events if e.netns == outside]
    remapped_skbs = {e.skb for e in out}
    doctored = [dataclasses.replace(e, outer=dataclasses.replace(e.outer, sport=ident ^ 0x55))
                if e.skb in remapped_skbs and e.key.icmp_type == ICMP_ECHO and e.netns == outside
                else e for e in events]
    corr = Correlator()
    corr.feed(doctored)
    j = corr.icmp_journey(ICMP_ECHO, ident, 1)
    assert j is not None
    assert any(e.netns == _inode(topo, "outside") for e in j.events)


def _inode(topo: Topology, label: str) -> int:
    ns = topo.find_netns(label)
    assert ns is not None
    return ns.inode


def test_bridge_drop_names_hop_reason_and_location() -> None:
    events, topo = load("bridge-drop.brt")
    corr = Correlator()
    corr.feed(events)
    r = probe_packet(corr, topo, ident_of(events), 1)
    assert r.status == "dropped" and r.drop is not None
    assert (r.drop.netns, r.drop.dev) == ("bridge-host", "veth10")
    assert r.drop.location.startswith("br_handle_frame") and r.drop.reason


def test_arp_sample_shows_flood_and_fdb_learning() -> None:
    events, topo = load("arp-fdb.brt")
    corr = Correlator()
    corr.feed(events)
    arp = [j for j in corr.journeys.values() if j.key[0] == "arp"]
    assert arp
    hops = [h for j in arp for h in build_hops(j, topo)]
    assert any(h.verb == "bridge-flood" and h.dev == "br0" for h in hops)
    assert any(h.verb == "fdb-learn" for h in hops)


def test_a_function_hook_after_a_route_lookup_joins_its_hop() -> None:
    """With kprobes live, ip_forward on cni0 fires after the route lookup (6.1 VM)."""
    events, topo = load("flannel-ping.brt")
    corr = Correlator()
    corr.feed(events)
    j = corr.icmp_journey(ICMP_ECHO, ident_of(events), 1)
    assert j is not None
    up = next(e for e in j.events if e.ifname == "cni0" and e.hook == Hook.NETIF_RECEIVE_SKB)
    fib = next(e for e in j.events if e.hook == Hook.FIB_TABLE_LOOKUP and e.ts_ns > up.ts_ns)
    fwd = dataclasses.replace(up, hook=Hook.IP_FORWARD, ts_ns=fib.ts_ns + 1)
    corr2 = Correlator()
    corr2.feed(events + [fwd])
    j2 = corr2.icmp_journey(ICMP_ECHO, ident_of(events), 1)
    assert j2 is not None
    before = [(h.netns, h.dev, h.verb) for h in build_hops(j, topo)]
    after = build_hops(j2, topo)
    assert [(h.netns, h.dev, h.verb) for h in after] == before
    cni0 = next(h for h in after if h.verb == "bridge-up")
    assert "ip_forward" in cni0.hooks


def test_a_drop_followed_only_by_a_route_lookup_is_still_the_drop() -> None:
    """Issue 18 item 6: one NEIGH_FAILED drop was UNANSWERED ("a copy was freed")
    for probes whose journey got a later route lookup, DROPPED for the last."""
    from tracer.correlate.journey import Journey

    events, topo = load("bridge-drop.brt")
    corr = Correlator()
    corr.feed(events)
    j = corr.icmp_journey(ICMP_ECHO, ident_of(events), 1)
    assert j is not None
    drop = next(e for e in j.events if e.hook == Hook.KFREE_SKB)
    fib = next(e for e in events if e.hook == Hook.FIB_TABLE_LOOKUP)
    later = Journey(j.jid, j.key)
    for e in j.events:
        later.add(e)
    later.add(dataclasses.replace(fib, ts_ns=drop.ts_ns + 1000))
    verbs_after = [h.verb for h in build_hops(later, topo)]
    assert "drop" in verbs_after and "free-copy" not in verbs_after
