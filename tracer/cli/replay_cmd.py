"""``brtrace replay FILE``: show a recording — in the TUI on a terminal, else as text/JSON.

``--plain``/``--json`` (or a stdout that is not a terminal) print every
packet's hop table through ``tracer.render.text``, the same output as
``brtrace ping --plain``; otherwise the recording opens in the TUI. No root
is needed: a recording carries its own topology snapshot.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracer.correlate.packet import Packet
    from tracer.topology.model import Topology


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("replay", help="show a recording (TUI on a terminal, else text)")
    p.add_argument("file", metavar="FILE", help="a .brt recording")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per packet")
    out.add_argument("--plain", action="store_true", help="text output even on a terminal")
    out.add_argument("--tui", action="store_true",
                     help="the TUI even when stdout is not a terminal (as under brtrace serve)")
    p.add_argument("--explain", action="store_true",
                   help="teaching mode: every hop with a short explanation (text, or the TUI with --tui)")
    p.add_argument("--lang", default="en",
                   help="language of the teaching mode (--explain, the TUI's `e`) and its diagnosis: "
                        "en, zh (explain.LANG.json); the plain hop list and JSON stay English")
    p.add_argument("--speed", type=_speed, default=None, metavar="X",
                   help="TUI: replay at X (> 0) times the recorded pace (default: load at once)")
    p.add_argument("--step", action="store_true",
                   help="one hop at a time, with the headers that changed at it: the next on a key "
                        "press (TUI: → or space; --plain: any key, q stops)")
    p.add_argument("--step-ms", type=_positive_ms, default=None, metavar="N",
                   help="with --step (implied): the next hop every N ms instead of on a key press")
    p.set_defaults(func=run)


def _speed(text: str) -> float:
    """A pace must be a positive number: 0 never advances, a negative one runs backwards."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return x


def _refuse(args: argparse.Namespace) -> None:
    """Options that would be silently ignored are refused, in one line each."""
    from tracer.errors import BrtraceError

    if args.explain and args.json:
        raise BrtraceError("--explain is text for people; --json is for programs: choose one", 2)
    text = args.json or args.plain or (args.explain and not args.tui)
    if args.speed is not None and text:
        raise BrtraceError("--speed paces the TUI only; --plain, --json and --explain print at once", 2)


def _positive_ms(text: str) -> int:
    """``--step-ms`` as a whole number of milliseconds above zero (argparse says so in one line)."""
    try:
        ms = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of milliseconds: {text!r}") from None
    if ms <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0 ms: {ms}")
    return ms


def run(args: argparse.Namespace) -> int:
    from tracer.errors import BrtraceError
    from tracer.explain import texts
    from tracer.record import ReplaySource

    _refuse(args)
    texts(args.lang)  # an unknown language fails before any output, in every view

    args.step = args.step or args.step_ms is not None
    if args.step and args.json:
        raise BrtraceError("--step shows hops one at a time: use it with the TUI or --plain, not --json")
    if not args.tui and (args.json or args.plain or args.explain or not sys.stdout.isatty()):
        if args.lang != "en" and not args.explain:  # said, not silently ignored
            print(f"brtrace: --lang {args.lang} is the teaching mode's language: add --explain "
                  "(the plain hop list and JSON stay English)", file=sys.stderr)
        return _text(args)
    if args.explain:  # --tui --explain: the TUI starts in teaching mode
        from tracer.explain import texts

        texts(args.lang)
    source = ReplaySource(args.file, speed=args.speed)
    from probes.pcap import offline_filter
    from tui.app import BrtraceApp

    app = BrtraceApp(source, label=f"replay {args.file}", teach=args.lang if args.explain else None,
                     step=args.step, step_ms=args.step_ms, compile_filter=offline_filter,
                     lang=args.lang)
    try:
        app.run()
    finally:
        app.stop_source()
    if source.damage:  # shown in the TUI too; said again once the screen is gone
        from tracer.render.inert import inert

        print(f"brtrace: warning: {inert(args.file)}: {inert(source.damage)}", file=sys.stderr)
        return 1
    return 0


def _text(args: argparse.Namespace) -> int:
    """Every packet of the recording as text, JSON or explanations; then what was lost.

    A damaged recording shows everything salvaged, says what the damage cost
    (stderr, the JSON summary record, the explain text) and exits 1: a
    script must not take a partial trace for a whole one.
    """
    from tracer.cli.packet_views import first_ts, json_lines
    from tracer.correlate import Correlator
    from tracer.correlate.pairing import PacketBook
    from tracer.errors import BrtraceError
    from tracer.jsonout import WallClock, dumps, summary_record
    from tracer.record import open_recording
    from tracer.render.inert import inert
    from tracer.render.text import summary_text

    if args.step and args.explain:
        raise BrtraceError("--step with --explain is the TUI's teaching mode: add --tui")
    with open_recording(args.file) as rec:
        corr, filed = Correlator(), 0
        book = PacketBook(rec.info.topology)
        for batch in rec.batches():
            book.update(corr, corr.feed(batch))
            # the book keeps what it lists; the correlator stays bounded
            filed += sum(j.count for j in corr.retire())
        book.update(corr, set(), final=True)
        filed += sum(j.count for j in corr.flush())
        lost = rec.end_stats.lost if rec.end_stats else 0
        damage = rec.damage
        damage_obj = rec.report.to_dict(rec.end_stats) if damage else None
    topo = rec.info.topology
    events = filed
    packets = list(book.packets.values())
    if args.json:
        clock = WallClock.recording(rec.created, first_ts(book))
        for line in json_lines("replay", book, topo, clock):
            print(line)
        print(dumps(summary_record("replay", [p.status for p in packets], events, lost,
                                   damage_obj, clock, corr.evicted)))
    elif args.step:
        from tracer.cli.stepping import play_steps

        play_steps(packets, args.step_ms, topo)
        print(summary_text(packets, lost, events))
    else:
        _print_packets(args, packets, topo, lost, events, damage)
    if lost:
        print(f"brtrace: warning: {lost} events lost while recording", file=sys.stderr)
    if corr.evicted:
        print(f"brtrace: warning: {corr.evicted} packets not shown (evicted before completion)",
              file=sys.stderr)
    if damage:
        print(f"brtrace: warning: {inert(args.file)}: {inert(damage)}", file=sys.stderr)
        return 1
    return 0


def _print_packets(args: argparse.Namespace, packets: list[Packet], topo: Topology, lost: int,
                   events: int, damage: str | None) -> None:
    """The hop list (or, with --explain, the teaching text) of every packet, then the summary."""
    from tracer.explain import damage_lines, explain_lines, summary_line
    from tracer.render.inert import inert
    from tracer.render.text import named, probe_text, summary_text

    for p in packets:  # the endpoints named from the recording's topology, as ping names them
        src, dst = named(p.src, topo), named(p.dst, topo)
        lines = (explain_lines(p, src, dst, args.lang, topo) if args.explain
                 else probe_text(p, src, dst, topo))
        print("\n".join(lines))
        print()
    if args.explain and damage:
        print("\n".join(damage_lines(damage, args.lang)))
        print()
    print(summary_line(packets, lost, events, args.lang) if args.explain
          else summary_text(packets, lost, events))
    if damage and not args.explain:
        print(f"damaged recording: {inert(damage)}")
