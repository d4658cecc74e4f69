"""The compiled-program cache's key and entry format (probes/progcache.py), no kernel:
what changes the key, how map references survive a round trip, and that every
kind of damaged or unsafe entry is refused rather than loaded."""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from pathlib import Path

import pytest

from probes import progcache
from probes.bpfsys import FuncInfo, MapDef
from probes.loader import compile_inputs
from probes.progcache import CacheError, CompileInputs, Entry, Prog
from tracer.filter import TraceFilter
from tracer.model import Hook, HookMode, HookStatus

INPUTS = CompileInputs(("-DOFF_SKB_HEAD=192", "-DBRT_SNAPLEN=128"), (("brt_schema.h", "#define A 1\n"),
                                                                     ("brt_filter.h", "")))
ATTACH = ["net_dev_queue", "kfree_skb"]
# macros as the plan gives them: offsets for the read windows (values need not be this kernel's)
MACROS = {"OFF_SKB_HEAD": 192, "OFF_SKB_DATA": 200, "OFF_SKB_TAIL": 188, "OFF_SKB_MAC_HEADER": 182,
          "OFF_SKB_NETWORK_HEADER": 180, "OFF_SKB_PROTOCOL": 176, "OFF_SKB_VLAN_TCI": 166,
          "OFF_SKB_LEN": 112, "OFF_SKB_PKT_TYPE": 128, "OFF_SKB_DEV": 16, "OFF_DEV_IFINDEX": 224,
          "OFF_DEV_ND_NET": 264, "OFF_DEV_NAME": 280, "OFF_FLOWI4_DADDR": 44, "OFF_FLOWI4_SADDR": 40,
          "OFF_FLOWI4_OIF": 0, "OFF_FLOWI4_IIF": 4, "OFF_FLOWI4_PROTO": 18, "OFF_NHC_DEV": 8,
          "OFF_NHC_GW_FAMILY": 3, "OFF_NHC_GW": 16}
HOOKS = [HookStatus(Hook.NET_DEV_QUEUE, HookMode.RAW_TRACEPOINT, "net:net_dev_queue"),
         HookStatus(Hook.KFREE_SKB, HookMode.RAW_TRACEPOINT, "skb:kfree_skb")]


def _insn(op: int, regs: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, regs, off, imm)


def _ld_map(dst: int, fd: int, src: int = progcache.PSEUDO_MAP_FD) -> bytes:
    return _insn(progcache.LD_IMM64, (src << 4) | dst, 0, fd) + _insn(0)


CODE = (_ld_map(1, 7) + _insn(0xB7, 0x02, 0, 5)  # r1 = map fd 7; r2 = 5
        + _ld_map(1, 9) + _ld_map(3, 1234, src=0)  # r1 = map fd 9; r3 = the constant 1234
        + _insn(0x95))  # exit


def test_map_references_become_indices_and_come_back_as_the_new_fds() -> None:
    insns, refs = progcache.unlink_maps(CODE, {7: 0, 9: 1})
    assert refs == ((0, 0), (3, 1))
    assert struct.unpack_from("<i", insns, 4)[0] == 0 and struct.unpack_from("<i", insns, 3 * 8 + 4)[0] == 0
    assert struct.unpack_from("<i", insns, 5 * 8 + 4)[0] == 1234  # a plain 64-bit constant is kept
    back = progcache.relink(Prog("p", 17, insns, refs), [41, 42])
    assert back == CODE.replace(struct.pack("<i", 7), struct.pack("<i", 41), 1).replace(
        struct.pack("<i", 9), struct.pack("<i", 42), 1)


def test_a_map_reference_that_cannot_be_made_again_is_refused() -> None:
    with pytest.raises(CacheError, match="fd 9"):
        progcache.unlink_maps(CODE, {7: 0})
    with pytest.raises(CacheError, match="src_reg 2"):  # BPF_PSEUDO_MAP_VALUE: global data
        progcache.unlink_maps(_ld_map(1, 7, src=2) + _insn(0x95), {7: 0})
    with pytest.raises(CacheError):
        progcache.unlink_maps(CODE[:-3], {7: 0, 9: 1})


def test_key_is_stable_and_changes_with_each_input() -> None:
    key = progcache.cache_key(INPUTS, ATTACH)
    assert key == progcache.cache_key(INPUTS, list(ATTACH))
    changed = [
        dataclasses.replace(INPUTS, cflags=("-DOFF_SKB_HEAD=200", "-DBRT_SNAPLEN=128")),
        dataclasses.replace(INPUTS, cflags=(*INPUTS.cflags, "-DFILTER_NETNS=1")),
        dataclasses.replace(INPUTS, headers=(("brt_schema.h", "#define A 2\n"), ("brt_filter.h", ""))),
    ]
    keys = {key} | {progcache.cache_key(i, ATTACH) for i in changed}
    keys.add(progcache.cache_key(INPUTS, [*ATTACH, "net_dev_start_xmit"]))  # --all-hooks
    assert len(keys) == 5


