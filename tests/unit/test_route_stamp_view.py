"""A route lookup's Δt where its time is not its own (Hop.stamped, render.text.fmt_dt).

The probes stamp an input route lookup ROUTE_STAMP_NS after its packet's
hook instead of timing it (brtrace.c: fib_stamp). Every hop table shows
that Δt as "-", not as a time; an output lookup (timed) and an input one
from an older recording (timed, never exactly 1 ns after) show their time.
"""

from __future__ import annotations

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.model import Event, Hook, Route
from tracer.render.text import fmt_dt, hop_table
from tracer.schema.event import LOOPBACK_IFINDEX, ROUTE_STAMP_NS


def _route_hop(index: int, t_ns: int, iif: int) -> Hop:
    ev = Event(ts_ns=t_ns, cpu=0, hook=Hook.FIB_TABLE_LOOKUP, skb=1, netns=1, ifindex=3, ifname="cni0",
               length=0, route=Route(table=254, iif=iif, nh_ifindex=3))
    return Hop(index, t_ns, "node1", "cni0", "route", Verb.ROUTE, "route lookup", events=(ev,))


def test_an_input_lookup_stamped_after_its_hook_shows_no_time() -> None:
    assert fmt_dt(_route_hop(2, 1_001, iif=3), ROUTE_STAMP_NS) == "-"
    assert fmt_dt(_route_hop(2, 1_001, iif=LOOPBACK_IFINDEX), ROUTE_STAMP_NS) == "1ns"  # output: timed
    assert fmt_dt(_route_hop(2, 1_400, iif=3), 400) == "400ns"  # timed (an older recording)
    recv = Hop(1, 1_000, "node1", "eth0", "uplink", Verb.RECV_ENCAP, "received", hooks=("netif_receive_skb",))
    table = hop_table([recv, _route_hop(2, 1_000 + ROUTE_STAMP_NS, iif=3)])
    assert table[-1].split()[3:5] == ["-", "1ns"]  # Δt "-", t still counted from the first hop
