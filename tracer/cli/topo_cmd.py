"""``brtrace topo [--json] [--netns NAME…]``: what network exists, across all namespaces."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tracer.errors import BrtraceError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "topo", help="show network namespaces, devices, peers, bridges, VXLAN, routes, FDB",
        description="Discover every network namespace (named or only held by a process) "
                    "and print it as a tree.")
    p.add_argument("--json", action="store_true", help="print the topology model as JSON")
    p.add_argument("--netns", nargs="+", metavar="WHERE",
                   help="only these namespaces: netns name or label, 'host', container name or "
                        "id, pod as namespace/name, PID, netns inode or path")
    p.add_argument("--local", action="store_true", help="also show the local routing table")
    p.add_argument("--dump", action="store_true",
                   help="print the raw netlink-derived dump (for bug reports and test data)")
    from tracer.remote.options import add_agent_args

    add_agent_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracer.topology import discover, render

    if args.agents:  # every node's agent: one merged topology, nodes as groups (tracer/remote)
        from tracer.remote.cli import topo as remote_topo

        return remote_topo(args)
    notes: list[str] = []
    whole = discover.discover(None, notes)
    topo = _only(whole, args.netns) if args.netns else whole
    if args.dump:
        inodes = [str(ns.inode) for ns in topo.namespaces] if args.netns else None
        dumps = discover.dump_all(inodes, notes)
        _check(dumps, args.netns, notes)
        print(json.dumps(dumps, indent=1, ensure_ascii=True))
        return 0
    _check(topo.namespaces, args.netns, notes)
    only = frozenset(ns.inode for ns in topo.namespaces) if args.netns else None
    out = render.to_json(topo) + "\n" if args.json else render.render(whole, args.local, only)
    sys.stdout.write(out)
    for note in notes:
        print(f"brtrace: note: {render.inert(note)}", file=sys.stderr)
    return 0


def _only(topo: Any, wanted: list[str]) -> Any:
    """The namespaces ``wanted`` name, through the one resolver (each pick said on stderr)."""
    from dataclasses import replace

    from tracer.names.lookup import pick_netns

    keep: list[int] = []
    for query in wanted:
        picked = pick_netns(query, topo, option="--netns")
        if not picked.plain:
            print(f"brtrace: {picked.line(query, '--netns')}", file=sys.stderr)
        keep += [picked.netns.inode] if picked.netns.inode not in keep else []
    return replace(topo, namespaces=tuple(ns for ns in topo.namespaces if ns.inode in keep))


def _check(found: Any, wanted: list[str] | None, notes: list[str]) -> None:
    """Turn "nothing readable" into one clear error instead of empty output."""
    if found:
        return
    if wanted:
        shown = ", ".join(n.encode("unicode_escape").decode("ascii") for n in wanted)
        raise BrtraceError(f"no network namespace matches {shown}", 1)
    hint = "; run as root to read other namespaces" if os.geteuid() != 0 else ""
    raise BrtraceError("no network namespace could be read" + hint + (f" ({notes[0]})" if notes else ""))
