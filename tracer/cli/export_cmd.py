"""``brtrace export FILE --pcap OUT.pcapng``: recorded hops as packets for Wireshark.

Needs neither root nor bcc. One pcapng interface per (netns, device), named
``pod-a/eth0``, and a comment on each packet naming the hook (and the drop
reason, if the kernel dropped it there).
"""

from __future__ import annotations

import argparse
import sys

from tracer.errors import BrtraceError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="export a recording's captured headers as pcapng")
    p.add_argument("file", metavar="FILE", help="a recording made by brtrace record / --record")
    p.add_argument("--pcap", metavar="OUT.pcapng",
                   help="write a pcapng file for Wireshark/tshark ('-': stdout; devices, FIFOs "
                        "and symlinks are written in place)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracer.record.pcap import VXLAN_HINT, export_pcapng
    from tracer.render.inert import inert

    if not args.pcap:
        raise BrtraceError("export needs an output: --pcap OUT.pcapng", 2)
    if args.pcap == "-" and sys.stdout.isatty():
        raise BrtraceError("--pcap -: stdout is a terminal; pipe it (| tshark -r -) or name a file", 2)
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


def _events(n: int) -> str:
    return f"{n} event" + ("" if n == 1 else "s")