def test_key_changes_with_the_c_source(tmp_path: Path) -> None:
    for name in progcache.SOURCES:
        (tmp_path / name).write_text("int x;\n")
    before = progcache.cache_key(INPUTS, ATTACH, probe_dir=str(tmp_path))
    (tmp_path / "brtrace.h").write_text("int y;\n")
    assert progcache.cache_key(INPUTS, ATTACH, probe_dir=str(tmp_path)) != before


def test_a_changed_filter_changes_the_compile_inputs_and_so_the_key() -> None:
    """The loader's own inputs: another port is another -D, another expression another header."""
    def key(flt: TraceFilter) -> str:
        return progcache.cache_key(compile_inputs(flt, MACROS, 128, 2048, HOOKS), ATTACH)

    same = key(TraceFilter(proto="udp", port=9))
    assert same == key(TraceFilter(proto="udp", port=9))
    assert len({same, key(TraceFilter(proto="udp", port=10)), key(TraceFilter(proto="tcp", port=9))}) == 3


def _entry(key: str = "k1") -> Entry:
    insns, refs = progcache.unlink_maps(CODE, {7: 0, 9: 1})
    maps = (MapDef("events", 27, 0, 0, 1 << 23, 0),
            MapDef("emit_prog", 3, 4, 4, 1, 0, btf_key=2, btf_value=2))
    func = FuncInfo(struct.pack("<II", 0, 7), 8)  # one record: the function at instruction 0 is BTF type 7
    progs = (Prog("brt_emit", 17, insns, refs, func), Prog("brt_tp_kfree_skb", 17, insns, refs))
    return Entry(key, "GPL", maps, progs, (("brt_tp_kfree_skb", "kfree_skb"),),
                 (("emit_prog", 0, "brt_emit"),), btf=b"\x9f\xeb\x01\x00 some BTF")


def test_entry_round_trips_through_its_file_format() -> None:
    e = _entry()
    assert progcache.from_json(progcache.to_json(e), "k1") == e


def _damaged(change: str) -> bytes:
    d = json.loads(progcache.to_json(_entry()))
    if change == "refs":
        d["progs"][0]["refs"][0][1] = 5  # a map index past the maps
    elif change == "insns":
        d["progs"][0]["insns"] = "!!notbase64"
    elif change == "length":
        d["progs"][0]["insns"] = "AAAA"  # 3 bytes: not whole instructions
    elif change == "attach":
        d["attach"] = [["brt_tp_gone", "kfree_skb"]]
    elif change == "wiring":
        d["tail_calls"] = [["no_such_map", 0, "brt_emit"]]
    elif change == "format":
        d["format"] = progcache.FORMAT + 1
    elif change == "missing":
        del d["maps"]
    elif change == "func":
        d["progs"][0]["func"]["rec_size"] = 5  # 8 bytes of records are not whole 5-byte records
    elif change == "btf":
        d["btf"] = ""  # function records, but no BTF they are types of
    elif change == "map":
        d["maps"][0]["max_entries"] = "8M"
    return json.dumps(d).encode()


@pytest.mark.parametrize("change", ["refs", "insns", "length", "attach", "wiring", "format", "missing",
                                    "func", "btf", "map"])
def test_a_damaged_entry_is_refused(change: str) -> None:
    with pytest.raises(CacheError):
        progcache.from_json(_damaged(change), "k1")


def test_an_entry_is_refused_under_another_key_or_truncated() -> None:
    data = progcache.to_json(_entry())
    with pytest.raises(CacheError):
        progcache.from_json(data, "k2")
    with pytest.raises(CacheError):
        progcache.from_json(data[: len(data) // 2], "k1")


def test_store_then_lookup_and_only_the_newest_are_kept(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "progs"
    monkeypatch.setenv(progcache.DIR_ENV, str(d))
    for i in range(progcache.KEEP + 3):
        progcache.store(_entry(f"k{i}"))
        os.utime(d / f"k{i}.json", (1000 + i, 1000 + i))  # distinct ages, the last the newest
    assert sorted(p.name for p in d.iterdir()) == sorted(f"k{i}.json" for i in range(3, progcache.KEEP + 3))
    assert progcache.lookup(f"k{progcache.KEEP + 2}") == _entry(f"k{progcache.KEEP + 2}")
    assert progcache.lookup("k0") is None
    assert oct(d.stat().st_mode & 0o777) == "0o700"


def test_a_corrupt_or_unsafe_entry_is_dropped_not_loaded(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "progs"
    monkeypatch.setenv(progcache.DIR_ENV, str(d))
    progcache.store(_entry("k1"))
    (d / "k1.json").write_bytes(b'{"format": 1, "key": "k1", "maps": [')
    assert progcache.lookup("k1") is None and not (d / "k1.json").exists()  # the next start stores it anew
    progcache.store(_entry("k2"))
    os.chmod(d / "k2.json", 0o666)  # anyone could have put bytecode there
    assert progcache.lookup("k2") is None and not (d / "k2.json").exists()


def test_off_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(progcache.DIR_ENV, "off")
    progcache.store(_entry("k1"))  # nowhere, no error
    assert progcache.lookup("k1") is None
