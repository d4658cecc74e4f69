"""Diagnosis on recorded faults: real kernel events + the topology snapshot of the moment.

The recordings come from ``scripts/record_faults.py`` (one ``brtrace ping``
per lab fault); ``samples/bridge-drop.brt`` is the bridge sample. No root.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracer.correlate.correlator import Correlator
from tracer.correlate.pairing import Packet, probe_packet
from tracer.correlate.vocab import Verb
from tracer.diagnose import diagnose, find_drop, in_netns
from tracer.drops import DropTable, rows_json, table_text
from tracer.model import Event
from tracer.record.reader import open_recording
from tracer.render.text import probe_json, probe_text
from tracer.topology.model import Topology

ROOT = Path(__file__).resolve().parents[2]
FAULTS = ROOT / "tests" / "data" / "faults"

# fault -> (kind, hop netns, hop dev, reasons, text the fix must contain)
EXPECTED = {
    "ip-forward-off": ("ip-forward-off", "node1", "cni0", {"IP_INADDRERRORS"},
                       "ip netns exec brt-node1 sysctl -w net.ipv4.ip_forward=1"),
    "ip6-disabled": ("ipv6-disabled", "node2", "flannel.1", {"IPV6DISABLED"},
                     "ip netns exec brt-node2 sysctl -w net.ipv6.conf.flannel/1.disable_ipv6=0"),
    "route6-missing": ("no-route", "node1", "cni0", {"IP_INNOROUTES"},
                       "ip route add fd00:10:244:1::/64 via fd00:10:244:1:: dev flannel.1 onlink"),
    "forward-drop": ("netfilter-drop", "docker-host", "veth1p", {"NETFILTER_DROP"},
                     "ip netns exec brt-docker-host iptables-save -c"),  # no counters in a recording
    "stp-blocking": ("bridge-port-blocked", "bridge-host", "veth10", {"NO_TX_TARGET", "NOT_SPECIFIED"},
                     "bridge link set dev veth20 state 3"),
    "port-down": ("port-down", "bridge-host", "veth10", {"NO_TX_TARGET", "NOT_SPECIFIED"},
                  "ip netns exec brt-bridge-host ip link set dev veth20 up"),
    "vxlan-mtu": ("mtu", "node2", "eth0", {"NOT_SPECIFIED"},
                  "ip netns exec brt-node1 ip link set dev eth0 mtu 1500"),
    "vxlan-fdb-missing": ("vxlan-fdb-missing", "node1", "flannel.1", {"NO_TX_TARGET"},
                          "bridge fdb append 02:b7:0a:f4:01:00 dev flannel.1 dst 192.168.50.12"),
    "route-missing": ("no-route", "node1", "cni0", {"IP_INNOROUTES"},
                      "ip route add 10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink"),
    "rp-filter": ("rp-filter", "node2", "eth0", {"IP_RPFILTER"},
                  "ip netns exec brt-node2 sysctl -w net.ipv4.conf.all.rp_filter=2"),
    "masquerade-missing": ("no-return-route", "outside", "eth0", {""},
                           "iptables -t nat -A POSTROUTING -s 192.168.88.0/24 ! -o br0 -j MASQUERADE"),
}


def load(path: Path) -> tuple[Packet, Topology, list[Event]]:
    with open_recording(str(path)) as rec:
        corr = Correlator()
        events: list[Event] = []
        for batch in rec.batches():
            corr.feed(batch)
            events += batch
        topo = rec.info.topology
        ident = int(rec.info.filter.split()[2])  # "icmp id N"
    return probe_packet(corr, topo, ident, 1), topo, events


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_fault_recording_diagnosed(fault: str) -> None:
    kind, netns, dev, reasons, fix = EXPECTED[fault]
    p, topo, _ = load(FAULTS / f"{fault}.brt")
    assert p.status != "delivered"
    d = diagnose(p, topo)
    assert d is not None and d.hop is not None
    assert (d.kind, d.hop.netns, d.hop.dev) == (kind, netns, dev), d
    assert d.hop.reason in reasons
    assert fix in d.fix
    assert d.evidence and d.cause


def test_bridge_drop_sample() -> None:
    p, topo, _ = load(ROOT / "samples" / "bridge-drop.brt")
    d = diagnose(p, topo)
    assert d is not None and d.kind == "bridge-port-blocked"
    assert "veth20" in d.cause and "disabled" in d.cause
    assert d.fix == "ip netns exec brt-bridge-host bridge link set dev veth20 state 3"


def test_rp_filter_drop_after_deliver_is_found() -> None:
    """The hop builder calls the free after 'deliver' consumed; unanswered, it is the drop."""
    p, _, _ = load(FAULTS / "rp-filter.brt")
    found = find_drop(p)
    assert found is not None and found[0].reason == "IP_RPFILTER"


def test_delivered_probe_has_no_diagnosis() -> None:
    p, topo, _ = load(ROOT / "samples" / "flannel-ping.brt")
    assert p.reply and p.reply[-1].verb in (Verb.DELIVER, Verb.ROUTE_LOCAL, Verb.CONSUMED)
    assert diagnose(p, topo) is None


def test_ping_text_and_json_carry_the_diagnosis() -> None:
    p, topo, _ = load(FAULTS / "ip-forward-off.brt")
    text = probe_text(p, "pod-a (10.244.0.2)", "10.244.1.3", topo)
    assert any(line.startswith("  dropped at hop") for line in text)  # existing line kept
    i = text.index("  diagnosis:")
    assert "ip_forward" in text[i + 1]
    assert text[-1] == "    fix: ip netns exec brt-node1 sysctl -w net.ipv4.ip_forward=1"
    obj = json.loads(probe_json(p, topo))
    assert obj["drop"]["reason"] == "IP_INADDRERRORS"
    assert obj["diagnosis"]["fix"].endswith("net.ipv4.ip_forward=1")
    assert "ip_forward" in obj["diagnosis"]["cause"]
    assert "diagnosis" not in json.loads(probe_json(p))  # no topology, no guess


def test_in_netns_command_prefix() -> None:
    topo = load(FAULTS / "ip-forward-off.brt")[1]
    ns = topo.find_netns("node1")
    assert in_netns(ns, "sysctl -w x=1") == "ip netns exec brt-node1 sysctl -w x=1"
    assert in_netns(None, "true") == "true"


def test_drop_table_groups_recorded_drops() -> None:
    _, topo, events = load(FAULTS / "vxlan-fdb-missing.brt")
    t = DropTable(topo)
    n = t.feed(events)
    assert n >= 1 and t.total == n
    rows = t.snapshot(2.0)
    top = rows[0]
    assert (top.netns, top.dev, top.reason) == ("node1", "flannel.1", "NO_TX_TARGET")
    assert top.per_s == top.count / 2.0 and top.location.startswith("vxlan_xmit")
    assert all(r.count == 0 for r in t.snapshot(1.0))  # a new interval starts empty
    assert t.totals(4.0)[0].total == top.total
    assert "NO_TX_TARGET" in "\n".join(table_text(rows, "t"))
    obj = json.loads(rows_json(rows, 2.0, 2.0))
    assert obj["groups"][0]["reason"] == "NO_TX_TARGET"
