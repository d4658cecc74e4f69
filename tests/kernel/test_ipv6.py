"""IPv6 end to end on the dual-stack labs: real netns, bridges, VXLAN, eBPF events.

An ICMPv6 ping pod-a → pod-b on flannel walks the same hops as IPv4 (the
IPv6 frame inside the IPv4 VXLAN underlay); across the bridge lab the
neighbour discovery that precedes the echo is seen at the bridge's ports;
IPv6 forwarding turned off in node1, IPv6 disabled on node2's flannel.1 and
node1's lost route to node2's range are each a named drop with its fix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.kernel.test_ping import FLANNEL_REPLY, FLANNEL_REQUEST, assert_subsequence, no_brtrace_programs
from tests.support.drain import drain_quiet
from tracer.lab import LabInfo, fault
from tracer.lab.bridge import ADDR6
from tracer.lab.build import ns_name
from tracer.record import open_recording

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "brtrace-json.schema.json").read_text())
POD_A6, POD_B6 = "fd00:10:244::2", "fd00:10:244:1::3"


def lines(out: str) -> list[dict[str, Any]]:
    recs = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    for r in recs:
        jsonschema.validate(r, SCHEMA)
    assert recs and recs[-1]["type"] == "summary", out
    return [r for r in recs if r["type"] == "packet"]


def run(*args: str, rc: int = 0) -> str:
    proc = subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == rc, proc.stderr + proc.stdout
    return proc.stdout


def test_flannel_ipv6_pod_to_pod_full_path_both_ways(flannel_lab: LabInfo, tmp_path: Path) -> None:
    rec = tmp_path / "v6.brt"
    res = lines(run("ping", POD_B6, "--from", "pod-a", "-c", "2", "-i", "0.2", "--json",
                    "--record", str(rec)))
    assert [p["seq"] for p in res] == [1, 2]
    for p in res:
        assert p["status"] == "delivered", p
        assert_subsequence(p["request"], FLANNEL_REQUEST)
        assert_subsequence(p["reply"], FLANNEL_REPLY)
        first = p["request"][0]  # pod-a's own lookup, before its packet exists (FIB6_ADDR_A)
        assert (first["verb"], first["netns"]) == ("route", "pod-a"), p["request"]
        assert "matches default via fd00:10:244::1 dev eth0" in first["action"], first
        sent = next(h for h in p["request"] if h["verb"] == "send")
        assert (sent["src"], sent["dst"], sent["proto"]) == (POD_A6, POD_B6, "icmpv6")
        assert sent["icmp"]["type"] == 128 and sent["icmp"]["id"] == p["id"]
        back = next(h for h in p["reply"] if h["verb"] == "send")
        assert (back["src"], back["dst"], back["icmp"]["type"]) == (POD_B6, POD_A6, 129)
        encap = next(h for h in p["request"] if h["verb"] == "send-encap")
        assert encap["src"] == POD_A6 and encap["outer"]["vni"] == 1  # IPv6 inside the IPv4 underlay
        assert encap["outer"]["src"] == "192.168.50.11" and encap["outer"]["dport"] == 8472
        layers = [x["layer"] for x in encap["headers"]]
        assert layers[:4] == ["ethernet", "ipv4", "udp", "vxlan"] and "ipv6" in layers[4:]
        routes = [h for h in p["request"] if h["verb"] == "route" and h["netns"] == "node1"]
        assert any("fd00:10:244:1::/64" in h["action"] for h in routes), routes
    # the gateway is the lookup's own (fib6_table_lookup's next hop), not the topology's
    with open_recording(rec) as r:
        gws = {(e.outer.dst, e.route.via) for e in r.events()
               if e.route is not None and e.outer.v6 and e.route.nh_ifindex and not e.route.err}
    assert ("fd00:10:244:1::3", "fd00:10:244:1::") in gws  # node1 → flannel.1, onlink via node2's
    assert ("fd00:10:244::2", "fd00:10:244::") in gws  # node2 → flannel.1, the reply's
    assert ("fd00:10:244::2", "fd00:10:244:1::1") in gws  # pod-b's default route via cni0
    assert no_brtrace_programs()


def test_bridge_ipv6_ping_with_neighbour_discovery(bridge_lab: LabInfo, tmp_path: Path) -> None:
    """The neighbour cache is flushed first, so nns1 must solicit nns2 across br0."""
    for ns in ("nns1", "nns2"):
        subprocess.run(["ip", "netns", "exec", ns_name(ns), "ip", "-6", "neigh", "flush", "all"],
                       check=True, timeout=10)
    rec = tmp_path / "v6.brt"
    run("record", "-o", str(rec), "icmp6", "--", "ip", "netns", "exec", ns_name("nns1"),
        "ping", "-6", "-c", "1", "-W", "2", ADDR6["nns2"])
    pkts = lines(run("replay", str(rec), "--json"))
    ndp = [h for p in pkts for h in p.get("request", []) + p.get("reply", [])
           if h.get("icmp") and h["icmp"]["type"] in (135, 136)]
    solicit = [h for h in ndp if h["icmp"]["type"] == 135]
    advert = [h for h in ndp if h["icmp"]["type"] == 136]
    assert solicit and advert, [p["what"] for p in pkts]
    assert {h["netns"] for h in solicit} >= {"nns1", "bridge-host"}
    assert any(h["dev"] in ("veth10", "veth20", "br0") for h in solicit)
    ns_layer = next(x for h in solicit for x in h["headers"] if x["layer"] == "icmpv6")
    assert ns_layer["name"] == "neighbor-solicitation" and ns_layer["target"] == ADDR6["nns2"]
    echo = [p for p in pkts if any(h.get("icmp", {}).get("type") == 128 for h in p.get("request", []))]
    assert echo and echo[0]["status"] == "delivered", echo


def test_ipv6_forwarding_off_is_diagnosed_with_its_fix(flannel_lab: LabInfo) -> None:
    f = fault.get("ip6-forward-off")
    assert lines(run("ping", *f.ping_args(), "-c", "1", "--json"))[0]["status"] == "delivered"
    assert fault.break_("ip6-forward-off")
    try:
        p = lines(run("ping", *f.ping_args(), "-c", "1", "--json", rc=1))[0]
    finally:
        fault.fix("ip6-forward-off")
    assert p["status"] == "dropped", p
    d = p["diagnosis"]
    assert d["kind"] == "ip-forward-off" and (d["hop"]["netns"], d["hop"]["dev"]) == ("node1", "cni0")
    assert "IPv6 forwarding is off in node1" in d["cause"]
    assert d["fix"] == "ip netns exec brt-node1 sysctl -w net.ipv6.conf.all.forwarding=1"
    assert lines(run("ping", *f.ping_args(), "-c", "1", "--json"))[0]["status"] == "delivered"


def test_trace_host_ipv6_follows_the_ping_across_vxlan(flannel_lab: LabInfo) -> None:
    """``--host`` with an IPv6 address: the expression, looking inside VXLAN, so
    the encapsulated crossing on the underlay joins each packet's journey."""
    out = run("trace", "--json", "--host", POD_B6, "--proto", "icmp", "--duration", "10", "--",
              "ip", "netns", "exec", "brt-pod-a", "ping", "-6", "-c", "1", POD_B6)
    pkts = [{**p, "hops": p["request"] + p["reply"]} for p in lines(out)]
    echo = [p for p in pkts if p["what"].startswith("icmp ") and p["id"] is not None]
    assert len(echo) == 2, [p["what"] for p in pkts]  # the request and the reply, each followed
    for p in echo:
        assert p["proto"] == "icmpv6" and {p["src"], p["dst"]} == {POD_A6, POD_B6}, p["what"]
        verbs = [h["verb"] for h in p["hops"]]
        assert "send-encap" in verbs and "recv-encap" in verbs, verbs
    assert no_brtrace_programs()


