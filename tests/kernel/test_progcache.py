"""The compiled-program cache on the running kernel (probes/progcache.py,
probes/cacheload.py): a start that misses compiles with bcc and stores; the next
one loads the stored bytecode with bare bpf(2) calls, imports no bcc, and the
kernel ends up with the same programs and maps, seeing the same events. A
damaged entry, or one the kernel refuses, compiles instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from probes import bpfsys, progcache
from probes.loader import LiveSource
from tests.kernel.test_ping import no_brtrace_programs
from tests.support.drain import drain_quiet
from tracer.filter import TraceFilter
from tracer.lab import LabInfo
from tracer.model import Hook
from tracer.topology.discover import discover

pytestmark = pytest.mark.kernel

FLT = TraceFilter(host="10.244.1.3", proto="icmp")
ROOT = Path(__file__).resolve().parents[2]
Shape = tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]  # (programs, maps) as bpftool shows them
Seen = Counter[tuple[Any, ...]]  # events by (hook, device, length, netns)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of this test's own (the loader child inherits the variable)."""
    d = tmp_path / "progs"
    monkeypatch.setenv(progcache.DIR_ENV, str(d))
    return d


def _bpftool(*args: str) -> list[dict]:  # type: ignore[type-arg]
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    return data if isinstance(data, list) else [data]


def _loaded(src: LiveSource) -> Shape:
    """The kernel's view of what this source loaded: its programs (by the maps they
    share with the source's ring) and every map they use, as bpftool shows them."""
    ring_id = map_id(src._bpf[b"events"].map_fd)
    progs = [p for p in _bpftool("prog", "show") if ring_id in p.get("map_ids", ())]
    ids = {i for p in progs for i in p["map_ids"]}
    maps = {(m["name"], m["type"], m["bytes_key"], m["bytes_value"], m["max_entries"], m["flags"],
             "btf_id" in m) for m in _bpftool("map", "show") if m["id"] in ids}
    # the name in full, from the program's BTF as bcc gave it (the kernel keeps 15 characters)
    return {(p["name"], p["type"], p["tag"], p["bytes_xlated"], len(p["map_ids"]), "btf_id" in p)
            for p in progs}, maps


def map_id(fd: int) -> int:
    """The kernel's id of a map fd (bpf_map_info.id)."""
    return int.from_bytes(bpfsys.obj_info(fd, 8)[4:8], "little")


def _trace(flt: TraceFilter = FLT, netns: tuple[int, ...] = ()) -> tuple[str, Seen, Shape]:
    """Load, ping pod-a -> pod-b three times, close: how it loaded, what it saw, what it loaded."""
    src = LiveSource(flt, discover(), netns_inodes=netns)
    try:
        shape = _loaded(src)
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", "ping", "-c", "3", "-i", "0.2", "-W", "1",
                        "10.244.1.3"], check=True, capture_output=True, timeout=20)
        seen: Seen = Counter((e.hook, e.ifname, e.length, e.netns) for e in drain_quiet(src))
        return src.load_path, seen, shape
    finally:
        src.close()


def _per_packet(seen: Seen) -> Seen:
    """Without route lookups: how many of those a packet makes depends on the
    kernel's dst cache (a first packet looks up more), not on the probes."""
    fib = (Hook.FIB_TABLE_LOOKUP, Hook.FIB6_TABLE_LOOKUP)
    return Counter({k: n for k, n in seen.items() if k[0] not in fib})


def test_second_start_loads_from_the_cache_and_sees_the_same(flannel_lab: LabInfo, cache_dir: Path) -> None:
    path1, seen1, shape1 = _trace()
    assert path1 == "compiled" and len(list(cache_dir.iterdir())) == 1
    path2, seen2, shape2 = _trace()
    assert path2 == "cache"
    assert sum(seen1.values()) >= 3 * 2 * 8 and set(seen2) == set(seen1)  # each hop of echo and reply
    assert _per_packet(seen2) == _per_packet(seen1)  # and as often
    assert shape2 == shape1  # same bytecode (tag), names, BTF; same maps: type, sizes, entries, flags
    assert any(p[0] == "brt_tp_fib6_table_lookup" for p in shape2[0])
    assert no_brtrace_programs()


HIT_CHECK = """
import json, sys
from probes.loader import LiveSource
from tracer.filter import TraceFilter
from tracer.topology.model import empty_topology
src = LiveSource(TraceFilter(host="10.244.1.3", proto="icmp"), empty_topology())
maps = open("/proc/self/maps").read()
print(json.dumps({"path": src.load_path, "bcc": "bcc" in sys.modules, "llvm": "libbcc" in maps}))
src.close()
"""


