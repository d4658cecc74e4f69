"""Live ``--json`` of ``ping`` and ``trace`` in the labs validates against the one schema (issue 20, item 6).

The same ``docs/brtrace-json.schema.json`` the replay tests use; here the
records come from real eBPF events in the flannel and bridge labs, so the
live-only parts (``time_source: live``, wall-clock times, RTTs measured by
the sender) are checked too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.test_json_schema import validate

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))


def _lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:  # type: ignore[type-arg]
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    validate(lines)
    assert lines and lines[-1]["type"] == "summary"
    assert all(x["type"] == "packet" for x in lines[:-1])
    return lines


def test_ping_json_from_flannel_lab_validates(flannel_lab) -> None:  # type: ignore[no-untyped-def]
    before = time.time()
    proc = subprocess.run([BRTRACE, "ping", "10.244.1.3", "--from", "pod-a", "-c", "2", "-i", "0.2",
                           "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    *probes, summary = _lines(proc)
    assert [p["seq"] for p in probes] == [1, 2] and summary["delivered"] == 2
    assert summary["command"] == "ping" and summary["time_source"] == "live" and summary["lost"] == 0
    for p in probes:
        assert p["command"] == "ping" and p["status"] == "delivered" and p["rtt_ns"] > 0
        assert (p["src"], p["dst"], p["proto"]) == ("10.244.0.2", "10.244.1.3", "icmp")
        assert "diagnosis" not in p
        # absolute time: within this run, to the second
        t0 = time.mktime(time.strptime(p["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert before - 2 <= t0 <= time.time() + 2, p["time"]
        sent = next(h for h in p["request"] if h["verb"] == "send")
        assert sent["icmp"] == {"type": 8, "code": 0, "id": p["id"], "seq": p["seq"]}
        encap = next(h for h in p["request"] if h["verb"] == "send-encap")
        assert encap["outer"]["dport"] == 8472 and encap["outer"]["vni"] == 1
        assert [x["layer"] for x in encap["headers"][:4]] == ["ethernet", "ipv4", "udp", "vxlan"]


def test_trace_json_in_bridge_lab_validates(bridge_lab) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([BRTRACE, "trace", "--host", "172.16.0.21", "--proto", "icmp", "--json",
                           "--duration", "10", "--", "ip", "netns", "exec", "brt-nns1", "ping", "-c", "2",
                           "-i", "0.2", "-W", "1", "172.16.0.21"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    *packets, summary = _lines(proc)
    echo = [p for p in packets if p["seq"] is not None]
    # trace streams each journey when it is done: request and reply are two records
    requests, replies = [p for p in echo if p["request"]], [p for p in echo if p["reply"]]
    assert len(requests) == len(replies) == 2, echo
    assert all(p["status"] == "delivered" for p in echo), echo
    assert summary["command"] == "trace" and summary["delivered"] >= 4 and summary["evicted"] == 0
