"""``brtrace ping DEST``: trace ICMP probes hop by hop."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from tracer.cli.lang import add_lang_arg
from tracer.cli.live import LiveOptions, add_live_args, hooks_line, open_live_source, options_from
from tracer.errors import BrtraceError, NeedRoot

if TYPE_CHECKING:
    from tracer.jsonout import WallClock
    from tracer.netfilter.rules import Counters
    from tracer.ping import PingRun
    from tracer.source import EventSource
    from tracer.topology.model import Netns, Topology
    from tui.pump import Runner


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ping", help="send ICMP probes and show each one's path hop by hop")
    p.add_argument("dest", metavar="DEST", help="IPv4 or IPv6 address to probe")
    p.add_argument("--from", dest="src", metavar="WHERE",
                   help="namespace to send from: netns name or label, container name or id, "
                        "pod as namespace/name, PID, netns inode or path "
                        "(default: one with a route to DEST)")
    p.add_argument("-c", "--count", type=int, default=3, help="probes to send (default 3)")
    p.add_argument("-i", "--interval", type=float, default=0.5, help="seconds between probes")
    p.add_argument("-s", "--size", type=int, default=56,
                   help="ICMP payload bytes (default 56); probes carry DF, so a size the path "
                        "cannot carry shows where it is dropped")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per probe")
    out.add_argument("--plain", action="store_true", help="text output even on a terminal")
    out.add_argument("--tui", action="store_true",
                     help="the TUI even when stdout is not a terminal (as under brtrace serve)")
    p.add_argument("--record", metavar="FILE", help="also write the trace to FILE")
    add_lang_arg(p)
    add_live_args(p)
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.count <= 10000:
        raise BrtraceError("-c must be between 1 and 10000", 2)
    if not 0.01 <= args.interval <= 60:
        raise BrtraceError("-i must be between 0.01 and 60 seconds", 2)
    if not 13 <= args.size <= 65507:
        raise BrtraceError("-s must be between 13 and 65507 bytes", 2)
    if os.geteuid() != 0:
        raise NeedRoot("brtrace ping")


def run(args: argparse.Namespace) -> int:
    if args.agents:  # across nodes: the agents trace and send (tracer/remote)
        from tracer.remote.cli import ping as remote_ping

        return remote_ping(args)
    from tracer.correlate.vocab import Status
    from tracer.filter import TraceFilter
    from tracer.netfilter.read import read_all
    from tracer.netfilter.rules import Counters
    from tracer.ping import parse_dest, run_ping
    from tracer.render.text import summary_text
    from tracer.topology.discover import discover

    dest = parse_dest(args.dest)
    _check(args)
    topo = discover()
    src = _source(args, topo, dest)
    opts = options_from(args, " ".join(sys.argv), record=args.record or "")
    if args.tui or (not (args.json or args.plain) and sys.stdout.isatty()):
        return _tui(args, opts, topo, dest, src)  # the TUI on a terminal (or --tui); text paths below

    def open_source(flt: TraceFilter) -> EventSource:
        source = open_live_source(flt, topo, opts)
        if not args.json:
            print(hooks_line(source), file=sys.stderr)
        return source

    from tracer.jsonout import WallClock, dumps, summary_record

    clock = WallClock.live()
    before = read_all(topo.namespaces)  # which rule drops is measured: counters around the run
    res = run_ping(topo, dest, src, args.count, args.interval, open_source, size=args.size)
    nf = Counters(before, read_all(topo.namespaces))
    _print_probes(args, res, topo, src, dest, clock, nf)
    if args.json:
        print(dumps(summary_record("ping", [r.status for r in res.results], res.events, res.lost,
                                   clock=clock, evicted=res.evicted)))
    else:
        print(summary_text(res.results, res.lost, res.events))
        if res.lost:
            print(f"brtrace: warning: {res.lost} events lost (ring buffer full)", file=sys.stderr)
    if res.evicted:  # a probe whose journey was forgotten reads unanswered: say why
        print(f"brtrace: warning: {res.evicted} packets not shown (evicted before completion)",
              file=sys.stderr)
    if res.interrupted:
        return res.interrupted
    return 0 if all(r.status == Status.DELIVERED for r in res.results) else 1


def _source(args: argparse.Namespace, topo: Topology, dest: str) -> Netns:
    """The namespace the probes leave from: --from through the one resolver (which
    says what it picked when the argument was not a plain name), else the one whose
    routes reach dest."""
    from tracer.ping import choose_source

    if not args.src:
        return choose_source(topo, dest, None)
    from tracer.names.lookup import pick_netns

    picked = pick_netns(args.src, topo)
    if not picked.plain:
        print(f"brtrace: {picked.line(args.src)}", file=sys.stderr)
    return picked.netns


def _print_probes(args: argparse.Namespace, res: PingRun, topo: Topology, src: Netns,
                  dest: str, clock: WallClock, nf: Counters) -> None:
    """One JSON record or one text block per probe, as ping sent them."""
    from tracer.jsonout import dumps, packet_record
    from tracer.multinode.edges import with_local_node
    from tracer.render.text import probe_text

    dest_name = topo.name_of_address(dest)  # a container or pod here, or a pod on another node
    dest_shown = f"{dest_name} ({dest})" if dest_name else dest
    for n, r in enumerate(res.results, 1):
        if args.json:
            record = dumps(packet_record("ping", n, r, topo, src=res.src_addr, dst=str(dest),
                                         clock=clock, nf=nf))
            print(with_local_node(record, topo.hostname, res.lost))
        else:
            print("\n".join(probe_text(r, f"{src.label} ({res.src_addr})", dest_shown, topo, nf)))
            print()


def _runner(args: argparse.Namespace, opts: LiveOptions, topo: Topology, dest: str,
            src: Netns) -> Runner:
    """``run_ping`` inside the TUI's worker: it attaches, sends, and detaches on every way out.

    Its source is wrapped so that each poll hands the batch to the app, and
    quitting the app becomes the KeyboardInterrupt run_ping already handles
    (stop the pinger, drain, close the source): the probes are detached by the
    time the worker returns, which ``BrtraceApp.stop_source`` waits for.
    """
    from tracer.filter import TraceFilter
    from tracer.ping import run_ping
    from tui.pump import StoppableSource, WorkerLink

    def run(link: WorkerLink) -> None:
        def open_source(flt: TraceFilter) -> EventSource:
            live = open_live_source(flt, topo, opts)
            link.opened(live.info, opts.record)
            return StoppableSource(live, link)

        run_ping(topo, dest, src, args.count, args.interval, open_source, size=args.size)
    return run


def _tui(args: argparse.Namespace, opts: LiveOptions, topo: Topology, dest: str, src: Netns) -> int:
    """Open the TUI on a live ping; returns once the probes are detached."""
    from probes.pcap import offline_filter
    from tui.app import BrtraceApp

    app = BrtraceApp(topology=topo, runner=_runner(args, opts, topo, dest, src),
                     label=f"live ping {dest} from {src.label}", recording=opts.record,
                     compile_filter=offline_filter,
                     lang=args.lang)
    try:
        app.run()
    finally:
        if not app.stop_source(timeout=15.0):
            print("brtrace: warning: the tracer did not stop within 15 s", file=sys.stderr)
    return 0
