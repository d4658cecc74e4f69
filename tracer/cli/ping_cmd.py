"""``brtrace ping DEST``: trace ICMP probes hop by hop."""

from __future__ import annotations

import argparse
import os
import sys

from tracer.errors import BrtraceError, NeedRoot


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ping", help="send ICMP probes and show each one's path hop by hop")
    p.add_argument("dest", metavar="DEST", help="IPv4 address to probe")
    p.add_argument("--from", dest="src", metavar="NETNS|POD",
                   help="namespace to send from (default: one with a route to DEST)")
    p.add_argument("-c", "--count", type=int, default=3, help="probes to send (default 3)")
    p.add_argument("-i", "--interval", type=float, default=0.5, help="seconds between probes")
    p.add_argument("-s", "--size", type=int, default=56,
                   help="ICMP payload bytes (default 56); probes carry DF, so a size the path "
                        "cannot carry shows where it is dropped")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per probe")
    out.add_argument("--plain", action="store_true", help="text output even on a terminal")
    p.add_argument("--record", metavar="FILE", help="also write the trace to FILE")
    p.add_argument("--snaplen", type=int, default=128, help="header bytes kept per hop")
    p.add_argument("--all-hooks", action="store_true", help="also attach net_dev_start_xmit and netif_rx (qdisc delay, backlog drops; costs every packet more)")
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
    from tracer.ping import choose_source, parse_dest, run_ping
    from tracer.render.text import probe_text, summary_text
    from tracer.topology.discover import discover

    dest = parse_dest(args.dest)
    _check(args)
    topo = discover()
    src = choose_source(topo, dest, args.src)
    if not (args.json or args.plain) and sys.stdout.isatty():
        from tui.live import (
            run_ping_tui,  # the TUI on a terminal; text paths below unchanged
        )

        return run_ping_tui(args, topo, dest, src)

    def open_source(flt):  # type: ignore[no-untyped-def]
        from probes.loader import LiveSource

        source = LiveSource(flt, topo, snaplen=args.snaplen, command=" ".join(sys.argv),
                            all_hooks=args.all_hooks)
        if args.record:  # records every polled batch; its close() writes the lost count
            from tracer.record.writer import LiveRecorder

            source = LiveRecorder(source, args.record)
        if not args.json:
            live = sum(1 for h in source.info.hooks if h.live)
            print(f"brtrace: {live} hooks live ({', '.join(h.hook.label for h in source.info.hooks if h.live)})",
                  file=sys.stderr)
        return source

    from tracer.jsonout import WallClock, dumps, packet_record, summary_record

    clock = WallClock.live()
    res = run_ping(topo, dest, src, args.count, args.interval, open_source,
                   size=args.size)
    for n, r in enumerate(res.results, 1):
        if args.json:
            print(dumps(packet_record("ping", n, r, topo, src=res.src_addr, dst=str(dest),
                                      what=f"icmp seq {r.seq} id {r.ident:#06x}", clock=clock)))
        else:
            print("\n".join(probe_text(r, f"{src.label} ({res.src_addr})", dest, topo)))
            print()
    if args.json:
        print(dumps(summary_record("ping", [r.status for r in res.results], res.events, res.lost,
                                   clock=clock)))
    else:
        print(summary_text(res.results, res.lost, res.events))
        if res.lost:
            print(f"brtrace: warning: {res.lost} events lost (ring buffer full)", file=sys.stderr)
    if res.interrupted:
        return 130
    return 0 if all(r.status == "delivered" for r in res.results) else 1
