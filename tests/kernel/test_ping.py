"""`brtrace ping` on the real labs: real netns, veths, bridges, VXLAN, eBPF events.

Hop sequences are asserted as ordered subsequences (as Retis' tests do): the
kernel may add route lookups or ARP work in between, but the named hops must
all appear, in this order.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tracer.lab import LabInfo

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))

Step = tuple[str, str | None, str]  # (netns, dev or None, verb)

FLANNEL_REQUEST: list[Step] = [
    ("pod-a", "eth0", "send"), ("node1", "veth-pod-a", "veth-cross"),
    ("node1", "cni0", "bridge-up"), ("node1", None, "route"),
    ("node1", "flannel.1", "encap"), ("node1", "eth0", "send-encap"),
    ("node2", "eth0", "recv-encap"), ("node2", "flannel.1", "decap"),
    ("node2", None, "route"), ("node2", "cni0", "bridge-xmit"),
    ("node2", "veth-pod-b", "bridge-out"), ("pod-b", "eth0", "deliver"),
]
FLANNEL_REPLY: list[Step] = [
    ("pod-b", "eth0", "send"), ("node2", "veth-pod-b", "veth-cross"),
    ("node2", "cni0", "bridge-up"), ("node2", None, "route"),
    ("node2", "flannel.1", "encap"), ("node2", "eth0", "send-encap"),
    ("node1", "eth0", "recv-encap"), ("node1", "flannel.1", "decap"),
    ("node1", None, "route"), ("node1", "cni0", "bridge-xmit"),
    ("node1", "veth-pod-a", "bridge-out"), ("pod-a", "eth0", "deliver"),
]


def ping(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([BRTRACE, "ping", *args], capture_output=True, text=True, timeout=120)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    return proc


def probes(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines and lines[-1]["type"] == "summary", out  # docs/json-schema.md
    return [x for x in lines if x["type"] == "packet"]


def steps(hops: list[dict[str, Any]]) -> list[Step]:
    return [(h["netns"], h["dev"], h["verb"]) for h in hops]


def assert_subsequence(hops: list[dict[str, Any]], expected: list[Step]) -> None:
    seen = steps(hops)
    pos = 0
    for want in expected:
        while pos < len(seen) and not _match(seen[pos], want):
            pos += 1
        assert pos < len(seen), f"missing {want} (in order) in {seen}"
        pos += 1


def _match(got: Step, want: Step) -> bool:
    return got[0] == want[0] and got[2] == want[2] and (want[1] is None or got[1] == want[1])


def no_brtrace_programs(wait: float = 3.0) -> bool:
    """True once no brtrace program is loaded; the kernel frees them shortly after exit (RCU)."""
    deadline = time.monotonic() + wait
    while True:
        out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        if "brt_" not in out:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_flannel_pod_to_pod_full_path(flannel_lab: LabInfo) -> None:
    res = probes(ping("10.244.1.3", "--from", "pod-a", "-c", "2", "-i", "0.2", "--json").stdout)
    assert [p["seq"] for p in res] == [1, 2]
    for p in res:
        assert p["status"] == "delivered"
        assert_subsequence(p["request"], FLANNEL_REQUEST)
        assert_subsequence(p["reply"], FLANNEL_REPLY)
        for h in p["request"] + p["reply"]:
            assert {"netns", "dev", "kind", "action", "t_ns"} <= h.keys()
        ts = [h["t_ns"] for h in p["request"]]
        assert ts == sorted(ts) and ts[0] == 0
    assert no_brtrace_programs()


def test_flannel_encap_names_outer_headers(flannel_lab: LabInfo) -> None:
    p = probes(ping("10.244.1.3", "--from", "pod-a", "-c", "1", "--json").stdout)[0]
    encap = next(h for h in p["request"] if h["verb"] == "send-encap")
    assert "192.168.50.11 → 192.168.50.12" in encap["action"] and "8472" in encap["action"]
    route = next(h for h in p["request"] if h["verb"] == "route" and h["netns"] == "node1")
    assert "10.244.1.0/24 via 10.244.1.0" in route["action"] and "onlink" in route["action"]


def test_bridge_lab_switches_between_ports(bridge_lab: LabInfo) -> None:
    p = probes(ping("172.16.0.21", "--from", "nns1", "-c", "1", "--json").stdout)[0]
    assert p["status"] == "delivered"
    assert_subsequence(p["request"], [
        ("nns1", "veth11", "send"), ("bridge-host", "veth10", "veth-cross"),
        ("bridge-host", "br0", "bridge-forward"), ("bridge-host", "veth20", "bridge-out"),
        ("nns2", "veth21", "deliver")])
    assert_subsequence(p["reply"], [
        ("nns2", "veth21", "send"), ("bridge-host", "veth20", "veth-cross"),
        ("bridge-host", "br0", "bridge-forward"), ("bridge-host", "veth10", "bridge-out"),
        ("nns1", "veth11", "deliver")])


def test_docker_lab_shows_nat(docker_lab: LabInfo) -> None:
    p = probes(ping("198.51.100.1", "--from", "ns0", "-c", "1", "--json").stdout)[0]
    assert p["status"] == "delivered"
    assert_subsequence(p["request"], [
        ("ns0", None, "send"), ("docker-host", None, "veth-cross"),
        ("docker-host", "br0", "bridge-up"), ("docker-host", None, "route"),
        ("docker-host", "eth0", "send"), ("outside", "eth0", "deliver")])
    nat = [h for h in p["request"] if "NAT rewrote source 192.168.88.2" in h["action"]]
    assert nat and nat[0]["netns"] == "docker-host"
    back = [h for h in p["reply"] if "NAT rewrote destination" in h["action"]]
    assert back and "192.168.88.2" in back[0]["action"]
    assert p["reply"][-1]["netns"] == "ns0" or any(h["verb"] == "deliver" and h["netns"] == "ns0"
                                                  for h in p["reply"])


def test_probe_to_unrouted_address_is_dropped(flannel_lab: LabInfo) -> None:
    proc = ping("10.244.9.9", "--from", "pod-a", "-c", "1", "--json", check_rc=1)
    p = probes(proc.stdout)[0]
    assert p["status"] == "dropped"
    assert p["drop"]["netns"] == "node1" and p["drop"]["reason"]
    assert p["drop"]["location"] and not p["drop"]["location"].startswith("0x")
    assert no_brtrace_programs()


def test_plain_output_has_table_and_summary(flannel_lab: LabInfo) -> None:
    out = ping("10.244.1.3", "--from", "pod-a", "-c", "1", "--plain").stdout
    assert "DELIVERED" in out and "request:" in out and "reply:" in out
    assert "1 probes: 1 delivered, 0 dropped" in out and "0 lost" in out


@pytest.mark.parametrize("args,needle", [
    (["10.244.1.3", "--from", "no-such-ns"], "unknown --from"),
    (["not-an-ip"], "IPv4"),
    (["10.99.0.1", "--from", "nns1"], "unreachable"),
    (["10.244.1.3", "-c", "0"], "-c must be"),
])
def test_bad_input_is_one_clear_line(bridge_lab: LabInfo, args: list[str], needle: str) -> None:
    proc = ping(*args, check_rc=None)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_not_root_is_refused_clearly() -> None:
    """Root drops its privileges to play the user without them."""
    proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           BRTRACE, "ping", "10.244.1.3"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "root" in proc.stderr and "Traceback" not in proc.stderr


def test_doctor_reports_hooks_tested_not_guessed() -> None:
    proc = subprocess.run([BRTRACE, "doctor", "--json"], capture_output=True, text=True, timeout=60)
    rows = {r["check"]: r for r in json.loads(proc.stdout)}
    assert rows["btf"]["ok"] and rows["tracefs"]["ok"]
    for tp in ("net_dev_queue", "netif_receive_skb", "kfree_skb", "fib_table_lookup"):
        assert rows[f"hook {tp}"]["mode"] == "raw_tracepoint"
    kprobes = rows["kprobes"]["ok"]
    for fn in ("br_handle_frame", "veth_xmit", "ip_forward"):
        mode = rows[f"hook {fn}"]["mode"]
        assert mode == ("kprobe" if kprobes else mode) and mode in ("kprobe", "fentry", "off")
        if not kprobes and not rows["fentry"]["ok"]:
            assert mode == "off"
