"""``brtrace record -o FILE [filter] [-- COMMAND]``: trace while a command runs.

The probes are attached before COMMAND starts and detached after it exits
(or after --duration, or Ctrl-C); events are written batch by batch, so a
killed run still leaves a readable file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from tracer import interrupt
from tracer.cli.live import add_live_args, open_live_source, options_from
from tracer.errors import BrtraceError, NeedRoot
from tracer.model import Event, SourceStats

if TYPE_CHECKING:
    from tracer.filter import TraceFilter
    from tracer.source import EventSource
    from tracer.topology.model import Topology


def add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="only packets from/to this IPv4 or IPv6 address (outer or VXLAN-inner)")
    p.add_argument("--proto", choices=("icmp", "tcp", "udp"), help="only this protocol")
    p.add_argument("--port", type=int, help="only this TCP/UDP port")
    p.add_argument("--inner", action="store_true",
                   help="EXPRESSION also matches the packet inside VXLAN; its outer packet joins")
    add_live_args(p)


def split_command(words: list[str]) -> tuple[str | None, list[str]]:
    """``[EXPRESSION...] -- COMMAND``: the pcap-filter expression (its words
    joined, as tcpdump does) and the command. Without ``--`` it is all expression."""
    if "--" in words:
        i = words.index("--")
        expr, cmd = words[:i], words[i + 1:]
    else:
        expr, cmd = words, []
    opts = [w for w in expr if w.startswith("--")]
    if opts:  # argparse hands everything after the first positional word to COMMAND
        raise BrtraceError(f"options go before the filter expression: {opts[0]} "
                           "(brtrace trace [OPTIONS] [EXPRESSION] -- COMMAND)", 2)
    return (" ".join(expr) or None), cmd


def check_expression(expr: str | None) -> None:
    """Compile and translate now: a bad or untranslatable expression is one
    line before anything is attached (the loader compiles it again, in its child)."""
    if expr:
        from probes.pcap import compile_both

        compile_both(expr)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("record", help="record a trace to a file while COMMAND runs")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    add_filter_args(p)
    p.add_argument("--duration", type=float, default=10.0,
                   help="stop after this many seconds (default 10; with COMMAND: its time limit)")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="[EXPRESSION] -- COMMAND")
    p.set_defaults(func=run)


def build_filter(args: argparse.Namespace) -> TraceFilter:
    from tracer.filter import TraceFilter

    expr, _ = split_command(args.command)
    check_expression(expr)
    return TraceFilter(host=args.host, proto=args.proto, port=args.port,
                       fib_addrs=(args.host,) if args.host else (), expr=expr,
                       inner=args.inner)


def open_live(args: argparse.Namespace, what: str, record: str = "",
              tune: Callable[[TraceFilter, Topology], TraceFilter] | None = None,
              ) -> tuple[list[str], Topology, EventSource]:
    """Check the arguments, discover the topology, attach the probes: (cmd, topo, source).

    Shared by ``record`` and ``trace``: the probes are attached when this
    returns, before COMMAND is started; with ``record`` the source also
    writes what it polls to that file.
    """
    from tracer.topology.discover import discover

    _, cmd = split_command(args.command)
    flt = build_filter(args)
    if not 0 < args.duration <= 3600:
        raise BrtraceError("--duration must be between 0 and 3600 seconds", 2)
    if getattr(args, "agents", ""):  # across nodes: the agents trace (tracer/remote), no root here
        from tracer.remote.cli import open_session
        from tracer.remote.source import RemoteSource

        remote: EventSource = RemoteSource(open_session(args), flt, args.snaplen, args.all_hooks,
                                           " ".join(cmd))
        if record:
            from tracer.record.writer import LiveRecorder

            remote = LiveRecorder(remote, record)
        return cmd, remote.info.topology, remote
    if os.geteuid() != 0:
        raise NeedRoot(f"brtrace {what}")
    topo = discover()
    if tune is not None:  # what the topology decides (trace/record: NAT following, issue 17)
        flt = tune(flt, topo)
    return cmd, topo, open_live_source(flt, topo, options_from(args, " ".join(cmd), record))


def run(args: argparse.Namespace) -> int:
    from tracer.netfilter.read import follow_nat
    from tracer.record.writer import RecordWriter

    cmd, _topo, source = open_live(args, "record", tune=lambda f, t: follow_nat(f, t.namespaces)[0])
    n, stopped_by = 0, 0
    proc: subprocess.Popen[bytes] | None = None
    try:
        with RecordWriter(args.output, source.info) as w:
            proc = _start(cmd)
            deadline = time.monotonic() + args.duration
            try:
                while time.monotonic() < deadline and (proc is None or proc.poll() is None):
                    batch = source.poll(100)
                    w.write_batch(batch)
                    n += len(batch)
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (tracer/interrupt.py)
                stopped_by = interrupt.exit_code(exc)
                print("brtrace: interrupted; recording what was traced", file=sys.stderr)
            for batch in drain_rest(source):
                w.write_batch(batch)
                n += len(batch)
            lost = source.stats().lost
            w.close(SourceStats(events=n, lost=lost, batches=w.batches))  # the trailer carries the loss
    finally:
        source.close()
        end_command(proc)
    print(f"brtrace: wrote {n} events to {args.output} ({lost} lost)", file=sys.stderr)
    return stopped_by or command_status(proc)


def drain_rest(source: EventSource, limit_s: float = 10.0) -> Iterator[Sequence[Event]]:
    """What is still queued or in the ring once tracing stops, until two polls
    come back empty (at most ``limit_s``).

    A fixed number of polls left a backlog unread under load: the last
    ~260 pings of a 60 s ``ping -i 0.002`` never showed, without a word.
    """
    end, empty = time.monotonic() + limit_s, 0
    while empty < 2 and time.monotonic() < end:
        batch = source.poll(20)
        empty = 0 if len(batch) else empty + 1
        if len(batch):
            yield batch


def _start(cmd: list[str], quiet_stdout: bool = False) -> subprocess.Popen[bytes] | None:
    """Start COMMAND in its own process group; with ``quiet_stdout`` its output goes
    to stderr so ours stays parseable.

    Its own group, so ending it ends what it started too (``ip netns exec`` →
    ping); the kernel sends it SIGTERM if brtrace dies first (PR_SET_PDEATHSIG,
    even on SIGKILL), so a killed ``record`` leaves nothing running.

    The death signal is set by ``setpriv --pdeathsig`` (util-linux, essential
    on Debian), not by a Python ``preexec_fn``: a pre-exec hook makes CPython
    fork() rather than vfork(), and fork() runs gRPC's at-fork handlers while
    the agents' stream threads are inside gRPC ("skipping fork() handlers"),
    after which the parent's event engine saw a closed epoll fd and the
    recording through ``--agents`` came out empty (CI, 2026-12-02).
    """
    if not cmd:
        return None
    if shutil.which(cmd[0]) is None:  # setpriv would exec it: say so here, in our words
        raise BrtraceError(f"cannot run {cmd[0]!r}: No such file or directory")
    wrapped = ["setpriv", "--pdeathsig", "TERM", "--", *cmd] if shutil.which("setpriv") else cmd
    try:
        return subprocess.Popen(wrapped, stdout=sys.stderr if quiet_stdout else None, process_group=0)
    except OSError as exc:
        raise BrtraceError(f"cannot run {cmd[0]!r}: {exc.strerror}") from None


def end_command(proc: subprocess.Popen[bytes] | None) -> None:
    """End COMMAND's process group if it still runs (SIGTERM, then SIGKILL after 2 s)."""
    if proc is None or proc.poll() is not None:
        return
    proc.ended_by_us = True  # type: ignore[attr-defined]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(2.0)
            return
        except subprocess.TimeoutExpired:
            continue


def command_status(proc: subprocess.Popen[bytes] | None) -> int:
    """COMMAND's exit status for ours: 0 when there was none or brtrace ended it (its time was up)."""
    if proc is None or getattr(proc, "ended_by_us", False):
        return 0
    return proc.wait() or 0
