"""``brtrace trace [filter] [-- COMMAND]``: follow every matching packet, not only probes.

On a terminal it opens the TUI on the live source; otherwise (or with
``--plain``/``--json``) it traces for ``--duration`` seconds or until COMMAND
exits and prints every packet's hops. The filter runs in the kernel.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from tracer.cli.record_cmd import _start, add_filter_args, open_live

if TYPE_CHECKING:
    from tracer.correlate import Correlator
    from tracer.jsonout import WallClock
    from tracer.source import EventSource
    from tracer.topology.model import Topology


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("trace", help="trace every packet matching a filter, hop by hop")
    add_filter_args(p)
    p.add_argument("--duration", type=float, default=10.0, help="seconds to trace (default 10)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per packet")
    out.add_argument("--plain", action="store_true", help="text output even on a terminal")
    p.add_argument("--record", metavar="FILE", help="also write the trace to FILE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cmd, topo, source = open_live(args, "trace", record=args.record or "")
    if not (args.json or args.plain) and sys.stdout.isatty():
        return _tui(source, source.info.filter, args.record or "", cmd)
    return _text(source, topo, args, cmd)


def _tui(source: EventSource, what: str, recording: str, cmd: list[str]) -> int:
    from tui.app import BrtraceApp

    proc = _start(cmd)
    app = BrtraceApp(source, label=f"live trace: {what}", recording=recording)
    try:
        app.run()
    finally:
        app.stop_source()
        source.close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
    return 0


def _text(source: EventSource, topo: Topology, args: argparse.Namespace, cmd: list[str]) -> int:
    from tracer.correlate import Correlator, build_hops
    from tracer.jsonout import WallClock
    from tracer.render.inert import inert
    from tracer.render.text import hop_table

    corr = Correlator()
    clock = WallClock.live()
    n = 0
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = _start(cmd, quiet_stdout=True)
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline and (proc is None or proc.poll() is None):
            batch = source.poll(100)
            n += len(batch)
            corr.feed(batch)
        for _ in range(10):
            batch = source.poll(20)
            n += len(batch)
            corr.feed(batch)
    except KeyboardInterrupt:
        print("brtrace: interrupted; showing what was traced", file=sys.stderr)
    finally:
        lost = source.stats().lost
        source.close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
    if args.json:
        _json(corr, topo, n, lost, clock)
    else:
        for j in corr.journeys.values():
            hops = build_hops(j, topo)
            k = j.packet()
            print(f"packet {inert(' '.join(str(x) for x in j.key))}  {k.src} → {k.dst}")
            print("\n".join(hop_table(hops)))
            print()
    print(f"brtrace: {len(corr.journeys)} packets, {n} events, {lost} lost", file=sys.stderr)
    return 0 if proc is None else (proc.wait() or 0)


def _json(corr: Correlator, topo: Topology, events: int, lost: int, clock: WallClock) -> None:
    """Packets (an echo's request and reply paired) in the one JSON schema of ping/replay."""
    from tracer.cli.packet_views import json_lines
    from tracer.correlate.pairing import PacketBook
    from tracer.jsonout import dumps, summary_record

    book = PacketBook(topo)
    book.update(corr, set(corr.journeys), final=True)
    for line in json_lines("trace", book, topo, clock):
        print(line)
    statuses = [p.status for p in book.packets.values()]
    print(dumps(summary_record("trace", statuses, events, lost, clock=clock)), flush=True)
