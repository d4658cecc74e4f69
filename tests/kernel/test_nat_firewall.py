"""Netfilter drops named by table, chain and rule; NAT by rule and port — on real parts.

Without Docker: the bridge lab (br0 with bridge-nf-call-iptables=1, FORWARD
policy ACCEPT) gets a user chain with a DROP rule (iptables-nft), or a native
nft table with a counted drop; ``brtrace ping`` must name that rule, never
the policy, and never suggest an ACCEPT that bypasses it. Every rule is made
inside ``brt-bridge-host`` only and removed in a ``finally``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agentproc import free_port, serving, spawn_agent, stop_agent
from tests.support.bridged_dnat import PUBLISHED, TARGET, bridged_dnat
from tests.support.dockerd import NETNS, Dockerd, running_dockerd
from tracer.lab import LabInfo

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
HOST = "brt-bridge-host"


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=check)


def ipt(*args: str, check: bool = True) -> None:
    sh("ip", "netns", "exec", HOST, "iptables", "-w", *args, check=check)


def ping_json(dest: str, src: str) -> dict[str, Any]:
    proc = subprocess.run([BRTRACE, "ping", dest, "--from", src, "-c", "1", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    # one packet record, then the summary record (docs/json-schema.md)
    assert [x["type"] for x in lines] == ["packet", "summary"], proc.stdout + proc.stderr
    out: dict[str, Any] = lines[0]
    return out


def test_user_chain_drop_on_a_plain_bridge_is_named(bridge_lab: LabInfo) -> None:
    assert ping_json("172.16.0.21", "nns1")["status"] == "delivered"
    policy = sh("ip", "netns", "exec", HOST, "iptables", "-w", "-S", "FORWARD").stdout
    assert "-P FORWARD ACCEPT" in policy
    ipt("-N", "brt-user")
    try:
        ipt("-A", "brt-user", "-s", "172.16.0.11", "-d", "172.16.0.21", "-p", "icmp", "-j", "DROP")
        ipt("-I", "FORWARD", "-j", "brt-user")
        p = ping_json("172.16.0.21", "nns1")
    finally:
        ipt("-D", "FORWARD", "-j", "brt-user", check=False)
        ipt("-F", "brt-user", check=False)
        ipt("-X", "brt-user", check=False)
    assert p["status"] == "dropped", p
    d = p["diagnosis"]
    assert d["kind"] == "netfilter-drop" and d["hop"]["reason"] == "NETFILTER_DROP", d
    assert "table filter, chain brt-user, rule 1" in d["cause"], d
    assert "-A brt-user -s 172.16.0.11/32 -d 172.16.0.21/32 -p icmp -j DROP" in d["cause"], d
    assert "1 packets during the trace" in d["cause"] and "policy" not in d["cause"], d
    assert "docker" not in d["cause"] and "ACCEPT" not in d["fix"], d
    assert d["fix"] == f"ip netns exec {HOST} iptables -t filter -L brt-user -v -n --line-numbers"
    assert ping_json("172.16.0.21", "nns1")["status"] == "delivered"


def test_native_nft_drop_on_a_bridge_is_named(bridge_lab: LabInfo) -> None:
    nft = ("ip", "netns", "exec", HOST, "nft")
    sh(*nft, "add table inet brt_fw")
    try:
        sh(*nft, "add chain inet brt_fw brt_fwd { type filter hook forward priority 0 ; policy accept ; }")
        sh(*nft, "add rule inet brt_fw brt_fwd ip saddr 172.16.0.11 ip daddr 172.16.0.21 "
                 "icmp type echo-request counter drop")
        p = ping_json("172.16.0.21", "nns1")
    finally:
        sh(*nft, "delete table inet brt_fw", check=False)
    assert p["status"] == "dropped", p
    d = p["diagnosis"]
    assert d["kind"] == "netfilter-drop", d
    assert "nft table inet brt_fw, chain brt_fwd, rule 1" in d["cause"], d
    assert d["fix"] == f"ip netns exec {HOST} nft -a list chain inet brt_fw brt_fwd", d


def bridged_trace(forward: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``trace --json`` of one ping from nns1 to the address bridge-host DNATs, with the
    expression naming that address only: (packet records, their hops)."""
    with bridged_dnat(forward):
        ping = ("ip", "netns", "exec", "brt-nns1", "ping", "-c", "1", "-W", "2", PUBLISHED)
        proc = subprocess.run([BRTRACE, "trace", "--json", "--duration", "15", f"icmp and host {PUBLISHED}",
                               "--", *ping], capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines and lines[-1]["type"] == "summary", proc.stdout + proc.stderr
    return [x for x in lines if x["type"] == "packet"], trace_hops(lines)


def assert_brnf_lookup(host: list[dict[str, Any]]) -> None:
    """bridge-host's one lookup is bridge netfilter's, and bridge-host routes nothing."""
    brnf = [h for h in host if h["verb"] == "brnf-route"]
    assert len(brnf) == 1, shown(host)
    assert brnf[0]["action"].startswith("route lookup by bridge netfilter in bridge-host after DNAT"), brnf
    assert brnf[0]["action"].endswith(f": {TARGET} matches 172.16.0.0/24 dev br0"), brnf
    assert not [h for h in host if h["verb"] in ("route", "route-local")], shown(host)


def test_bridged_dnat_lookup_is_bridge_netfilters_and_the_expression_follows(bridge_lab: LabInfo) -> None:
    """A frame br0 switches and bridge netfilter DNATs (tests/support/bridged_dnat.py): the lookup
    br_netfilter makes is labelled as its own, and the expression on the address the request
    was sent to keeps the packet after the DNAT and its answer before conntrack undoes it."""
    _, hops = bridged_trace(forward=True)
    host = [h for h in hops if h["netns"] == "bridge-host"]
    assert_brnf_lookup(host)
    handback = "bridge netfilter hands the frame back to bridge br0"
    assert [h for h in host if h["action"].startswith(handback)], shown(host)
    dnat = [h["action"] for h in host if f"NAT rewrote destination {PUBLISHED} → {TARGET}" in h["action"]]
    assert dnat and "by DNAT (iptables table nat, chain PREROUTING, rule 1" in dnat[0], dnat
    # followed: nns2 sees neither direction with 172.16.0.22 in it, the expression's only address
    nns2 = [h for h in hops if h["netns"] == "nns2"]
    assert [h for h in nns2 if h["dst"] == TARGET and h["verb"] != "route"], shown(hops)
    assert [h for h in nns2 if h["src"] == TARGET and h["verb"] == "send"], shown(hops)
    undo = [h["action"] for h in host if f"NAT rewrote source {TARGET} → {PUBLISHED}" in h["action"]]
    assert undo, shown(hops)


def test_bridged_dnat_with_forwarding_off_dies_after_bridge_netfilters_lookup(bridge_lab: LabInfo) -> None:
    """Forwarding off (as the bridge lab has it): the kernel made the lookup's route ip_error, so
    bridge netfilter sent the frame up to bridge-host, which dropped it; the lookup is still
    bridge netfilter's, the passing up its doing, and the diagnosis names the sysctl."""
    pkts, hops = bridged_trace(forward=False)
    host = [h for h in hops if h["netns"] == "bridge-host"]
    assert_brnf_lookup(host)
    up = [h["action"] for h in host if h["verb"] == "bridge-up"]
    assert up and "bridge netfilter gave it the bridge's own MAC" in up[0], shown(host)
    dead = [p for p in pkts if p["status"] == "dropped"]
    assert dead and dead[0]["drop"]["reason"] == "IP_INADDRERRORS", pkts
    assert dead[0]["diagnosis"]["kind"] == "ip-forward-off", dead[0]["diagnosis"]


# ---- against a real Docker daemon in its own netns (tests/support/dockerd.py) ----
OUT = "brt-nat-out"  # a test netns on a veth into the daemon's netns: "the outside"
OUT_ADDR, HOST_ADDR = "198.51.100.1", "198.51.100.2"


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    with running_dockerd() as d:
        sh("ip", "netns", "add", OUT)
        try:
            sh("ip", "link", "add", "brt-out0", "netns", OUT, "type", "veth", "peer", "name",
               "brt-up0", "netns", NETNS)
            sh("ip", "-n", OUT, "addr", "add", f"{OUT_ADDR}/24", "dev", "brt-out0")
            sh("ip", "-n", NETNS, "addr", "add", f"{HOST_ADDR}/24", "dev", "brt-up0")
            for ns, dev in ((OUT, "brt-out0"), (NETNS, "brt-up0"), (OUT, "lo")):
                sh("ip", "-n", ns, "link", "set", dev, "up")
            d.run("brt-nat1")
            d.run("brt-nat2")
            yield d
        finally:
            sh("ip", "netns", "del", OUT, check=False)
    assert OUT not in sh("ip", "netns", "list").stdout


def dtrace(d: Dockerd, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BRTRACE_DOCKER_SOCK=d.sock)
    proc = subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_docker_user_drop_is_named_by_chain_and_rule(dockerd: Dockerd) -> None:
    dest = str(dockerd.inspect("brt-nat2")["NetworkSettings"]["IPAddress"])  # type: ignore[index]
    rule = ("DOCKER-USER", "-s", "172.17.0.0/16", "-d", dest, "-p", "icmp", "-j", "DROP")
    dipt = ("ip", "netns", "exec", NETNS, "iptables", "-w")
    sh(*dipt, "-I", *rule)
    try:
        proc = dtrace(dockerd, "ping", dest, "--from", "brt-nat1", "-c", "1", "--json")
    finally:
        sh(*dipt, "-D", *rule, check=False)
    p = json.loads(proc.stdout.splitlines()[0])
    assert p["status"] == "dropped", p
    d = p["diagnosis"]
    assert d["kind"] == "netfilter-drop", d
    assert "iptables table filter, chain DOCKER-USER, rule 1" in d["cause"], d
    assert f"-d {dest}/32 -p icmp -j DROP" in d["cause"] and "policy" not in d["cause"], d
    assert "-j ACCEPT" not in d["fix"] and "DOCKER-USER" in d["fix"], d


def test_masquerade_out_to_a_test_netns_is_named(dockerd: Dockerd) -> None:
    proc = dtrace(dockerd, "ping", OUT_ADDR, "--from", "brt-nat1", "-c", "1", "--json")
    p = json.loads(proc.stdout.splitlines()[0])
    assert p["status"] == "delivered", p
    src = str(dockerd.inspect("brt-nat1")["NetworkSettings"]["IPAddress"])  # type: ignore[index]
    nat = [h["action"] for h in p["request"] if "NAT rewrote" in h["action"]]
    label = NETNS.removeprefix("brt-")
    assert nat and f"NAT rewrote source {src} → {HOST_ADDR} in {label}" in nat[0], p["request"]
    assert "by MASQUERADE (iptables table nat, chain POSTROUTING" in nat[0], nat


WEB = "brt-nat-web"
CLIENT = ("import http.client\ntry:\n c = http.client.HTTPConnection('{addr}', 8080, timeout={t})\n"
          " c.request('GET', '/'); print(c.getresponse().read().decode())\n"
          "except OSError as e:\n print('no answer:', e)")


def published_web(d: Dockerd) -> str:
    """busybox httpd in a container published with ``-p 8080:80``; its address on docker0."""
    if WEB not in d.containers:
        d.containers.append(WEB)  # removed with the daemon (tests/support/dockerd.py)
        d.docker("run", "-d", "--name", WEB, "--security-opt", "apparmor=unconfined", "-p", "8080:80",
                 "brt-busybox", "sh", "-c", "echo brt-web-ok > /tmp/index.html && httpd -f -p 80 -h /tmp")
    return str(d.inspect(WEB)["NetworkSettings"]["IPAddress"])  # type: ignore[index]


def fetch_cmd(timeout: float = 5) -> list[str]:
    """An HTTP GET of the published port from the outside netns (python: busybox wget crashes here)."""
    return ["ip", "netns", "exec", OUT, sys.executable, "-c", CLIENT.format(addr=HOST_ADDR, t=timeout)]


def trace_hops(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [h for x in lines if x["type"] == "packet" for h in x["request"] + x["reply"]]


def shown(hops: list[dict[str, Any]]) -> str:
    return "\n".join(f"{h['netns']} {h['dev']} {h['src']}:{h.get('sport')} → {h['dst']}:{h.get('dport')} "
                     f"{h['action']}" for h in hops)


def assert_followed_through_dnat(hops: list[dict[str, Any]], web: str, rules: bool = True) -> None:
    """The request to the published port, its DNAT, the container, and the answer back."""
    # the request to the published port: DNAT named with the port change (and its rule, where
    # this side read the counters: an agent's namespaces are read on its node, not here)
    dnat = [h["action"] for h in hops if "NAT rewrote destination" in h["action"]]
    assert dnat, shown(hops)
    assert f"{HOST_ADDR}:8080 → {web}:80" in dnat[0], dnat
    if rules:
        assert "by DNAT (iptables table nat, chain DOCKER" in dnat[0] and "--to-destination" in dnat[0], dnat
    # the filter names the published address, which the packet no longer carries after DNAT:
    # the kernel followed it to the container (its skb) ...
    to_web = [h for h in hops if h["netns"] == WEB and h["dst"] == web and h.get("dport") == 80]
    assert to_web, shown(hops)
    # ... and the answer back (the reverse of the rewritten tuple), before conntrack undoes the DNAT
    back = [h for h in hops if h["netns"] == WEB and h["src"] == web and h.get("sport") == 80]
    assert back, shown(hops)
    undo = [h["action"] for h in hops if f"NAT rewrote source {web}:80 → {HOST_ADDR}:8080" in h["action"]]
    assert undo, shown(hops)
    if rules:
        assert "conntrack undoing the DNAT of its connection" in undo[0], shown(hops)
    # the addrtype match of Docker's nat PREROUTING rule is not a routing decision
    label = NETNS.removeprefix("brt-")
    assert not [h for h in hops if h["netns"] == label and f"{HOST_ADDR} is local, deliver" in h["action"]], \
        shown(hops)
    assert [h for h in hops if h["verb"] == "addr-check" and h["netns"] == label], shown(hops)


# --host/--proto run as brtrace.c's fixed filter; an expression runs as the translated pcap
# filter (brt_filter.h): both follow the packet through NAT in the kernel
FILTERS = {"host": ("--host", HOST_ADDR, "--proto", "tcp"), "expression": (f"tcp and host {HOST_ADDR}",)}


@pytest.mark.parametrize("flt", FILTERS.values(), ids=FILTERS.keys())
def test_published_port_is_followed_through_dnat(dockerd: Dockerd, flt: tuple[str, ...]) -> None:
    web = published_web(dockerd)
    got = sh(*fetch_cmd(), check=False)  # the port answers before anything is traced
    assert "brt-web-ok" in got.stdout, got.stderr
    proc = dtrace(dockerd, "trace", "--json", "--duration", "20", *flt, "--", *fetch_cmd())
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines and lines[-1]["type"] == "summary", proc.stdout + proc.stderr
    assert_followed_through_dnat(trace_hops(lines), web)


def test_published_port_is_followed_through_dnat_by_an_agent(dockerd: Dockerd,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The same expression served by ``brtrace agent``: the agent reads its own node's NAT
    rules and follows the packet in its kernel as a local trace does."""
    web = published_web(dockerd)
    monkeypatch.setenv("BRTRACE_DOCKER_SOCK", dockerd.sock)  # the agent names the containers
    addr = f"127.0.0.1:{free_port()}"
    agent, log, ready = spawn_agent([BRTRACE, "agent", "--listen", addr, "--node", "dockerhost"])
    try:
        assert ready.wait(30) and serving(log), "".join(log)
        proc = dtrace(dockerd, "trace", "--json", "--duration", "20", "--agents", addr,
                      *FILTERS["expression"], "--", *fetch_cmd())
    finally:
        stop_agent(agent)
    assert "Traceback" not in "".join(log), "".join(log)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines and lines[-1]["type"] == "summary", proc.stdout + proc.stderr
    assert_followed_through_dnat(trace_hops(lines), web, rules=False)


def test_trace_text_reads_like_ping(dockerd: Dockerd) -> None:
    published_web(dockerd)
    proc = dtrace(dockerd, "trace", "--host", HOST_ADDR, "--proto", "tcp", "--plain", "--duration", "20",
                  "--", *fetch_cmd())
    heads = [ln for ln in proc.stdout.splitlines() if ln.startswith("packet ")]
    assert heads, proc.stdout + proc.stderr
    # "packet 1  tcp  nat-out? (198.51.100.1:PORT) → 198.51.100.2:8080  ip id N  DELIVERED"
    first = heads[0]
    assert first.split()[2] == "tcp" and f"{HOST_ADDR}:8080" in first and " ip id " in first, heads
    assert first.split()[-1] in ("DELIVERED", "UNANSWERED", "DROPPED"), heads
    assert "by DNAT (iptables table nat, chain DOCKER" in proc.stdout, proc.stdout


def test_bridged_lookup_is_an_address_check_and_routes_show_prefixes(dockerd: Dockerd) -> None:
    dest = str(dockerd.inspect("brt-nat2")["NetworkSettings"]["IPAddress"])  # type: ignore[index]
    proc = dtrace(dockerd, "ping", dest, "--from", "brt-nat1", "-c", "1", "--json")
    p = json.loads(proc.stdout.splitlines()[0])
    assert p["status"] == "delivered", p
    hops = p["request"] + p["reply"]
    # br_netfilter runs nat PREROUTING on the bridged frame; its addrtype match looks the address up
    assert f"{dest} matches {dest}" not in proc.stdout, shown(hops)
    label = NETNS.removeprefix("brt-")
    checks = [h for h in hops if h["verb"] == "addr-check" and h["netns"] == label]
    assert checks and "not a routing decision" in checks[0]["action"], shown(hops)
    routes = [h["action"] for h in hops if h["verb"] == "route"]
    assert routes and all(" matches 172.17.0.0/16 " in a for a in routes), routes


def test_dnat_drop_in_trace_is_diagnosed_with_counters(dockerd: Dockerd) -> None:
    web = published_web(dockerd)
    rule = ("DOCKER-USER", "-d", web, "-p", "tcp", "--dport", "80", "-j", "DROP")
    dipt = ("ip", "netns", "exec", NETNS, "iptables", "-w")
    sh(*dipt, "-I", *rule)
    try:
        proc = dtrace(dockerd, "trace", "--host", HOST_ADDR, "--proto", "tcp", "--plain", "--duration", "15",
                      "--", *fetch_cmd(timeout=2))
    finally:
        sh(*dipt, "-D", *rule, check=False)
    out = proc.stdout
    # dropped after DNAT, where --host no longer matches: seen only because the kernel followed it
    assert "DROPPED" in out and "reason NETFILTER_DROP" in out, out + proc.stderr
    assert "iptables table filter, chain DOCKER-USER, rule 1" in out, out
    assert f"-d {web}/32 -p tcp -m tcp --dport 80 -j DROP" in out, out
    # the drop shows the rewrite (kfree_skb read the DNAT'd headers), and the host did not "deliver" it
    assert f"NAT rewrote destination {HOST_ADDR}:8080 → {web}:80" in out, out
    assert f"delivered ({HOST_ADDR} is local" not in out, out
