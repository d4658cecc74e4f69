"""``up``/``down``/``status`` of labs: build all or nothing, remove exactly what is ours.

A lab counts as *up* only when every namespace exists, every expected device is
there and the completion stamp (an alias on the first host's ``lo``) was set as
the build's last step; anything less is *partial* — a crash or a half-removed
lab — which ``up`` refuses to build over and ``down`` clears.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from tracer import interrupt
from tracer.errors import BrtraceError, NeedRoot
from tracer.lab import bridge, docker, flannel
from tracer.lab.build import Builder, netns_exists, netns_path, ns_name, remove_netns
from tracer.lab.spec import STATE_DOWN, STATE_PARTIAL, STATE_UP, Lab, LabInfo, choose

LABS: dict[str, Lab] = {lab.name: lab for lab in (flannel.LAB, docker.LAB, bridge.LAB)}
DEFAULT_LAB = "flannel"


def get(name: str) -> Lab:
    """The lab spec called ``name``; a clean usage error for anything else."""
    return choose(LABS, name, "lab")


def _require_root(what: str) -> None:
    if os.geteuid() != 0:
        # network namespaces (unshare, setns, mounts under /run/netns) and their devices
        raise NeedRoot(what, "CAP_SYS_ADMIN and CAP_NET_ADMIN")


def _link_names(host: str) -> tuple[set[str], str]:
    """Device names in a lab netns and the alias of its ``lo``."""
    with IPRoute(netns=ns_name(host), flags=0) as ipr:
        names, alias = set(), ""
        for msg in ipr.get_links():
            names.add(str(msg.get("IFLA_IFNAME")))
            if msg.get("IFLA_IFNAME") == "lo":
                alias = str(msg.get("IFLA_IFALIAS") or "")
        return names, alias


def _problems(lab: Lab) -> tuple[str, ...]:
    """Why a lab whose namespaces all exist is not complete (empty = it is)."""
    out = []
    for host in lab.hosts:
        try:
            names, alias = _link_names(host)
        except (OSError, NetlinkError) as exc:
            out.append(f"cannot inspect {ns_name(host)}: {exc}")
            continue
        missing = [d for d in lab.devices.get(host, ()) if d not in names]
        if missing:
            out.append(f"{ns_name(host)} lacks {' '.join(missing)}")
        if host == lab.hosts[0] and alias != lab.marker:
            out.append("build did not finish")
    return tuple(out)


def status(name: str = DEFAULT_LAB) -> LabInfo:
    """What exists of a lab. Without root only namespace presence is checked."""
    lab = get(name)
    present = tuple(ns_name(h) for h in lab.hosts if netns_exists(h))
    missing = tuple(ns_name(h) for h in lab.hosts if not netns_exists(h))
    problems: tuple[str, ...] = ()
    if not present:
        state = STATE_DOWN
    elif missing:
        state = STATE_PARTIAL
    else:
        problems = _problems(lab) if os.geteuid() == 0 else ()
        state = STATE_PARTIAL if problems else STATE_UP
    return LabInfo(lab.name, state, present, missing, dict(lab.addresses), problems,
                   dict(lab.addresses6))


def up(name: str = DEFAULT_LAB, on_built: Callable[[], None] | None = None) -> LabInfo:
    """Build a lab; a no-op if it is already up; refuses to build over a half-built one.

    An interrupt (Ctrl-C, SIGTERM) while building rolls back, and the rollback
    itself cannot be interrupted; once built, interrupts are ignored until
    ``on_built`` has run (the CLI makes that final: exit 0 means built).
    """
    lab = get(name)
    _require_root("brtrace lab up")
    info = status(name)
    if info.state == STATE_UP:
        return info
    if info.state == STATE_PARTIAL:
        raise BrtraceError(f"lab {name} is half-built ({info.line()}); "
                           f"run 'brtrace lab down {name}' first")
    _build(lab)
    with interrupt.ignored():
        if on_built is not None:
            on_built()
        return status(name)


def _build(lab: Lab) -> None:
    """Build everything or leave nothing behind."""
    try:
        with interrupt.deferred(), Builder() as b:  # Builder steps call interrupt.check()
            lab.build(b)
            interrupt.check()
            b.mark(lab.hosts[0], lab.marker)
    except BaseException as exc:
        with interrupt.ignored():  # half a rollback would leave a partial lab behind
            _remove(lab.hosts)
        if isinstance(exc, (BrtraceError, OSError, NetlinkError)):
            raise BrtraceError(f"building lab {lab.name} failed ({exc}); "
                               "removed what was created") from exc
        raise


def _remove(hosts: Iterable[str]) -> list[str]:
    removed = []
    for host in hosts:
        if netns_exists(host):
            remove_netns(host)
            removed.append(ns_name(host))
    return removed


def down(name: str | None = None) -> list[str]:
    """Remove a lab's namespaces (all labs when ``name`` is None); returns what was removed.

    Only ``brt-<host>`` namespaces of the named lab's hosts are touched; their
    devices go with them (veth peers in other lab namespaces included).
    """
    labs = [get(name)] if name is not None else list(LABS.values())
    _require_root("brtrace lab down")
    removed: list[str] = []
    for lab in labs:
        try:
            removed += _remove(lab.hosts)
        except OSError as exc:
            raise BrtraceError(f"removing lab {lab.name} failed: {exc}") from exc
    return removed


__all__ = ["DEFAULT_LAB", "LABS", "down", "get", "netns_path", "status", "up"]
