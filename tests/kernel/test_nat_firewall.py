"""Netfilter drops named by table, chain and rule; NAT by rule and port — on real parts.

Without Docker: the bridge lab (br0 with bridge-nf-call-iptables=1, FORWARD
policy ACCEPT) gets a user chain with a DROP rule (iptables-nft), or a native
nft table with a counted drop; ``brtrace ping`` must name that rule, never
the policy, and never suggest an ACCEPT that bypasses it. Every rule is made
inside ``brt-bridge-host`` only and removed in a ``finally``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    out: dict[str, Any] = json.loads(lines[0])
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
