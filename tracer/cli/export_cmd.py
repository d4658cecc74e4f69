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
    p.add_argument("--pcap", metavar="OUT.pcapng", help="write a pcapng file for Wireshark/tshark")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracer.record.pcap import export_pcapng

    if not args.pcap:
        raise BrtraceError("export needs an output: --pcap OUT.pcapng", 2)
    res = export_pcapng(args.file, args.pcap)
    if res.damage:
        print(f"brtrace: warning: {args.file}: {res.damage}", file=sys.stderr)
    print(f"brtrace: wrote {res.packets} packets on {res.interfaces} interfaces to {args.pcap}"
          + (f" ({_events(res.skipped)} without captured headers left out)" if res.skipped else ""),
          file=sys.stderr)
    return 0


def _events(n: int) -> str:
    return f"{n} event" + ("" if n == 1 else "s")
