"""``brtrace record -o FILE [filter] [-- COMMAND]``: trace while a command runs.

The probes are attached before COMMAND starts and detached after it exits
(or after --duration, or Ctrl-C); events are written batch by batch, so a
killed run still leaves a readable file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from tracer.cli.live import add_live_args, open_live_source, options_from
from tracer.errors import BrtraceError, NeedRoot
from tracer.model import SourceStats

if TYPE_CHECKING:
    from tracer.filter import TraceFilter
    from tracer.source import EventSource
    from tracer.topology.model import Topology


def add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="only packets from/to this IPv4 address (outer or VXLAN-inner)")
    p.add_argument("--proto", choices=("icmp", "tcp", "udp"), help="only this protocol")
    p.add_argument("--port", type=int, help="only this TCP/UDP port")
    add_live_args(p)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("record", help="record a trace to a file while COMMAND runs")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    add_filter_args(p)
    p.add_argument("--duration", type=float, default=10.0,
                   help="stop after this many seconds (default 10; with COMMAND: its time limit)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND")
    p.set_defaults(func=run)


def build_filter(args: argparse.Namespace) -> TraceFilter:
    from tracer.filter import TraceFilter

    return TraceFilter(host=args.host, proto=args.proto, port=args.port,
                       fib_addrs=(args.host,) if args.host else ())


def open_live(args: argparse.Namespace, what: str, record: str = "") -> tuple[list[str], Topology, EventSource]:
    """Check the arguments, discover the topology, attach the probes: (cmd, topo, source).

    Shared by ``record`` and ``trace``: the probes are attached when this
    returns, before COMMAND is started; with ``record`` the source also
    writes what it polls to that file.
    """
    from tracer.topology.discover import discover

    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    flt = build_filter(args)
    if not 0 < args.duration <= 3600:
        raise BrtraceError("--duration must be between 0 and 3600 seconds", 2)
    if os.geteuid() != 0:
        raise NeedRoot(f"brtrace {what}")
    topo = discover()
    return cmd, topo, open_live_source(flt, topo, options_from(args, " ".join(cmd), record))


def run(args: argparse.Namespace) -> int:
    from tracer.record.writer import RecordWriter

    cmd, _topo, source = open_live(args, "record")
    n = 0
    try:
        with RecordWriter(args.output, source.info) as w:
            proc = _start(cmd)
            deadline = time.monotonic() + args.duration
            try:
                while time.monotonic() < deadline and (proc is None or proc.poll() is None):
                    batch = source.poll(100)
                    w.write_batch(batch)
                    n += len(batch)
            except KeyboardInterrupt:
                print("brtrace: interrupted; recording what was traced", file=sys.stderr)
            for _ in range(20):
                batch = source.poll(20)
                w.write_batch(batch)
                n += len(batch)
            lost = source.stats().lost
            w.close(SourceStats(events=n, lost=lost, batches=w.batches))  # the trailer carries the loss
            if proc is not None and proc.poll() is None:
                proc.terminate()
    finally:
        source.close()
    print(f"brtrace: wrote {n} events to {args.output} ({lost} lost)", file=sys.stderr)
    return 0 if proc is None else (proc.wait() or 0)


def _start(cmd: list[str], quiet_stdout: bool = False) -> subprocess.Popen[bytes] | None:
    """Start COMMAND; with ``quiet_stdout`` its output goes to stderr so ours stays parseable."""
    if not cmd:
        return None
    try:
        return subprocess.Popen(cmd, stdout=sys.stderr if quiet_stdout else None)
    except OSError as exc:
        raise BrtraceError(f"cannot run {cmd[0]!r}: {exc.strerror}") from None