def v6_state(host: str) -> list[str]:
    """A namespace's IPv6 configuration: addresses, routes, permanent neighbours."""
    out = []
    for args in (("-o", "-6", "addr"), ("-6", "route"), ("-6", "neigh", "show", "nud", "permanent")):
        proc = subprocess.run(["ip", "netns", "exec", ns_name(host), "ip", *args], capture_output=True,
                              text=True, timeout=10, check=True)
        out += sorted(" ".join(ln.split()) for ln in proc.stdout.splitlines() if "valid_lft" not in ln)
    return out


def test_ipv6_disabled_on_the_path_is_diagnosed_with_its_fix(flannel_lab: LabInfo) -> None:
    """disable_ipv6 on node2's flannel.1: the decapsulated request dies in ip6_rcv_core.

    The diagnosis's fix is run as printed (a dotted device name must reach
    sysctl with a slash); the fault's own fix then puts back what disabling
    flushed, checked against node2's IPv6 configuration before the fault.
    """
    f = fault.get("ip6-disabled")
    assert lines(run("ping", *f.ping_args(), "-c", "1", "--json"))[0]["status"] == "delivered"
    before = v6_state("node2")
    assert fault.break_("ip6-disabled")
    try:
        assert "fd00:10:244:1::/128" not in " ".join(v6_state("node2"))  # the kernel flushed it
        p = lines(run("ping", *f.ping_args(), "-c", "1", "--json", rc=1))[0]
        subprocess.run(p["diagnosis"]["fix"].split(), check=True, timeout=10)
        assert not fault.is_active(f)
    finally:
        for cmd in f.fixes:
            subprocess.run(cmd, check=True, timeout=10)
    assert v6_state("node2") == before
    assert p["status"] == "dropped", p
    drop = p["drop"]
    assert (drop["netns"], drop["dev"], drop["reason"]) == ("node2", "flannel.1", "IPV6DISABLED")
    assert drop["location"].startswith("ip6_rcv_core")
    last = p["request"][-1]  # across VXLAN, then dead on node2's flannel.1
    assert (last["verb"], last["netns"], last["dev"]) == ("drop", "node2", "flannel.1"), p["request"]
    assert "send-encap" in [h["verb"] for h in p["request"]]
    d = p["diagnosis"]
    assert d["kind"] == "ipv6-disabled" and (d["hop"]["netns"], d["hop"]["dev"]) == ("node2", "flannel.1")
    assert d["cause"].startswith("IPv6 is disabled on flannel.1 in node2"), d["cause"]
    assert "does not restore the IPv6 addresses" in d["cause"]
    assert "net.ipv6.conf.flannel.1.disable_ipv6 = 1 in node2" in d["evidence"]
    assert d["fix"] == "ip netns exec brt-node2 sysctl -w net.ipv6.conf.flannel/1.disable_ipv6=0"
    assert lines(run("ping", *f.ping_args(), "-c", "1", "--json"))[0]["status"] == "delivered"


