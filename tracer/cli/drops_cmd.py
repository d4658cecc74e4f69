"""``brtrace drops [--host/--proto/--port] [--json]``: watch every drop on the machine.

Not only pings: any packet the kernel frees with kfree_skb, grouped by
(netns, device, reason) with per-second counts, refreshed every --interval
and bounded by --duration. The in-kernel filter runs with ONLY_DROPS, so the
other hooks cost a header parse and no event. Ctrl-C prints the totals.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING

from tracer.errors import BrtraceError, NeedRoot

if TYPE_CHECKING:
    from tracer.drops import DropTable
    from tracer.source import EventSource


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("drops", help="watch all packet drops, grouped by netns, device and reason")
    p.add_argument("--host", help="only packets from/to this IPv4 address (outer or VXLAN-inner)")
    p.add_argument("--proto", choices=("icmp", "tcp", "udp"), help="only this protocol")
    p.add_argument("--port", type=int, help="only this TCP/UDP port")
    p.add_argument("--inner", action="store_true", help="EXPRESSION also matches the packet inside VXLAN")
    p.add_argument("expression", nargs="*", help="a pcap-filter expression (as tcpdump takes)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON line per interval, then totals")
    out.add_argument("--plain", action="store_true", help="text tables even on a terminal (default: TUI)")
    p.add_argument("--duration", type=float, default=10.0, help="stop after S seconds (default 10)")
    p.add_argument("--interval", type=float, default=1.0, help="refresh every S seconds (default 1)")
    from tracer.remote.options import add_agent_args

    add_agent_args(p)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if not 0 < args.duration <= 86400:
        raise BrtraceError("--duration must be between 0 and 86400 seconds", 2)
    if not 0.1 <= args.interval <= 3600:
        raise BrtraceError("--interval must be between 0.1 and 3600 seconds", 2)
    if os.geteuid() != 0 and not args.agents:
        raise NeedRoot("brtrace drops")


def run(args: argparse.Namespace) -> int:
    from tracer.cli.live import LiveOptions, open_live_source
    from tracer.cli.record_cmd import check_expression
    from tracer.drops import DropTable
    from tracer.filter import TraceFilter
    from tracer.topology.discover import discover

    expr = " ".join(args.expression) or None
    check_expression(expr)
    flt = TraceFilter(host=args.host, proto=args.proto, port=args.port, only_drops=True,
                      expr=expr, inner=args.inner)
    _check(args)
    if args.agents:  # every node's drops through its agent (tracer/remote)
        from tracer.remote.cli import open_session
        from tracer.remote.source import RemoteSource

        source: EventSource = RemoteSource(open_session(args), flt, command=" ".join(sys.argv))
        topo = source.info.topology
    else:
        topo = discover()
        source = open_live_source(flt, topo, LiveOptions(command=" ".join(sys.argv)))
    if not (args.json or args.plain) and sys.stdout.isatty():
        return _tui(source, args.interval)
    table = DropTable(topo)
    if not args.json:
        print(f"brtrace: watching drops ({flt.describe()}) for {args.duration:g} s; Ctrl-C stops",
              file=sys.stderr)
    start = time.monotonic()
    try:
        _watch(source, table, args, start)
    except KeyboardInterrupt:
        pass
    finally:
        lost = source.stats().lost
        source.close()
    _print_totals(table, args, time.monotonic() - start, lost)
    return 0


def _tui(source: EventSource, interval: float) -> int:
    from tui.drops import DropsApp

    app = DropsApp(source, interval)
    try:
        app.run()
    finally:
        app.stop_source()
        source.close()
    return 0


def _watch(source: EventSource, table: DropTable, args: argparse.Namespace, start: float) -> None:
    """Poll until the deadline, printing one table (or JSON line) per interval."""
    deadline = start + args.duration
    next_tick = start + args.interval
    last_tick = start
    while True:
        now = time.monotonic()
        if now >= next_tick or now >= deadline:
            _print_interval(table, args, now - start, now - last_tick)
            last_tick, next_tick = now, now + args.interval
        if now >= deadline:
            return
        table.feed(source.poll(int(max(1, min(100, (min(next_tick, deadline) - now) * 1000)))))


def _print_interval(table: DropTable, args: argparse.Namespace, t: float, span: float) -> None:
    from tracer.drops import rows_json, table_text

    rows = table.snapshot(span)
    if args.json:
        print(rows_json(rows, t, span), flush=True)
        return
    if sys.stdout.isatty():
        print("\x1b[H\x1b[2J", end="")
    print("\n".join(table_text(rows, f"drops in the last {span:.1f} s (t={t:.1f} s)")), flush=True)


def _print_totals(table: DropTable, args: argparse.Namespace, elapsed: float, lost: int) -> None:
    from tracer.drops import rows_json, table_text

    rows = table.totals(elapsed)
    if args.json:
        print(rows_json(rows, elapsed, elapsed, final=True), flush=True)
    else:
        print("\n".join(table_text(rows, f"total drops over {elapsed:.1f} s: {table.total}")))
    if lost:
        print(f"brtrace: warning: {lost} events lost (ring buffer full)", file=sys.stderr)
