"""Raw records parsed by the drain (tracer/schema/raw.py) against the kernel's parse.

The recordings in samples/ hold events the probes parsed in the kernel
(brtrace.c: parse_skb), with the header bytes they parsed. Every event whose
layout is one the probes would write raw (emit_raw: cast_reject's plain
layouts) is turned back into a raw record, made whole again by
``raw_events``, and must come out as the kernel wrote it, field by field.
No root: recorded data (tests/kernel/test_hops.py compares live packets).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tracer.record.reader import open_recording
from tracer.schema.decode import EventBatch
from tracer.schema.event import (
    F_INNER,
    F_L3,
    F_MAC,
    F_ROUTE,
    RAW_INTO,
    raw_dtype,
    record_dtype,
)
from tracer.schema.raw import raw_events

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
VXLAN_PORTS = (8472, 4789)
PARSED = ("ethertype", "vni", "src_mac", "dst_mac", "inner_src_mac", "inner_dst_mac", "outer", "inner")


def _plain_ip(h: np.ndarray, ip: int, n: int) -> bool:
    """An IPv4 header of 20 bytes at ``ip``, not a later fragment, 8 bytes of L4 after it."""
    return ip + 28 <= n and h[ip] == 0x45 and not ((int(h[ip + 6]) << 8 | int(h[ip + 7])) & 0x1FFF)


def _raw_flags(e: np.void) -> int | None:
    """The flags emit_raw would give ``e`` (None: not a layout it writes)."""
    if e["flags"] & (F_ROUTE | 8) or e["ethertype"] != 0x0800 or e["hdr_len"] < 28:
        return None
    h, n = np.frombuffer(e["headers"].tobytes(), dtype=np.uint8), int(e["hdr_len"])
    l3 = bool(e["flags"] & F_L3)
    ip = 0 if l3 else 14
    if not l3 and (h[12], h[13]) != (0x08, 0x00):
        return None
    if not _plain_ip(h, ip, n):
        return None
    flags = F_L3 if l3 else F_MAC
    dport = int(h[ip + 22]) << 8 | int(h[ip + 23])
    if h[ip + 9] == 17 and dport in VXLAN_PORTS:
        if ip + 78 > n or not h[ip + 28] & 0x08 or (h[ip + 48], h[ip + 49]) != (0x08, 0x00) \
                or not _plain_ip(h, ip + 50, n):
            return None
        flags |= F_INNER
    return flags


def _from_ip(framed: np.ndarray) -> np.ndarray:
    """``framed`` as an L3 hook without a usable MAC header would have them: the
    headers from the IP header on (F_L3), no MACs (as parse_skb writes it)."""
    out = framed.copy()
    h = np.frombuffer(framed["headers"].tobytes(), dtype=np.uint8).reshape(len(framed), -1)
    shifted = np.zeros_like(h)
    shifted[:, :-14] = h[:, 14:]
    out["headers"] = shifted.view(out.dtype["headers"]).reshape(len(out))
    out["hdr_len"] -= 14
    out["flags"] = (framed["flags"] & (0xFF ^ F_MAC)) | F_L3
    out["src_mac"] = out["dst_mac"] = np.zeros(1, dtype=out.dtype["src_mac"])
    return out


def _recorded() -> np.ndarray:
    rows = []
    for path in sorted(SAMPLES.glob("*.brt")):
        rec = open_recording(path)
        try:
            rows += [b.arr for b in rec.batches() if isinstance(b, EventBatch)]
        finally:
            rec.close()
    assert rows, "no raw batches in samples/"
    return np.concatenate(rows)


def test_the_drains_parse_of_plain_packets_is_the_kernels() -> None:
    recorded = _recorded()
    if recorded.dtype != record_dtype()["ev"]:
        pytest.skip("samples recorded with another snaplen")
    picks = [(i, f) for i in range(len(recorded)) if (f := _raw_flags(recorded[i])) is not None]
    kernel = recorded[[i for i, _ in picks]]
    assert len(kernel) >= 50, len(kernel)
    assert (kernel["flags"] & F_INNER).sum() >= 5  # VXLAN frames among them
    kernel = np.concatenate([kernel, _from_ip(kernel)])  # and the same starting at the IP header
    picks += [(i, F_L3 | (f & F_INNER)) for i, f in picks]
    raws = np.zeros(len(kernel), dtype=[("rb_len", "<u4"), ("rb_pgoff", "<u4"), ("ev", raw_dtype())])
    for name in RAW_INTO:
        raws["ev"][name] = kernel[name]
    raws["ev"]["flags"] = [f for _, f in picks]
    got = raw_events(raws, record_dtype())["ev"]
    for name in PARSED:
        assert (got[name] == kernel[name]).all(), name
    assert (got["flags"] == kernel["flags"]).all()  # what emit_raw sets is what the parse set
    assert got.tobytes() == kernel.tobytes()  # and nothing else differs
