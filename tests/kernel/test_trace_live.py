"""Live tracing beyond the happy ping: Ctrl-C, in-kernel filters, record round trip."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.kernel.test_ping import no_brtrace_programs
from tests.support.drain import drain_quiet
from tracer.correlate import Correlator
from tracer.correlate.pairing import probe_packet
from tracer.filter import be32
from tracer.lab import LabInfo
from tracer.model import Hook
from tracer.record.reader import open_recording
from tracer.schema.decode import EventBatch

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))


def test_ctrl_c_prints_what_was_traced_and_detaches(flannel_lab: LabInfo) -> None:
    proc = subprocess.Popen([BRTRACE, "ping", "10.244.1.3", "--from", "pod-a", "-c", "50", "-i", "0.2",
                             "--plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    ready = proc.stderr.readline()  # printed once every probe is attached
    assert "hooks live" in ready, ready
    time.sleep(1.5)  # a few probes go out
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "DELIVERED" in out and "probes:" in out
    assert "50 probes" not in out  # it stopped early and said so with what it had
    assert "probe seq 1 " in out
    assert no_brtrace_programs()  # CI runs nothing else that loads brtrace probes


def test_host_filter_runs_in_the_kernel(bridge_lab: LabInfo, flannel_lab: LabInfo, tmp_path: Path) -> None:
    out = tmp_path / "f.brt"
    other = subprocess.Popen(["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "3", "-i", "0.2", "-W", "1",
                              "10.244.1.3"], stdout=subprocess.DEVNULL)
    subprocess.run([BRTRACE, "record", "-o", str(out), "--host", "172.16.0.21", "--duration", "10", "--",
                    "ip", "netns", "exec", "brt-nns1", "ping", "-c", "3", "-i", "0.2", "-W", "1",
                    "172.16.0.21"], check=True, capture_output=True, timeout=60)
    other.wait(timeout=10)
    events = open_recording(out).events()
    host = be32("172.16.0.21")
    packets = [e for e in events if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE)]
    assert len(packets) >= 3 * 4
    for e in packets:
        keys = [e.outer] + ([e.inner] if e.inner else [])
        assert any(host in (k.saddr, k.daddr) for k in keys), e
    assert not any(e.ifname == "flannel.1" for e in events)


def test_record_then_replay_gives_the_live_journeys(flannel_lab: LabInfo, tmp_path: Path) -> None:
    rec = tmp_path / "ping.brt"
    proc = subprocess.run([BRTRACE, "ping", "10.244.1.3", "--from", "pod-a", "-c", "2", "-i", "0.2",
                           "--json", "--record", str(rec)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    live = [x for line in proc.stdout.splitlines() if (x := json.loads(line))["type"] == "packet"]
    recording = open_recording(rec)
    assert recording.damage is None
    assert recording.info.topology.find_netns("pod-a") is not None
    assert any(h.mode == "raw_tracepoint" for h in recording.info.hooks)
    corr = Correlator()
    for batch in recording.batches():
        corr.feed(batch)
    for p in live:
        r = probe_packet(corr, recording.info.topology, p["id"], p["seq"], p["rtt_ns"])
        for name, hops in (("request", r.request), ("reply", r.reply)):
            assert [(h.netns, h.dev, h.verb, h.action) for h in hops] == \
                   [(h["netns"], h["dev"], h["verb"], h["action"]) for h in p[name]]


def test_trace_command_follows_every_matching_packet(bridge_lab: LabInfo) -> None:
    proc = subprocess.run([BRTRACE, "trace", "--host", "172.16.0.21", "--proto", "icmp", "--json", "--",
                           "ip", "netns", "exec", "brt-nns1", "ping", "-c", "2", "-i", "0.2", "-W", "1",
                           "172.16.0.21"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    *packets, last = [json.loads(line) for line in proc.stdout.splitlines()]
    assert last["type"] == "summary" and (last["packets"], last["lost"], last["evicted"]) == (
        len(packets), 0, 0)
    # trace streams each journey as it completes: an echo's request and reply are two records
    echo = [p for p in packets if p["seq"] is not None and p["request"]]
    assert len(echo) == 2
    for p in echo:
        verbs = [(h["netns"], h["verb"]) for h in p["request"]]
        assert ("bridge-host", "bridge-forward") in verbs and ("nns2", "deliver") in verbs


def _ping_recorded(path: Path, *extra: str) -> list[dict[str, Any]]:
    proc = subprocess.run([BRTRACE, "ping", "10.244.1.3", "--from", "pod-a", "-c", "1", "--json",
                           "--record", str(path), *extra], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [x for line in proc.stdout.splitlines() if (x := json.loads(line))["type"] == "packet"]


def test_same_crossing_tracepoints_attach_only_with_all_hooks(flannel_lab: LabInfo, tmp_path: Path) -> None:
    extra = {Hook.NET_DEV_START_XMIT, Hook.NETIF_RX}
    # Neighbours resolved first: a ping that must resolve one (ARP) takes another
    # journey (an extra address check on node1) than the ping after it does.
    subprocess.run(["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "1", "-W", "2", "10.244.1.3"],
                   capture_output=True, timeout=10, check=True)
    lean = _ping_recorded(tmp_path / "lean.brt")
    full = _ping_recorded(tmp_path / "full.brt", "--all-hooks")
    seen = {}
    for name in ("lean", "full"):
        rec = open_recording(tmp_path / f"{name}.brt")
        live = {h.hook for h in rec.info.hooks if h.live}
        seen[name] = {e.hook for batch in rec.batches() for e in batch}
        assert (extra <= live) == (name == "full"), rec.info.hooks
    assert not seen["lean"] & extra
    assert extra <= seen["full"]
    # the extra events mark crossings the default hooks already show: the same journey
    for key in ("request", "reply"):
        assert [(h["netns"], h["dev"], h["verb"]) for h in lean[0][key]] == \
               [(h["netns"], h["dev"], h["verb"]) for h in full[0][key]]


def test_header_bytes_past_the_capture_are_zero(flannel_lab: LabInfo, tmp_path: Path) -> None:
    """Events store snaplen header bytes; past hdr_len they must be zeros, never
    bytes an earlier packet left in the probe's per-CPU buffer (a recording
    keeps the raw records, and may be shared for teaching)."""
    _ping_recorded(tmp_path / "p.brt", "-s", "16")  # short requests after long VXLAN frames
    rec = open_recording(tmp_path / "p.brt")
    short = 0
    for batch in rec.batches():
        assert isinstance(batch, EventBatch)
        arr = batch.arr  # the probe's raw records
        for hdr, n in zip(arr["headers"], arr["hdr_len"], strict=True):
            raw = bytes(hdr)
            if n < len(raw):
                short += 1
                assert raw[n:] == bytes(len(raw) - n), f"stale bytes past hdr_len {n}"
    assert short > 0


_BURST = """
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + 2.0
for _ in range(400):  # bounded in count and time
    if time.monotonic() > end:
        break
    s.sendto(b"x" * 32, ("10.244.1.3", 5299))
