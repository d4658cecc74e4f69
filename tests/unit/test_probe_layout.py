"""The C event struct against the schema, the generated C header, the decoder
and BTF offsets (no root)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from probes.btf import BTF, BTFError
from probes.cgen import C_LAYER, HEADER_NAME, schema_header
from probes.offsets import MEMBERS, drop_reason_names, offset_macros
from tracer.filter import be32
from tracer.model import Hook
from tracer.schema.decode import Decoder
from tracer.schema.event import (
    BRT_EVENT,
    BRT_HOP,
    BRT_KEY,
    BRT_RAW,
    BRT_ROUTE,
    SNAPLEN,
    CStruct,
    CType,
    event_dtype,
    record_dtype,
)
from tracer.schema.hooks import Attach

PROBES = Path(__file__).resolve().parents[2] / "probes"
HEADER = (PROBES / "brtrace.h").read_text()
SOURCE = (PROBES / "brtrace.c").read_text()
C_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "s32": 4, "char": 1}


def c_struct(name: str) -> list[tuple[str, str, str]]:
    """(member, type, array length or "") of a struct in brtrace.h, read strictly:
    a line this reader does not understand fails the test rather than being skipped."""
    body = re.search(r"^struct %s \{\n(.*?)^\};" % name, HEADER, re.DOTALL | re.MULTILINE)
    assert body, name
    out = []
    for line in body.group(1).splitlines():
        code = re.sub(r"/\*.*?\*/", "", line).strip()
        if not code:
            continue
        m = re.fullmatch(r"(struct \w+|[us]\d+|char)\s+(\w+)(?:\[(\w+)\])?;", code)
        assert m, f"brtrace.h struct {name}: cannot read {line!r}"
        out.append((m.group(2), m.group(1), m.group(3) or ""))
    return out


def c_layout(name: str, snaplen: int) -> tuple[list[tuple[str, int, int]], int]:
    """(member, offset, size) with the C ABI's natural alignment, and sizeof."""
    fields, off, align = [], 0, 1
    for member, ctype, count in c_struct(name):
        if ctype.startswith("struct "):
            sub, size = c_layout(ctype.split()[1], snaplen)
            al = max(C_SIZES[t] for _, t, _ in c_struct(ctype.split()[1]) if t in C_SIZES)
        else:
            al = size = C_SIZES[ctype]
        n = snaplen if count == "BRT_SNAPLEN" else int(count or 1)
        off = (off + al - 1) // al * al
        fields.append((member, off, size * n))
        off += size * n
        align = max(align, al)
    return fields, (off + align - 1) // align * align


@pytest.mark.parametrize("struct", [BRT_EVENT, BRT_KEY, BRT_HOP, BRT_ROUTE, BRT_RAW], ids=lambda s: s.name)
def test_c_struct_is_the_schemas_field_by_field_types_included(struct: CStruct) -> None:
    got = c_struct(struct.name)
    want = []
    for f in struct.fields:
        ctype = f"struct {f.ctype.name}" if isinstance(f.ctype, CStruct) else f.ctype.name
        count = "BRT_SNAPLEN" if f.count == SNAPLEN else (str(f.count) if f.is_array else "")
        want.append((f.name, ctype, count))
    assert got == want
    for f in struct.fields:  # the schema's C types say what C_SIZES says
        if isinstance(f.ctype, CType):
            assert (f.ctype.size, f.ctype.signed) == (C_SIZES[f.ctype.name], f.ctype.name[0] != "u")


@pytest.mark.parametrize("snaplen", [64, 128, 1024])
def test_numpy_dtype_has_the_c_abis_offsets_and_size(snaplen: int) -> None:
    dt = event_dtype(snaplen)
    assert dt.fields is not None
    layout, size = c_layout("brt_event", snaplen)
    assert [(n, dt.fields[n][1], dt.fields[n][0].itemsize) for n in dt.names or ()] == layout
    assert dt.itemsize == size == 200 + snaplen and size % 8 == 0  # 168 before IPv6 (layout 5)
    key = dt["outer"]
    assert key.fields is not None
    assert [(n, key.fields[n][1], key.fields[n][0].itemsize) for n in key.names or ()] \
        == c_layout("brt_key", snaplen)[0]
    assert record_dtype(snaplen).itemsize == size + 8


