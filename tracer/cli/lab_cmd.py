"""``brtrace lab up|down|status [NAME]``: build, remove and inspect the seed labs."""

from __future__ import annotations

import argparse
from typing import Any

from tracer.errors import BrtraceError


def register(subparsers: Any) -> None:
    """Add the ``lab`` sub-command (the lab code itself is imported only when run)."""
    p = subparsers.add_parser(
        "lab", help="build, remove or show the seed labs (network namespaces named brt-*)",
        description="Labs rebuild the seed notes' networks in brt-* network namespaces. "
                    "Labs: flannel (default), docker, bridge.")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("name", nargs="?", default=None,
                   help="lab name (up: default flannel; down/status: default all labs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracer import lab

    if args.action == "up":
        info = lab.up(args.name or lab.DEFAULT_LAB)
        print(info.line())
        for host, addr in info.addresses.items():
            print(f"  {lab.ns_name(host)}  {addr}")
        return 0
    if args.action == "down":
        removed = lab.down(args.name)
        print("removed " + " ".join(removed) if removed else "nothing to remove")
        return 0
    names = [args.name] if args.name else list(lab.LABS)
    infos = [lab.status(n) for n in names]
    for info in infos:
        print(info.line())
    if any(i.state == lab.STATE_PARTIAL for i in infos):
        raise BrtraceError("a lab is half-built; 'brtrace lab down NAME' removes it")
    return 0
