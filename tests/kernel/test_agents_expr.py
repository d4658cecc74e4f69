"""A pcap-filter expression through agents (issue 23, item 3): it travels in the
trace request, each agent compiles it with its own libpcap and runs it in its
kernel; the client merges both nodes' events into one journey per packet."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.kernel.test_agents import BRTRACE, NODE1, NODE2, NODE_OF, agent

pytestmark = pytest.mark.kernel


def test_expression_reaches_both_agents(flannel_lab: object, tmp_path: Path) -> None:
    # echo requests only: no fixed filter can say that, so the agents ran the expression
    expr = "icmp and host 10.244.1.3 and icmp[icmptype] = icmp-echo"
    pinger = ["--", "ip", "netns", "exec", "brt-pod-a", "ping", "-c", "2", "-i", "0.3", "10.244.1.3"]
    with agent(NODE1) as a1, agent(NODE2) as a2:
        tr = subprocess.run([BRTRACE, "trace", "--json", "--agents", f"{a1},{a2}", "--duration", "10",
                             "--inner", expr, *pinger], capture_output=True, text=True, timeout=120)
    assert tr.returncode == 0 and "Traceback" not in tr.stderr, tr.stderr
    lines = [json.loads(line) for line in tr.stdout.splitlines() if line.strip()]
    pkts = [p for p in lines if p["type"] == "packet"]
    assert len(pkts) == 2, pkts  # two requests; their replies are not kept
    for p in pkts:
        assert not p["reply"]
        hops = p["request"]
        verbs = [h["verb"] for h in hops if h["kind"] != "route"]
        assert verbs.index("send-encap") + 1 == verbs.index("recv-encap")  # --inner: the outer packet too
        assert {h["netns"] for h in hops} >= {"pod-a", "node1", "node2", "pod-b"}
        assert all(h["node"] == NODE_OF[h["netns"]] for h in hops)
