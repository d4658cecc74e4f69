"""iperf3 TCP pod-a -> pod-b: the bulk-traffic throughput figure the issue asks for.

The UDP flood (64-byte datagrams from Python) charges every hook once per small
packet; iperf3's TCP stream is what a user's real workload looks like (GSO
segments of up to 64 KB and their ACKs), so both figures are reported. The
server runs one test (``-1``) in brt-pod-b and exits; the client runs a bounded
``-t`` seconds in brt-pod-a. Traffic never leaves the lab's namespaces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

IPERF_PORT = 5202
POD_B = "10.244.1.3"


def available() -> str:
    """'' when iperf3 can run here, else why not (the figure is then skipped)."""
    return "" if shutil.which("iperf3") else "iperf3 not installed (scripts/setup.sh installs it)"


def run(seconds: int) -> dict[str, Any]:
    """One bounded TCP test; bits/s the receiver got, and the sender's CPU share."""
    server = subprocess.Popen(["ip", "netns", "exec", "brt-pod-b", "iperf3", "-s", "-1",
                               "-p", str(IPERF_PORT), "--forceflush"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        for line in server.stdout:  # "Server listening on 5202" once it accepts
            if "listening" in line:
                break
        out = subprocess.run(["ip", "netns", "exec", "brt-pod-a", "iperf3", "-c", POD_B,
                              "-p", str(IPERF_PORT), "-t", str(seconds), "-J"],
                             capture_output=True, text=True, timeout=seconds + 30)
        if out.returncode != 0:
            raise RuntimeError(f"iperf3 client failed: {(out.stdout + out.stderr).strip()[-600:]}")
        end = json.loads(out.stdout)["end"]
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return {"bps": float(end["sum_received"]["bits_per_second"]),
            "sender_cpu_pct": float(end["cpu_utilization_percent"]["host_total"]),
            "retransmits": int(end["sum_sent"].get("retransmits", 0))}
