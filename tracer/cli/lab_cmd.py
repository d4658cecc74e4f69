"""``brtrace lab up|down|status [NAME]``, ``lab break|fix FAULT``: the seed labs and their faults."""

from __future__ import annotations

import argparse
from typing import Any

from tracer.errors import BrtraceError


def register(subparsers: Any) -> None:
    """Add the ``lab`` sub-command (the lab code itself is imported only when run)."""
    p = subparsers.add_parser(
        "lab", help="build, remove or show the seed labs (network namespaces named brt-*)",
        description="Labs rebuild the seed notes' networks in brt-* network namespaces. "
                    "Labs: flannel (default), docker, bridge. break/fix FAULT injects or removes "
                    "a fault (ip-forward-off, forward-drop, stp-blocking, port-down, vxlan-mtu, "
                    "vxlan-fdb-missing, route-missing, rp-filter, masquerade-missing).")
    p.add_argument("action", choices=("up", "down", "status", "break", "fix"))
    p.add_argument("name", nargs="?", default=None,
                   help="lab name (up: default flannel; down/status: default all labs); "
                        "for break/fix: the FAULT")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tracer import lab

    if args.action in ("break", "fix"):
        return _fault(args)
    if args.action == "up":
        from tracer import interrupt

        # built means built: from then on an interrupt cannot make it exit 130
        info = lab.up(args.name or lab.DEFAULT_LAB, on_built=interrupt.ignore_from_now)
        print(info.line())
        print("\n".join(info.address_lines()))
        return 0
    if args.action == "down":
        removed = lab.down(args.name)
        print("removed " + " ".join(removed) if removed else "nothing to remove")
        return 0
    names = [args.name] if args.name else list(lab.LABS)
    infos = [lab.status(n) for n in names]
    for info in infos:
        print(info.line() + _faults_note(info))
        if info.state == lab.STATE_UP:
            print("\n".join(info.address_lines()))
    if any(i.state == lab.STATE_PARTIAL for i in infos):
        raise BrtraceError("a lab is half-built; 'brtrace lab down NAME' removes it")
    return 0


def _fault(args: argparse.Namespace) -> int:
    from tracer.lab import fault

    if not args.name:
        raise BrtraceError(f"lab {args.action} needs a FAULT: {', '.join(fault.FAULTS)}", 2)
    f = fault.get(args.name)
    done = fault.break_(f.name) if args.action == "break" else fault.fix(f.name)
    verb = "broke" if args.action == "break" else "fixed"
    print(f"{verb} {f.name} in lab {f.lab}: {f.description}" if done
          else f"{f.name}: already {'active' if args.action == 'break' else 'fixed'}")
    if args.action == "break":
        print(f"  see it: brtrace ping {' '.join(f.ping_args())}")
    return 0


def _faults_note(info: object) -> str:
    """Active faults of an up lab, e.g. ``; faults: route-missing`` (root only)."""
    import os

    from tracer import lab
    from tracer.lab import fault

    if os.geteuid() != 0 or getattr(info, "state", "") != lab.STATE_UP:
        return ""
    names = fault.active(str(getattr(info, "name", "")))
    return f"; faults: {' '.join(names)}" if names else ""
