"""Hop and route records (brtrace.c: emit_hop, emit_route) against a whole
event's record for every event, on the same packets at the same time.

A hop is written instead of a parse and a full record when an skb passes a
later hook on the same CPU with every byte the parser reads unchanged; the
drain makes it a whole event again from its base (tracer/schema/hops.py). A
wrong hop would show a packet with another hook's headers, or lose an event.
An IPv4 route lookup is a route record the drain lays into a zeroed event
(tracer/schema/routes.py). Two live sources, one with both and one with
neither (BRT_FULL_RECORDS), are attached
side by side on the flannel lab; UDP datagrams short and long (a header
shorter than the 128 bytes compared, and one longer) and pings cross pod-a ->
VXLAN -> pod-b and back, and both must hand out exactly the same events,
field by field, with the kernel's count of what it produced exact.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import pytest

from probes.loader import LiveSource
from tests.kernel.test_ping import no_brtrace_programs
from tests.support.drain import drain_quiet
from tests.support.udpsend import paced_udp
from tracer.filter import TraceFilter
from tracer.lab import LabInfo
from tracer.model import Event, Hook
from tracer.topology.model import empty_topology

pytestmark = pytest.mark.kernel

_SEND = paced_udp("10.244.1.3", port="5300", size="32 if i % 2 else 400")


def _key(e: Event) -> tuple[object, ...]:
    """Everything an event says but its clock (each source reads its own)."""
    return (e.hook, e.skb, e.cpu, e.netns, e.ifindex, e.ifname, e.length, e.pkt_type, e.src_mac,
            e.dst_mac, e.ethertype, e.vlan, e.outer, e.vni, e.inner, e.inner_src_mac, e.inner_dst_mac,
            e.drop_reason, e.location, e.route, e.headers, e.headers_l3)


def _settle(a: LiveSource, b: LiveSource) -> tuple[int, int]:
    """Read both sources together until neither brings anything for three polls
    (at most 10 s); how many events each had. What the lab still carried while
    only the first was attached (a compile of the second's programs takes a
    second or more: the host filter's route lookups, a previous test's last
    packets) would otherwise be one source's events only."""
    counts, quiet, end = [0, 0], 0, time.monotonic() + 10
    while quiet < 3 and time.monotonic() < end:
        got = [len(a.poll(100)), len(b.poll(0))]
        counts = [c + g for c, g in zip(counts, got, strict=True)]
        quiet = 0 if any(got) else quiet + 1
    return counts[0], counts[1]


@pytest.mark.parametrize("flt", [TraceFilter(proto="udp", port=5300), TraceFilter(host="10.244.1.3")],
                         ids=["udp-port", "host"])
def test_hop_and_route_records_are_the_events_full_records_are(flannel_lab: LabInfo,
                                                                 flt: TraceFilter) -> None:
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    with contextlib.ExitStack() as held:  # both closed, also on failure
        hops = held.enter_context(contextlib.closing(LiveSource(flt, empty_topology())))
        full = held.enter_context(contextlib.closing(LiveSource(flt, empty_topology(), compact=False)))
        before = _settle(hops, full)
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", sys.executable, "-c", _SEND],
                       check=True, timeout=30)
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "5", "-i", "0.05",
                        "-s", "300", "10.244.1.3"], check=True, timeout=30, capture_output=True)
        got_hops = drain_quiet(hops)
        got_full = drain_quiet(full)
        counts = [(src.kernel_counts(), len(got) + early)
                  for src, got, early in ((hops, got_hops, before[0]), (full, got_full, before[1]))]
        expanded, orphans = hops._drain.hops.expanded, hops._drain.hops.orphans
        parsed = hops._drain.parsed
    packets = [e for e in got_full if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE)]
    assert len(packets) >= 40 * 8, len(packets)
    assert sum(e.hook == Hook.FIB_TABLE_LOOKUP for e in got_full) >= 40 * 3  # route records too
    assert expanded >= len(packets) // 4, (expanded, len(packets))  # the veths and bridges repeat
    assert orphans == 0
    assert parsed >= len(packets) // 4, (parsed, len(packets))  # raw records, parsed by the drain
    for (produced, lost), received in counts:  # exact, hops counted as the events they are
        assert lost == 0 and received == produced, (received, produced, lost)
    assert sorted(map(_key, got_hops), key=repr) == sorted(map(_key, got_full), key=repr)
    assert no_brtrace_programs()
