"""Every lab fault: break → ``brtrace ping --json`` shows the drop and a diagnosis → fix → delivered.

Each test holds its fault only as long as it needs it and fixes it in a
``finally`` (other sessions ping on the same labs). The last test watches
``brtrace drops`` while a fault produces drops.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tracer.lab import LabInfo, fault

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))

# fault -> (diagnosis kind, hop netns, hop dev, acceptable reasons ("" = no drop: unanswered))
EXPECTED = {
    "ip-forward-off": ("ip-forward-off", "node1", "cni0", {"IP_INADDRERRORS"}),
    "ip6-forward-off": ("ip-forward-off", "node1", "cni0", {"IP_INADDRERRORS"}),
    "forward-drop": ("netfilter-drop", "docker-host", "veth1p", {"NETFILTER_DROP"}),
    "stp-blocking": ("bridge-port-blocked", "bridge-host", "veth10", {"NO_TX_TARGET", "NOT_SPECIFIED"}),
    "port-down": ("port-down", "bridge-host", "veth10", {"NO_TX_TARGET", "NOT_SPECIFIED"}),
    "vxlan-mtu": ("mtu", "node2", "eth0", {"NOT_SPECIFIED"}),
    "vxlan-fdb-missing": ("vxlan-fdb-missing", "node1", "flannel.1", {"NO_TX_TARGET"}),
    "route-missing": ("no-route", "node1", "cni0", {"IP_INNOROUTES"}),
    "rp-filter": ("rp-filter", "node2", "eth0", {"IP_RPFILTER"}),
    "masquerade-missing": ("no-return-route", "outside", "eth0", {""}),
}
UNANSWERED = {"masquerade-missing"}


def ping(f: fault.Fault) -> dict[str, Any]:
    cmd = [BRTRACE, "ping", *f.ping_args(), "-c", "1", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines: list[dict[str, Any]] = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.strip()]
    assert [x["type"] for x in lines] == ["packet", "summary"], proc.stdout + proc.stderr
    return lines[0]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_fault_break_diagnose_fix(name: str, request: pytest.FixtureRequest) -> None:
    f = fault.get(name)
    request.getfixturevalue(f"{f.lab}_lab")
    kind, netns, dev, reasons = EXPECTED[name]
    # Baseline first: it also refreshes the sender's ARP entry, so the probe under the
    # fault is sent at once instead of waiting in the neighbour queue (then: no event).
    assert ping(f)["status"] == "delivered"
    assert fault.break_(name)
    try:
        assert not fault.break_(name)  # idempotent
        p = ping(f)
    finally:
        fault.fix(name)
    assert not fault.is_active(f) and not fault.fix(name)
    # rp_filter frees the request right after it reached node2's netns: the hop builder calls
    # that free 'consumed', so the probe reads unanswered and the diagnosis names the drop.
    assert p["status"] == ("unanswered" if name in UNANSWERED else "dropped"), p
    d = p["diagnosis"]
    assert (d["kind"], d["hop"]["netns"], d["hop"]["dev"]) == (kind, netns, dev), d
    assert d["hop"]["reason"] in reasons and d["cause"] and d["fix"]
    if p["status"] == "dropped":
        assert (p["drop"]["netns"], p["drop"]["dev"]) == (netns, dev)
        assert p["drop"]["location"]
    after = ping(f)
    assert after["status"] == "delivered", after
    assert "diagnosis" not in after


def test_drops_shows_the_fault_group(bridge_lab: LabInfo) -> None:
    """`brtrace drops` for 3 s while nns1 pings nns2 through a disabled port."""
    cmd = [BRTRACE, "drops", "--json", "--duration", "3", "--interval", "1", "--host", "172.16.0.21"]
    # resolve ARP first: with the port disabled an unresolved neighbour would hold the probes
    # in nns1 (NEIGH_FAILED) and the bridge would never see them
    subprocess.run(["ip", "netns", "exec", "brt-nns1", "ping", "-c", "1", "-W", "1", "172.16.0.21"],
                   capture_output=True, timeout=10, check=False)
    assert fault.break_("stp-blocking")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            subprocess.run(["ip", "netns", "exec", "brt-nns1", "ping", "-c", "1", "-W", "0.2",
                            "172.16.0.21"], capture_output=True, timeout=5, check=False)
        out, err = proc.communicate(timeout=30)
    finally:
        fault.fix("stp-blocking")
    assert proc.returncode == 0, err
    lines = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert lines[-1]["final"] is True and len(lines) >= 3
    groups = {(g["netns"], g["dev"], g["reason"]): g for g in lines[-1]["groups"]}
    hit = [g for k, g in groups.items() if k[:2] == ("bridge-host", "veth10")
           and k[2] in ("NOT_SPECIFIED", "NO_TX_TARGET")]
    assert hit and hit[0]["total"] >= 1, groups
    assert hit[0]["location"].startswith("br_handle_frame_finish")
