"""Route lookups stamped without a clock read (brtrace.c: fib_stamp).

An input route lookup runs in its packet's receive path, right after that
packet's hook on the same CPU, so the probes stamp it 1 ns after that hook's
record instead of reading the clock. That is only right if the lookup is
where the stamp puts it: this checks, on real packets across the flannel
lab, that every tied input lookup directly follows its packet's last event
on its CPU, one nanosecond later, in the stream the source hands out; and
that output lookups (which may come before their packet exists) still read
the clock, so none of them sits 1 ns after anything.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import pytest

from probes.loader import LiveSource
from tests.support.drain import drain_quiet
from tests.support.udpsend import paced_udp
from tracer.filter import TraceFilter
from tracer.lab import LabInfo
from tracer.model import Event, Hook
from tracer.schema.event import LOOPBACK_IFINDEX, ROUTE_STAMP_NS
from tracer.topology.model import empty_topology

pytestmark = pytest.mark.kernel


_SEND = paced_udp("10.244.1.3", port="5301", size="64")


def _previous_on_cpu(events: list[Event]) -> list[Event | None]:
    """For each event, the event before it on its CPU in the stream (None: the first)."""
    last: dict[int, Event] = {}
    out: list[Event | None] = []
    for e in events:
        out.append(last.get(e.cpu))
        last[e.cpu] = e
    return out


def test_input_route_lookups_follow_their_hook(flannel_lab: LabInfo) -> None:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    with contextlib.closing(LiveSource(TraceFilter(host="10.244.1.3"), empty_topology())) as src:
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", sys.executable, "-c", _SEND],
                       check=True, timeout=30)
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "5", "-i", "0.05",
                        "10.244.1.3"], check=True, timeout=30, capture_output=True)
        got = drain_quiet(src)
    assert [e.ts_ns for e in got] == sorted(e.ts_ns for e in got)  # the stream is in time order
    tied_in = tied_out = 0
    for e, prev in zip(got, _previous_on_cpu(got), strict=True):
        if e.hook != Hook.FIB_TABLE_LOOKUP or e.route is None or not e.skb:
            continue
        if e.route.iif > LOOPBACK_IFINDEX:
            tied_in += 1
            assert prev is not None and prev.skb == e.skb, (e, prev)
            assert e.ts_ns == prev.ts_ns + ROUTE_STAMP_NS, (e.ts_ns, prev.ts_ns)
        else:
            tied_out += 1
            assert prev is None or e.ts_ns != prev.ts_ns + ROUTE_STAMP_NS, (e.ts_ns, prev.ts_ns)
    # pod-a -> pod-b: the forward on node1 and the decapsulated packet's on node2, each way
    assert tied_in >= 40 * 2, tied_in
    assert tied_out >= 40, tied_out  # the VXLAN device's lookups of the underlay route