def test_signedness_and_width_reach_the_dtype() -> None:
    dt = event_dtype()
    for struct, sdt in ((BRT_EVENT, dt), (BRT_KEY, dt["outer"])):
        for f in struct.fields:
            if isinstance(f.ctype, CType) and not f.is_array:
                assert (sdt[f.name].kind, sdt[f.name].itemsize) == (
                    "i" if f.ctype.signed else "u", f.ctype.size), f.name
    assert dt["fib_err"].kind == "i" and dt["ifname"].kind == "S" and dt["src_mac"].kind == "V"


def test_hook_ids_and_flags_have_one_home() -> None:
    """No C file writes a hook id or flag value: they come from brt_schema.h."""
    for text in (HEADER, SOURCE):
        assert not re.search(r"#define (HOOK|BRT_F)_\w+ \d", text)
    assert f'#include "{HEADER_NAME}"' in SOURCE


def test_generated_header_defines_every_hook_and_its_handler_list() -> None:
    fn = [h for h in Hook if not h.is_tracepoint]
    text = schema_header(128, kprobes=fn[:4], fentries=fn[4:])
    for h in Hook:
        assert f"#define HOOK_{h.name} {h.value}\n" in text
        assert f"#define LAYER_{h.name} {C_LAYER[h.layer]}\n" in text
    rows = re.findall(r"X\((\w+), HOOK_(\w+), (-?\d+), (-?\d+), (L[23]_HOOK)\)", text)
    assert sorted(r[1] for r in rows) == sorted(h.name for h in Hook if h.generic)
    for name, hook, skb, dev, layer in rows:
        h = Hook[hook]
        assert (name, int(skb), int(dev), layer) == (h.function, h.skb_arg, h.dev_arg, C_LAYER[h.layer])
    kp = text.split("#define BRT_KPROBE_SKB_HOOKS(X)")[1].split("#define BRT_FENTRY_SKB_HOOKS")[0]
    assert {r[1] for r in re.findall(r"X\((\w+), HOOK_(\w+)", kp)} \
        == {h.name for h in fn[:4] if h.generic}
    custom = {f"BRT_{'KPROBE' if h in fn[:4] else 'FENTRY'}_{h.function}" for h in fn if not h.generic}
    assert set(re.findall(r"#define (BRT_(?:KPROBE|FENTRY)_[a-z]\w*) 1", text)) == custom


def test_every_custom_hook_has_its_hand_written_handler() -> None:
    """A hook the macros do not cover has its handler in brtrace.c, for every way it attaches."""
    for h in Hook:
        if h.generic:
            continue
        if h.attach is Attach.TRACEPOINT:
            assert f"int brt_tp_{h.function}(struct bpf_raw_tracepoint_args *ctx)" in SOURCE, h
        else:
            assert re.search(rf"#ifdef BRT_KPROBE_{h.function}\n(/\*.*\*/\n)?int brt_kp_{h.function}\(",
                             SOURCE), h
            assert f"#ifdef BRT_FENTRY_{h.function}\nKFUNC_PROBE({h.function})" in SOURCE, h
    guarded = set(re.findall(r"#ifdef BRT_(?:KPROBE|FENTRY)_(\w+)", SOURCE))
    assert guarded == {h.function for h in Hook if not h.generic and not h.is_tracepoint}


def _host_cc() -> str | None:
    """A host C compiler, if the machine has one (setup.sh's kernel headers pull in gcc)."""
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return name
    found = sorted(Path("/usr/bin").glob("gcc-[0-9]*"))
    return str(found[-1]) if found else None


