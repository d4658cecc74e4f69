"""Finding network namespaces: the init netns, names in ``/run/netns``, and every process's.

Containers are often never named (Docker's, containerd's): only a process's
``/proc/PID/ns/net`` or the runtime's own bind mount holds them. Candidates
are deduplicated by nsfs inode (equal inode = same netns), so a named netns
some process also sits in is listed once, under its name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

NETNS_RUN_DIR = "/run/netns"
MAX_PIDS = 16


@dataclass
class Candidate:
    """A namespace found on the machine, before it is read."""

    path: str
    inode: int
    name: str = ""
    is_init: bool = False
    pids: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.is_init:
            return "host"
        return self.name.removeprefix("brt-")



def _nsfs_dev() -> int:
    return os.stat("/proc/self/ns/net").st_dev


def _proc_netns() -> dict[int, list[int]]:
    """Inode of every process's netns -> its pids (unreadable processes are skipped)."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            link = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if link.startswith("net:["):
            out.setdefault(int(link[5:-1]), []).append(int(entry))
    return out


def _named(notes: list[str]) -> list[Candidate]:
    try:
        names = sorted(os.listdir(NETNS_RUN_DIR))
    except OSError:
        return []
    nsfs, out = _nsfs_dev(), []
    for name in names:
        path = os.path.join(NETNS_RUN_DIR, name)
        try:
            st = os.stat(path)
        except OSError as exc:
            notes.append(f"skipped netns {name!r}: {exc.strerror}")
            continue
        if st.st_dev != nsfs:
            notes.append(f"skipped netns {name!r}: not a mounted namespace (stale file)")
            continue
        out.append(Candidate(path, st.st_ino, name=name))
    return out


def candidates(notes: list[str]) -> list[Candidate]:
    """All namespaces: init first, then named (sorted), then process-only ones; one per inode."""
    procs = _proc_netns()
    init_path = "/proc/1/ns/net" if os.access("/proc/1/ns/net", os.R_OK) else "/proc/self/ns/net"
    found: dict[int, Candidate] = {}
    init_ino = os.stat(init_path).st_ino
    found[init_ino] = Candidate(init_path, init_ino, is_init=True)
    for cand in _named(notes):
        found.setdefault(cand.inode, cand)
    for ino in sorted(procs):
        if ino not in found:
            found[ino] = Candidate(f"/proc/{procs[ino][0]}/ns/net", ino)
    for ino, cand in found.items():
        if not cand.is_init:
            cand.pids = sorted(procs.get(ino, []))[:MAX_PIDS]
    return list(found.values())


def selected(cands: list[Candidate], names: Iterable[str] | None) -> list[Candidate]:
    if names is None:
        return cands
    wanted = set(names)
    return [c for c in cands if wanted & {c.name, c.label, str(c.inode)}]


__all__ = ["NETNS_RUN_DIR", "Candidate", "candidates", "selected"]
