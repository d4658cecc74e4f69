"""Load the probes from a compiled-program cache entry (probes/progcache.py) in the
tracing process itself: bare bpf(2) calls, no bcc, no child.

It does what the bcc path does (compile_probes, LiveSource._attach and the
loader child's hand-over, probes/childload.py) from stored bytecode: create
every map of the module, load the programs, fill the tail-call slots and
netns_allow, attach the raw tracepoints, then keep the same fds the child
hands over (the MAPS and the links) and close the rest: the programs stay
loaded through the links and the maps they reference.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from probes import bpfsys
from probes.childload import MAPS, HandedProbes
from probes.progcache import CacheError, Entry, relink
from tracer.filter import CFG_MAP
from tracer.model import HookMode, HookStatus

NETNS_MAP = "netns_allow"


class _Loading:
    """The fds made so far, all closed if the load does not finish."""

    def __init__(self) -> None:
        self.maps: dict[str, int] = {}
        self.progs: dict[str, int] = {}
        self.links: list[int] = []

    def close_all(self) -> None:
        for fd in [*self.links, *self.progs.values(), *self.maps.values()]:
            os.close(fd)


def load_entry(e: Entry, hooks: Sequence[HookStatus], netns_inodes: Sequence[int] = (),
               cfg: bytes = b"") -> tuple[HandedProbes, list[HookStatus]]:
    """The entry loaded and attached for ``hooks``: the shape childload.load returns.

    Raises CacheError (nothing left loaded) when the kernel refuses a map or
    program or the entry lacks what the hooks need."""
    st = _Loading()
    try:
        _create(e, st)
        for m, slot, p in e.tail_calls:
            bpfsys.map_update(st.maps[m], struct.pack("<I", slot), struct.pack("<I", st.progs[p]))
        if cfg:  # the filter's load-time values (brtrace.c: struct brt_cfg), as LiveSource._set_cfg
            if CFG_MAP not in st.maps:
                raise CacheError(f"entry has no {CFG_MAP} map")
            bpfsys.map_update(st.maps[CFG_MAP], struct.pack("<I", 0), cfg)
        for inode in netns_inodes:  # before any attach, as the bcc path does
            if NETNS_MAP not in st.maps:
                raise CacheError("entry has no netns_allow map")
            bpfsys.map_update(st.maps[NETNS_MAP], struct.pack("<I", inode), b"\x01")
        done = [_attach(e, h, st) for h in hooks]
        if any(name not in st.maps for name in MAPS):
            raise CacheError("entry lacks a map the tracer reads")
    except (OSError, CacheError, struct.error, OverflowError) as exc:
        st.close_all()
        raise CacheError(str(exc)) from None
    keep = {name: st.maps.pop(name) for name in MAPS}
    links, st.links = st.links, []
    st.close_all()  # programs and the other maps live on through links and references
    return HandedProbes(keep, links), done


def _create(e: Entry, st: _Loading) -> None:
    """The maps, then the programs that refer to them, with the BTF bcc gave both."""
    btf = bpfsys.btf_load(e.btf) if e.btf else 0
    try:
        fds: list[int] = []
        for m in e.maps:
            fd = bpfsys.map_create(m, btf)
            fds.append(fd)
            st.maps[m.name] = fd
        if len(st.maps) != len(e.maps):
            raise CacheError("two maps of one name")
        for p in e.progs:
            st.progs[p.name] = bpfsys.prog_load(p.name, p.type, relink(p, fds), e.license, btf, p.func)
    finally:
        if btf:
            os.close(btf)  # the maps and programs hold it


def _attach(e: Entry, h: HookStatus, st: _Loading) -> HookStatus:
    """One hook as LiveSource._attach_one does: a failed attach turns that hook off."""
    if h.mode != HookMode.RAW_TRACEPOINT:
        return h
    tp = h.hook.function
    progs = [p for p, t in e.attach if t == tp]
    if not progs:
        raise CacheError(f"entry does not attach {tp}")
    try:
        st.links.append(bpfsys.raw_tracepoint_open(tp, st.progs[progs[0]]))
    except OSError as exc:
        return HookStatus(h.hook, HookMode.OFF, f"attach failed: {exc}")
    return h
