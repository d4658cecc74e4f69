"""``brtrace export FILE --pcap OUT.pcapng | --svg OUT.svg | --html OUT.html``.

Needs neither root nor bcc. ``--pcap``: one pcapng interface per (netns,
device), named ``pod-a/eth0``, and a comment on each packet naming the hook
(and the drop reason, if the kernel dropped it there). ``--svg``: one packet
(``--packet N``, numbered as in the TUI's packet list; default the first)
drawn over the topology, for a slide or a bug report; ``--html`` wraps that
picture with the hop table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from tracer.errors import BrtraceError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="export a recording as pcapng, or one packet as SVG/HTML")
    p.add_argument("file", metavar="FILE", help="a recording made by brtrace record / --record")
    p.add_argument("--pcap", metavar="OUT.pcapng",
                   help="write a pcapng file for Wireshark/tshark ('-': stdout; devices, FIFOs "
                        "and symlinks are written in place)")
    p.add_argument("--svg", metavar="OUT.svg", help="draw one packet's path over the topology")
    p.add_argument("--html", metavar="OUT.html", help="the same picture with the hop table, as a page")
    p.add_argument("--packet", type=int, default=1, metavar="N",
                   help="which packet --svg/--html draw, as numbered in the TUI (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (args.pcap or args.svg or args.html):
        raise BrtraceError("export needs an output: --pcap OUT.pcapng, --svg OUT.svg or --html OUT.html", 2)
    if args.pcap == "-" and sys.stdout.isatty():
        raise BrtraceError("--pcap -: stdout is a terminal; pipe it (| tshark -r -) or name a file", 2)
    status = _pcap(args) if args.pcap else 0
    if args.svg or args.html:
        _picture(args)
    return status


def _pcap(args: argparse.Namespace) -> int:
    """The pcapng export; 1 when the recording was damaged (what was salvaged is written)."""
    from tracer.record.pcap import VXLAN_HINT, export_pcapng
    from tracer.render.inert import inert

    res = export_pcapng(args.file, args.pcap)
    where = "stdout" if args.pcap == "-" else args.pcap
    print(f"brtrace: wrote {res.packets} packets on {res.interfaces} interfaces to {inert(where)}"
          + (f" ({_events(res.skipped)} without captured headers left out)" if res.skipped else ""),
          file=sys.stderr)
    if res.vxlan_8472:
        print(f"brtrace: note: {res.vxlan_8472} packets carry VXLAN on UDP port 8472 (flannel); "
              f"Wireshark decodes VXLAN on 4789 only: open with {VXLAN_HINT}", file=sys.stderr)
    if res.damage:  # after what was salvaged, and the exit status says so
        print(f"brtrace: warning: {inert(args.file)}: {inert(res.damage)}", file=sys.stderr)
        return 1
    return 0


def _picture(args: argparse.Namespace) -> None:
    """Draw packet ``--packet`` of the recording to --svg and/or --html."""
    from tracer.correlate import Correlator
    from tracer.correlate.pairing import PacketBook
    from tracer.record import open_recording
    from tracer.render.svg import PacketPicture, render_svg
    from tracer.render.svg_html import render_html
    from tracer.render.text import fmt_ns

    with open_recording(args.file) as rec:
        corr, book = Correlator(), PacketBook(rec.info.topology)
        for batch in rec.batches():
            book.update(corr, corr.feed(batch))
        book.update(corr, set(), final=True)
    p = book.packets.get(args.packet)
    if p is None:
        raise BrtraceError(f"{args.file} has {len(book.packets)} packets; "
                           f"there is no packet {args.packet}", 2)
    rtt = f"  rtt {fmt_ns(p.rtt_ns)}" if p.rtt_ns is not None else ""
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(rec.created))
    host = rec.info.topology.hostname
    pic = PacketPicture(f"packet {p.pid}: {p.what}  {p.src} → {p.dst}  {p.status.upper()}{rtt}",
                        f"{os.path.basename(args.file)} · recorded {when}" + (f" on {host}" if host else ""),
                        p.request, p.reply)
    if rec.damage:
        print(f"brtrace: warning: {args.file}: {rec.damage}", file=sys.stderr)
    for out, text in ((args.svg, render_svg), (args.html, render_html)):
        if out:
            _write(out, text(rec.info.topology, pic))
            print(f"brtrace: drew packet {p.pid} ({len(p.hops)} hops) to {out}", file=sys.stderr)


def _write(path: str, text: str) -> None:
    """Write beside ``path`` then rename: a failed export never leaves half a file."""
    tmp = f"{path}.part"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise BrtraceError(f"cannot write {path}: {exc.strerror or exc}") from None


def _events(n: int) -> str:
    return f"{n} event" + ("" if n == 1 else "s")