def test_a_cache_hit_imports_no_bcc(flannel_lab: LabInfo, cache_dir: Path) -> None:
    def start() -> dict[str, object]:
        out = subprocess.run([sys.executable, "-c", HIT_CHECK], capture_output=True, text=True, cwd=ROOT,
                             check=True, timeout=60)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    assert start()["path"] == "compiled"
    assert start() == {"path": "cache", "bcc": False, "llvm": False}
    assert no_brtrace_programs()


def _one_entry(cache_dir: Path) -> Path:
    (entry,) = cache_dir.iterdir()
    return entry


def test_a_corrupt_entry_compiles_instead(flannel_lab: LabInfo, cache_dir: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    _trace()
    entry = _one_entry(cache_dir)
    entry.write_bytes(entry.read_bytes()[:1000])
    path, seen, _ = _trace()
    assert path == "compiled" and sum(seen.values()) >= 3 * 2 * 8
    assert "unusable, compiling instead: corrupt entry" in caplog.text
    assert _trace()[0] == "cache"  # stored again by the compile
    assert no_brtrace_programs()


def test_an_entry_the_verifier_refuses_compiles_instead(flannel_lab: LabInfo, cache_dir: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Whole and well-formed, but the last program's bytecode returns an uninitialised
    register: the kernel refuses it; the maps and programs made before are closed."""
    _trace()
    entry = _one_entry(cache_dir)
    d = json.loads(entry.read_bytes())
    prog = d["progs"][-1]
    prog["insns"], prog["refs"] = "lQAAAAAAAAA=", []  # exit, r0 never set
    entry.write_text(json.dumps(d))
    path, seen, _ = _trace()
    assert path == "compiled" and sum(seen.values()) >= 3 * 2 * 8
    assert f"loading {prog['name']}: Permission denied" in caplog.text  # the verifier's EACCES
    assert no_brtrace_programs()


def test_another_filter_misses(flannel_lab: LabInfo, cache_dir: Path) -> None:
    _trace()
    path, _, _ = _trace(TraceFilter(host="10.244.1.3", proto="icmp", icmp_id=7))  # one more -D
    assert path == "compiled" and len(list(cache_dir.iterdir())) == 2
    assert no_brtrace_programs()


def test_a_hit_fills_the_namespace_filter(flannel_lab: LabInfo, cache_dir: Path) -> None:
    """brtrace agent --netns: the cached load fills netns_allow before attaching, as the child does."""
    pod_b = os.stat("/run/netns/brt-pod-b").st_ino
    path1, seen1, _ = _trace(netns=(pod_b,))
    path2, seen2, _ = _trace(netns=(pod_b,))
    assert (path1, path2) == ("compiled", "cache")
    assert {k[3] for k in seen2} == {pod_b} and _per_packet(seen2) == _per_packet(seen1)
    assert sum(seen2.values()) >= 3 * 2  # the echo in, the reply out, at least
    assert no_brtrace_programs()


_ECHOES = """
import socket, struct, sys, time
def csum(b):
    s = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for seq in range(3):  # bounded: 3 echo requests for each id
    for ident in map(int, sys.argv[1:]):
        body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"brtrace"
        s.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], ("10.244.1.3", 0))
        time.sleep(0.05)
"""


def _echo_ids(ident: int, others: int) -> tuple[set[int], str]:
    """Trace ping's filter for ICMP id ``ident`` while pod-a sends echoes with both ids."""
    src = LiveSource(TraceFilter(icmp_id=ident, fib_addrs=("10.244.1.3",)), discover())
    try:
        subprocess.run(["ip", "netns", "exec", "brt-pod-a", sys.executable, "-c", _ECHOES, str(ident),
                        str(others)], check=True, capture_output=True, timeout=20)
        evs = [e for e in drain_quiet(src) if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.FIB6_TABLE_LOOKUP)]
        assert len(evs) >= 3 * 2 * 4, (ident, len(evs))  # each echo and reply, hop after hop
        # the echo's id, outside VXLAN or inside it (the outer packet is then UDP)
        ids = {k.sport for e in evs for k in (e.outer, e.inner) if k is not None and k.proto == 1}
        return ids, src.load_path
    finally:
        src.close()


def test_pings_with_other_ids_share_one_entry_and_keep_only_their_own(flannel_lab: LabInfo,
                                                                       cache_dir: Path) -> None:
    """ping's ICMP id and route addresses are load-time values (brtrace.c: struct
    brt_cfg), not -D values: the second ping, another id, loads the first one's
    entry and still keeps only its own echoes."""
    ids1, path1 = _echo_ids(0x4201, 0x4202)
    ids2, path2 = _echo_ids(0x4202, 0x4201)
    assert (path1, path2) == ("compiled", "cache") and len(list(cache_dir.iterdir())) == 1
    assert ids1 == {0x4201} and ids2 == {0x4202}
    assert no_brtrace_programs()