def test_ipv6_no_route_is_diagnosed_with_its_fix(flannel_lab: LabInfo) -> None:
    """node1 loses its route to node2's IPv6 pod range: the text names the failed
    lookup and the drop, and the printed fix, run as is, restores the path."""
    f = fault.get("route6-missing")
    assert lines(run("ping", *f.ping_args(), "-c", "1", "--json"))[0]["status"] == "delivered"
    assert fault.break_("route6-missing")
    try:
        out = run("ping", *f.ping_args(), "-c", "1", "--plain", rc=1)
        fix = next(ln.split("fix: ", 1)[1] for ln in out.splitlines() if ln.strip().startswith("fix: "))
        subprocess.run(fix.split(), check=True, timeout=10)
        assert not fault.is_active(f)
    finally:
        fault.fix("route6-missing")
    assert "pod-a (fd00:10:244::2) → pod-b (fd00:10:244:1::3)  DROPPED" in out, out
    assert "route lookup in node1 for fd00:10:244:1::3 failed: host unreachable" in out, out
    assert "in node1: reason IP_INNOROUTES, location ip6_pkt_discard" in out, out
    assert "cause: node1 has no route to fd00:10:244:1::3" in out, out
    assert "checked: net.ipv6.conf.all.forwarding = 1 in node1" in out, out
    assert fix == ("ip netns exec brt-node1 ip route add fd00:10:244:1::/64 via fd00:10:244:1:: "
                   "dev flannel.1 onlink")
    assert lines(run("ping", *f.ping_args(), "-c", "1", "--json"))[0]["status"] == "delivered"


_BURST6 = f"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(20):
    s.sendto(b"x" * 32, ("{POD_B6}", 5299))
"""


def test_ipv6_route_lookups_keep_the_event_count_exact(flannel_lab: LabInfo) -> None:
    """Every IPv6 forward first misses the local table (RT6_TABLE_LOCAL); the probe leaves
    those lookups out, and none may be counted produced without being received or lost."""
    from probes.loader import LiveSource
    from tracer.filter import TraceFilter
    from tracer.model import Hook
    from tracer.topology.model import empty_topology

    src = LiveSource(TraceFilter(host=POD_B6, proto="udp", port=5299), empty_topology())
    try:
        subprocess.run(["ip", "netns", "exec", ns_name("pod-a"), sys.executable, "-c", _BURST6],
                       check=True, timeout=30)
        received = drain_quiet(src)
        produced, lost = src.kernel_counts()
    finally:
        src.close()
    routes = [e for e in received if e.hook == Hook.FIB_TABLE_LOOKUP and e.outer.v6]
    assert len(routes) >= 20 and not [e for e in routes if e.route and e.route.table == 255 and e.route.err]
    assert len(received) + lost == produced, (len(received), lost, produced)
    assert no_brtrace_programs()