"""


def test_a_refused_event_goes_to_the_spill_ring_and_loss_stays_exact(flannel_lab: LabInfo) -> None:
    """With a one-page ring a burst overflows it at once: the overflow must come
    through the spill ring, merged in time order, and what neither ring took
    must be counted: received + lost == produced."""
    from probes.loader import LiveSource
    from tracer.filter import TraceFilter
    from tracer.topology.model import empty_topology

    src = LiveSource(TraceFilter(proto="udp", port=5299), empty_topology(), ringbuf_pages=1)
    try:
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", sys.executable, "-c", _BURST],
                       check=True, timeout=30)
        received = drain_quiet(src)
        produced, lost = src.kernel_counts()
        spilled = src.spilled
    finally:
        src.close()
    assert len(received) + lost == produced
    assert lost > 0 and spilled > 0  # 400 packets x ~14 hooks into 2 x 13 records
    by_cpu: dict[int, list[int]] = {}
    for e in received:  # packet events hold the CPU's scratch: they never interleave on a CPU
        if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE):
            by_cpu.setdefault(e.cpu, []).append(e.ts_ns)
    assert sum(len(ts) for ts in by_cpu.values()) > 0
    for ts in by_cpu.values():  # each CPU's in the order its probes ran, spilled ones included
        assert ts == sorted(ts)
    assert no_brtrace_programs()


def test_signals_during_the_load_leave_every_hook_live() -> None:
    """A signal pending while the verifier runs makes it give up (EAGAIN,
    kernel/bpf/verifier.c do_check, read in 6.18): a terminal resize or a
    child exiting during start-up must not turn hooks off or fail the load."""
    from probes.loader import LiveSource
    from tracer.filter import TraceFilter
    from tracer.topology.model import empty_topology

    quiet = LiveSource(TraceFilter(proto="udp", port=5299), empty_topology())
    live = {h.hook for h in quiet.info.hooks if h.live}
    quiet.close()
    got: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
    main, stop = threading.main_thread().ident, threading.Event()
    assert main is not None

    def storm() -> None:  # aimed at the loading thread, as a resize is at the TUI's
        while not stop.is_set():
            signal.pthread_kill(main, signal.SIGUSR1)
            time.sleep(0.0002)

    th = threading.Thread(target=storm, daemon=True)
    th.start()
    try:
        src = LiveSource(TraceFilter(proto="udp", port=5299), empty_topology())
    finally:
        stop.set()
        th.join()
        signal.signal(signal.SIGUSR1, old)
    try:
        stormy = {h.hook for h in src.info.hooks if h.live}
    finally:
        src.close()
    assert live and stormy == live  # the same hooks as without signals
    assert got  # and the signals came, after the load
    assert no_brtrace_programs()