def _compile(tmp: Path, header: str) -> subprocess.CompletedProcess[str]:
    (tmp / "brtrace.h").write_text(header)
    (tmp / HEADER_NAME).write_text(schema_header(128))
    (tmp / "check.c").write_text(
        "typedef unsigned char u8; typedef unsigned short u16; typedef unsigned int u32;\n"
        "typedef unsigned long long u64; typedef int s32;\n"
        '#include "brtrace.h"\n#include "brt_schema.h"\n')
    cc = _host_cc()
    assert cc
    return subprocess.run([cc, "-fsyntax-only", "-std=gnu11", f"-I{tmp}", str(tmp / "check.c")],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(_host_cc() is None, reason="no host C compiler (bcc checks the asserts at load)")
def test_a_c_compiler_accepts_the_struct_and_rejects_a_drifted_one(tmp_path: Path) -> None:
    """The generated _Static_asserts, as bcc's clang runs them at every load."""
    ok = _compile(tmp_path, HEADER)
    assert ok.returncode == 0, ok.stderr
    drifted = _compile(tmp_path, HEADER.replace("    s32 fib_err;", "    u32 fib_err;"))
    assert drifted.returncode != 0 and "brt_event.fib_err" in drifted.stderr
    moved = _compile(tmp_path, HEADER.replace("    u16 vlan;\n", "    u32 vlan;\n", 1))
    assert moved.returncode != 0 and "brt_event.vlan" in moved.stderr


def _record(**fields: object) -> np.ndarray:
    arr = np.zeros(1, dtype=event_dtype())
    for k, v in fields.items():
        arr[0][k] = v
    return arr


def test_decoder_builds_events_from_raw_records() -> None:
    arr = _record(ts_ns=5, hook=Hook.KFREE_SKB, skb=0xFFFF8880, netns=4026532000, ifindex=3,
                  ifname=b"veth10", len=98, flags=16 | 1, drop_reason=2, location=0xFFFFFFFF81000010,
                  hdr_len=4, headers=b"\x45\x00\x00\x54" + bytes(124))
    arr[0]["outer"]["saddr"] = be32("172.16.0.11")
    arr[0]["outer"]["proto"] = 1
    arr[0]["outer"]["icmp_type"] = 8
    arr[0]["outer"]["sport"] = 0xB701
    arr[0]["src_mac"] = np.void(bytes.fromhex("020000000001"))
    dec = Decoder({2: "NOT_SPECIFIED"}, lambda a: "ip_error+0x10")
    (ev,) = dec.decode(arr)
    assert ev.hook == Hook.KFREE_SKB and ev.ifname == "veth10" and ev.length == 98
    assert ev.outer.src == "172.16.0.11" and ev.outer.sport == 0xB701 and ev.outer.is_icmp_echo
    assert ev.reason_name == "NOT_SPECIFIED" and ev.location_sym == "ip_error+0x10"
    assert ev.headers == b"\x45\x00\x00\x54" and ev.headers_l3 and ev.src_mac == "02:00:00:00:00:01"
    assert ev.inner is None and ev.route is None


def test_ifname_with_markup_stays_data() -> None:
    (ev,) = Decoder().decode(_record(hook=Hook.NET_DEV_QUEUE, ifname=b"[red]x\x1b[2J"))
    assert ev.ifname == "[red]x\x1b[2J"


@pytest.mark.skipif(not os.access("/sys/kernel/btf/vmlinux", os.R_OK), reason="no kernel BTF")
def test_offsets_come_from_the_running_kernels_btf() -> None:
    btf = BTF.load()
    macros = offset_macros(btf)
    assert set(MEMBERS) <= set(macros) and "PKT_TYPE_SHIFT" in macros
    assert macros["OFF_DEV_NAME"] == btf.member("net_device", "name").offset
    assert btf.member("net_device", "name").size == 16
    assert all(0 <= v < 4096 for v in macros.values())
    names = drop_reason_names(btf)
    assert names[2] == "NOT_SPECIFIED" and "NO_SOCKET" in names.values()


def test_btf_rejects_garbage() -> None:
    with pytest.raises(BTFError):
        BTF(b"\x00" * 64)
