"""The kprobe path, on a stock kernel that has kprobes (Debian 6.1 in a QEMU VM).

This machine's kernel has no kprobes and refuses fentry, so these run only in
the VM `make vmtest` boots (BRTRACE_IN_VM=1); elsewhere they skip. They prove
the loader picks kprobes for the function hooks, that bcc attaches them, and
that their events become hops next to the tracepoint hops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(
    os.environ.get("BRTRACE_IN_VM") != "1", reason="runs inside the `make vmtest` VM only")]
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
NAMED = ("br_handle_frame", "veth_xmit", "ip_forward")  # the hooks the product promises


def brtrace(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([BRTRACE, *args], capture_output=True, text=True, timeout=240, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _lab(name: str) -> Iterator[None]:
    """Up for this module; reused (and left up) if tests/kernel already brought it up."""
    from tracer import lab

    state = lab.status(name).state
    if state == lab.STATE_PARTIAL:
        lab.down(name)
    try:
        lab.up(name)
        yield
    finally:
        if state != lab.STATE_UP:
            lab.down(name)


@pytest.fixture(scope="module")
def flannel() -> Iterator[None]:
    yield from _lab("flannel")


@pytest.fixture(scope="module")
def bridge() -> Iterator[None]:
    yield from _lab("bridge")


def hooks_seen(out: str) -> set[str]:
    """Every hook named by any hop of any probe, request and reply."""
    probes = [x for line in out.splitlines() if line.strip() and (x := json.loads(line))["type"] == "packet"]
    assert probes and all(p["status"] == "delivered" for p in probes), out
    return {hk for p in probes for h in p["request"] + p["reply"] for hk in h["hooks"]}


def test_doctor_shows_kprobes_live() -> None:
    proc = brtrace("doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["check"]: r for r in json.loads(proc.stdout)}
    assert rows["kprobes"]["ok"], rows["kprobes"]
    for fn in NAMED:
        assert rows[f"hook {fn}"]["mode"] == "kprobe" and rows[f"hook {fn}"]["ok"], rows[f"hook {fn}"]
    # The tracepoint backbone is still there alongside them.
    assert rows["hook netif_receive_skb"]["mode"] == "raw_tracepoint"


def test_flannel_hops_come_from_kprobes(flannel: None) -> None:
    seen = hooks_seen(brtrace("ping", "10.244.1.3", "--from", "pod-a", "-c", "2", "-i", "0.2",
                              "--json").stdout)
    # pod veth tx (veth_xmit), cni0 port rx (br_handle_frame), node routing (ip_forward).
    assert set(NAMED) <= seen, seen
    assert {"net_dev_queue", "netif_receive_skb"} <= seen, seen


def test_bridge_hops_come_from_kprobes(bridge: None) -> None:
    seen = hooks_seen(brtrace("ping", "172.16.0.21", "--from", "nns1", "-c", "1", "--json").stdout)
    # Pure L2 switching: no routing, so no ip_forward here.
    assert {"br_handle_frame", "veth_xmit"} <= seen, seen


def test_ping_reports_function_hooks_live(bridge: None) -> None:
    """The live hook list on stderr (source.info.hooks) names the kprobes."""
    proc = brtrace("ping", "172.16.0.21", "--from", "nns1", "-c", "1", "--plain")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    live = next(line for line in proc.stderr.splitlines() if "hooks live" in line)
    for fn in NAMED:
        assert fn in live, live
