"""The resolver with the machine's I/O plugged in: what the CLI calls for ``--from``/``--netns``."""

from __future__ import annotations

from tracer.names.gather import nsfs_inode
from tracer.names.resolve import Picked, resolve
from tracer.topology.model import Topology


def pick_netns(query: str, topo: Topology, option: str = "--from") -> Picked:
    """``resolve`` with paths and PIDs looked up on this machine (``/proc/PID/ns/net``)."""
    return resolve(query, topo, inode_of=nsfs_inode, option=option)


__all__ = ["pick_netns"]
