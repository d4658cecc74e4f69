"""Two real kernels: the flannel lab split over two QEMU VMs, one agent each,
merged by the host's ``brtrace ping --agents`` (see tests/vm2/vms.py).

Runs under ``make vmtest2`` (part of ``make test``), which sets BRTRACE_VM2=1;
elsewhere it skips. Under that variable a VM that does not boot, or an agent
that never serves, is a failure.

What one kernel cannot show: two independent CLOCK_MONOTONICs (each starts at
its VM's boot), two sets of skb addresses and a real wire between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernel.test_agents import _certs, assert_in_time_order, moving
from tests.vm2.vms import STAGGER_S, Vm, two_vms

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(900), pytest.mark.skipif(
    os.environ.get("BRTRACE_VM2") != "1", reason="boots two VMs: run by `make vmtest2`")]
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
NODE_OF = {"pod-a": "node1", "node1": "node1", "pod-b": "node2", "node2": "node2"}
# The path of seed 001 as one kernel's lab shows it (tests/kernel/test_agents.py
# compares hop for hop); here: every moving hop's node is right, both nodes seen.


def clock_bounds(vm: Vm) -> tuple[int, int]:
    """Independent bounds on the VM's offset (guest clock minus host clock).

    The guest's clock starts at its boot, after QEMU was launched: offset <=
    -launch. A console line printing guest time g was read by the host at H,
    after it was printed: offset >= g - H (the tightest line wins).
    """
    lows = [int(t.split()[1]) - h for h, t in vm.lines if t.startswith("BRTRACE_CLOCK ")]
    assert lows, vm.text()
    return max(lows), -vm.launched_ns


def crossings(hops: list[dict]) -> list[int]:  # type: ignore[type-arg]
    """One-way VXLAN latencies (recv-encap minus send-encap, on the host's time line)."""
    hops = moving_hops(hops)  # a route lookup may sit between the two
    return [b["t_ns"] - a["t_ns"] for a, b in zip(hops, hops[1:], strict=False)
            if a["verb"] == "send-encap" and b["verb"] == "recv-encap"]


def test_two_kernels_ping_merges_both_nodes_with_estimated_clocks(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    c = _certs(certs)
    with two_vms(certs) as (vm1, vm2):
        proc = subprocess.run(
            [BRTRACE, "ping", "10.244.1.3", "--from", "node1:pod-a", "-c", "3", "-i", "0.5", "--json",
             "--agents", f"{vm1.agent},{vm2.agent}", "--tls-ca", c["ca.pem"],
             "--tls-cert", c["client.pem"], "--tls-key", c["client.key"]],
            capture_output=True, text=True, timeout=400, check=False,
            env={**os.environ, "BRTRACE_AGENT_TIMEOUT_SCALE": "8"})
        bounds = {vm.role: clock_bounds(vm) for vm in (vm1, vm2)}
        consoles = vm1.text() + "\n----\n" + vm2.text()
    assert "Traceback" not in proc.stderr + consoles, proc.stderr + consoles
    assert proc.returncode == 0, proc.stderr + proc.stdout + consoles[-4000:]
    got = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(got) == 3 and all(g["status"] == "delivered" for g in got), proc.stdout
    skews: list[int] = []
    bounds_u: list[int] = []
    for g in got:
        for part in ("request", "reply"):
            hops = g[part]
            assert {h["node"] for h in hops} == {"node1", "node2"}, part
            assert all(h["node"] == NODE_OF[h["netns"]] for h in moving_hops(hops)), part
            assert_in_time_order(hops)  # also: each recv-encap after its send-encap, across nodes
            assert len(crossings(hops)) == 1, (part, moving(hops))
        nodes = g["nodes"]
        assert set(nodes) == {"node1", "node2"}
        for role, st in nodes.items():
            lo, hi = bounds[role]
            assert st["lost"] == 0 and st["uncertainty_ns"] > 0
            # the estimate agrees with what the consoles prove about the clock
            u = st["uncertainty_ns"]
            assert lo - u <= st["offset_ns"] <= hi + u, (role, st, lo, hi)
        # two boots, two clocks: node2 booted at least STAGGER_S after node1's clock started,
        # so its clock reads less by at least that much (within the two estimates' uncertainty)
        n1, n2 = nodes["node1"], nodes["node2"]
        slack = n1["uncertainty_ns"] + n2["uncertainty_ns"]
        assert n1["offset_ns"] - n2["offset_ns"] >= STAGGER_S * 1e9 - slack, nodes
        (d_req,), (d_rep,) = crossings(g["request"]), crossings(g["reply"])
        assert d_req > 0 and d_rep > 0  # the causality bound: no crossing runs backwards
        skews.append((d_req - d_rep) // 2)
        bounds_u.append(nodes["node1"]["uncertainty_ns"] + nodes["node2"]["uncertainty_ns"])
    # Both ways over the same link the true one-way latencies are alike; an offset
    # error e adds e to one and takes it from the other, in every ping alike. One
    # ping's half difference also holds noise that is not alike: the first request
    # waits for the underlay's ARP after its send-encap (the reply's ARP entry was
    # learnt from that request), and a single TCG vCPU may be descheduled
    # mid-crossing. So the ping with the least skew bounds e; it must lie within
    # that ping's uncertainty.
    best = min(range(len(skews)), key=lambda i: abs(skews[i]))
    assert abs(skews[best]) <= bounds_u[best], (skews, bounds_u)


def moving_hops(hops: list[dict]) -> list[dict]:  # type: ignore[type-arg]
    return [h for h in hops if h["kind"] != "route"]
