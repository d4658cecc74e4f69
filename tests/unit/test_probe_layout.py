"""The C event struct, its numpy mirror, the decoder and BTF offsets (no root)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from probes.btf import BTF, BTFError
from probes.layout import Decoder, event_dtype, record_dtype
from probes.offsets import MEMBERS, drop_reason_names, offset_macros
from tracer.filter import be32
from tracer.model import Hook

HEADER = (Path(__file__).resolve().parents[2] / "probes/brtrace.h").read_text()


def c_fields(struct: str) -> list[str]:
    body = re.search(r"struct %s \{(.*?)\};" % struct, HEADER, re.DOTALL)
    assert body
    names = []
    for line in body.group(1).splitlines():
        m = re.match(r"\s*(?:struct \w+|[us]\d+|char)\s+(\w+)", line)
        if m:
            names.append(m.group(1))
    return names


def test_numpy_dtype_mirrors_the_c_struct_field_by_field() -> None:
    assert list(event_dtype().names or ()) == c_fields("brt_event")
    assert list(event_dtype()["outer"].names or ()) == c_fields("brt_key")
    assert event_dtype().itemsize == 168 + 128 and event_dtype().itemsize % 8 == 0
    assert record_dtype().itemsize == event_dtype().itemsize + 8


def test_hook_ids_match_the_header() -> None:
    for hook in Hook:
        assert re.search(rf"#define HOOK_{hook.name} {hook.value}\b", HEADER), hook


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
