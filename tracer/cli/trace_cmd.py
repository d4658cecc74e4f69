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

from tracer import interrupt
from tracer.cli.lang import add_lang_arg
from tracer.cli.record_cmd import _start, add_filter_args, command_status, drain_rest, end_command, open_live

if TYPE_CHECKING:
    from tracer.filter import TraceFilter
    from tracer.netfilter.rules import NfEntry
    from tracer.source import EventSource
    from tracer.topology.model import Topology


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("trace", help="trace every packet matching a filter, hop by hop")
    add_filter_args(p)
    p.add_argument("--duration", type=float, default=10.0, help="seconds to trace (default 10)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per packet")
    out.add_argument("--plain", action="store_true", help="text output even on a terminal")
    out.add_argument("--tui", action="store_true",
                     help="the TUI even when stdout is not a terminal (as under brtrace serve)")
    p.add_argument("--record", metavar="FILE", help="also write the trace to FILE")
    add_lang_arg(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[EXPRESSION] -- COMMAND",
                   help="a pcap-filter expression (as tcpdump takes), then the command to run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracer.netfilter.read import follow_nat

    before: dict[str, tuple[NfEntry, ...]] = {}

    def tune(flt: TraceFilter, topo: Topology) -> TraceFilter:
        """Follow through NAT where a NAT rule exists; the rules read are the counters'
        "before" (read before COMMAND starts: which rule rewrote or dropped is measured)."""
        flt, read = follow_nat(flt, topo.namespaces)
        before.update(read)
        return flt

    cmd, topo, source = open_live(args, "trace", record=args.record or "", tune=tune)
    if args.tui or (not (args.json or args.plain) and sys.stdout.isatty()):
        return _tui(source, source.info.filter, args.record or "", cmd, args.lang)
    return _text(source, topo, args, cmd, before)


def _tui(source: EventSource, what: str, recording: str, cmd: list[str], lang: str = "en") -> int:
    from probes.pcap import offline_filter
    from tui.app import BrtraceApp

    proc = _start(cmd)
    app = BrtraceApp(source, label=f"live trace: {what}", recording=recording, compile_filter=offline_filter,
                     lang=lang)
    try:
        app.run()
    finally:
        app.stop_source()
        source.close()
        end_command(proc)
    return 0


def _text(source: EventSource, topo: Topology, args: argparse.Namespace, cmd: list[str],
          before: dict[str, tuple[NfEntry, ...]]) -> int:
    """Trace for --duration or until COMMAND exits, printing each packet once its
    journey is done (tracer/render/stream.py says why)."""
    from tracer.correlate import Correlator
    from tracer.jsonout import WallClock
    from tracer.netfilter.read import LiveCounters
    from tracer.render.stream import PacketPrinter

    # (an agent's namespaces are on its own node: not read from here)
    nf = LiveCounters(() if getattr(args, "agents", "") else topo.namespaces, before=before)
    corr = Correlator()
    printer = PacketPrinter(topo, args.json, clock=WallClock.live(), nf=nf.now)
    n, stopped_by = 0, 0
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = _start(cmd, quiet_stdout=True)
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline and (proc is None or proc.poll() is None):
            batch = source.poll(100)
            n += len(batch)
            corr.feed(batch)
            printer.show(corr.retire())
        for batch in drain_rest(source):
            n += len(batch)
            corr.feed(batch)
            printer.show(corr.retire())
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (tracer/interrupt.py)
        stopped_by = interrupt.exit_code(exc)
        print("brtrace: interrupted; showing what was traced", file=sys.stderr)
    finally:
        lost = source.stats().lost
        source.close()
        end_command(proc)
    printer.show(corr.flush())
    print(printer.summary(n, lost, corr.evicted), file=sys.stderr)
    return stopped_by or command_status(proc)
