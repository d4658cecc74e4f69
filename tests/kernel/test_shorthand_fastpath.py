"""The shorthands' fast path selects what their expression selects (issue 23, item 2).

``--host H --proto icmp`` runs as brtrace.c's fixed -D filter; the same
expression given as text (``--inner 'host H and ip proto 1'``) runs as the
translated libpcap program. The same bounded ping through the flannel lab,
recorded both ways, must keep the same crossings (hook, place, ICMP type,
encapsulated or not), and every event the fast path kept must match the
expression per libpcap itself, outside or inside VXLAN.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from probes.pcap import offline_filter
from tracer.filter import TraceFilter
from tracer.lab import LabInfo
from tracer.model import Event, Hook
from tracer.pcapf.offline import ExprFilter
from tracer.record.reader import open_recording

pytestmark = pytest.mark.kernel
BRTRACE = str(Path(sys.executable).with_name("brtrace"))
POD_B = "10.244.1.3"
PING = ["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "3", "-i", "0.2", "-W", "1", POD_B]


def _record(out: Path, args: list[str]) -> list[Event]:
    proc = subprocess.run([BRTRACE, "record", "-o", str(out), "--duration", "30", *args, "--", *PING],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [e for e in open_recording(out).events()
            if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE)]


def _crossings(evs: list[Event]) -> Counter[tuple[object, ...]]:
    def icmp_type(e: Event) -> int:
        return e.inner.icmp_type if e.vni and e.inner is not None else e.outer.icmp_type
    return Counter((e.hook, e.netns, e.ifname, icmp_type(e), bool(e.vni)) for e in evs)


def test_fast_path_keeps_what_the_expression_keeps(flannel_lab: LabInfo, tmp_path: Path) -> None:
    short = TraceFilter(host=POD_B, proto="icmp")
    assert short.fast_path and short.kernel_expr is None and short.expression is not None
    fast = _record(tmp_path / "fast.brt", ["--host", POD_B, "--proto", "icmp"])
    slow = _record(tmp_path / "expr.brt", ["--inner", short.expression])
    assert len(fast) >= 3 * 2 * 10, len(fast)  # 3 echoes and replies, pod to pod across VXLAN
    assert [e for e in fast if e.vni], "the encapsulated crossings are kept (matched inside VXLAN)"
    assert _crossings(fast) == _crossings(slow)
    judge = ExprFilter(short.expression, offline_filter(short.expression), inner=True)
    assert all(judge.event(e) for e in fast if e.headers)
