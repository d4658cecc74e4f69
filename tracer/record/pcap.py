"""Export a recording's captured headers as pcapng, one interface per hop device.

Written by hand rather than with scapy: pcapng needs only three block types
here (SHB, IDB, EPB) and scapy's writer names interfaces per packet but has
no per-packet comment for every version we support; doing it here keeps the
export import-light, deterministic and byte-for-byte testable.

Each (netns, device) becomes an interface named ``pod-a/eth0`` (the netns label
from the recording's topology snapshot, else ``netns:<inode>``), so Wireshark's
``frame.interface_name`` shows the hop. Events whose headers start at the IP
header (``headers_l3``) go to a separate LINKTYPE_RAW interface of the same
name, because an interface has one link type.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from tracer.errors import BrtraceError
from tracer.model import Event, Hook
from tracer.record.reader import Recording, open_recording
from tracer.topology.model import Topology

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
SNAPLEN = 262144
_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
SHB_USERAPPL = 4


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def _options(*opts: tuple[int, bytes]) -> bytes:
    return b"".join(_option(c, v) for c, v in opts) + _option(OPT_END, b"")


def _block(kind: int, body: bytes) -> bytes:
    """A pcapng block: type, total length, body (4-aligned), total length again."""
    body = _pad4(body)
    total = len(body) + 12
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def section_header(app: str = "brtrace") -> bytes:
    body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    return _block(_SHB, body + _options((SHB_USERAPPL, app.encode())))


def interface_block(linktype: int, name: str, description: str) -> bytes:
    body = struct.pack("<HHI", linktype, 0, SNAPLEN)
    opts = _options((IF_NAME, name.encode()), (IF_DESCRIPTION, description.encode()),
                    (IF_TSRESOL, bytes([9])))  # timestamps in nanoseconds
    return _block(_IDB, body + opts)


def packet_block(iface: int, ts_ns: int, data: bytes, orig_len: int, comment: str) -> bytes:
    ts = ts_ns & 0xFFFFFFFFFFFFFFFF
    body = struct.pack("<IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       max(orig_len, len(data)))
    return _block(_EPB, body + _pad4(data) + _options((OPT_COMMENT, comment.encode())))


@dataclass
class ExportResult:
    packets: int = 0
    interfaces: int = 0
    skipped: int = 0  # events without captured headers (e.g. fib lookups)
    damage: str | None = None


class PcapngExporter:
    """Streams events into a pcapng file, adding an IDB the first time a hop appears."""

    def __init__(self, out: BinaryIO, topology: Topology, time_base_ns: int = 0) -> None:
        self._out = out
        self._topo = topology
        self._ifaces: dict[tuple[int, str, int], int] = {}
        self._base = time_base_ns
        self._first_ts: int | None = None
        self.result = ExportResult()
        out.write(section_header())

    def add(self, e: Event) -> None:
        if not e.headers:
            self.result.skipped += 1
            return
        if self._first_ts is None:
            self._first_ts = e.ts_ns
        iface = self._iface(e)
        ts = self._base + (e.ts_ns - self._first_ts) if self._base else e.ts_ns
        self._out.write(packet_block(iface, ts, e.headers, e.length, hop_comment(e, self._topo)))
        self.result.packets += 1

    def _iface(self, e: Event) -> int:
        linktype = LINKTYPE_RAW if e.headers_l3 else LINKTYPE_ETHERNET
        key = (e.netns, device_name(e, self._topo), linktype)
        idx = self._ifaces.get(key)
        if idx is None:
            idx = self._ifaces[key] = len(self._ifaces)
            name = f"{netns_label(e.netns, self._topo)}/{key[1]}"
            desc = (f"{name} netns {e.netns} ifindex {e.ifindex}"
                    + (" (from IP header)" if e.headers_l3 else ""))
            self._out.write(interface_block(linktype, name, desc))
            self.result.interfaces += 1
        return idx


def netns_label(inode: int, topo: Topology) -> str:
    ns = topo.netns_by_inode(inode)
    return ns.label if ns is not None else f"netns:{inode}"


def device_name(e: Event, topo: Topology) -> str:
    if e.ifname:
        return e.ifname
    ln = topo.link(e.netns, e.ifindex)
    return ln.name if ln is not None else f"if{e.ifindex}"


def hop_comment(e: Event, topo: Topology) -> str:
    """What Wireshark shows under the packet: where and how brtrace saw it."""
    text = (f"brtrace hop: {e.hook.label} netns={netns_label(e.netns, topo)} "
            f"dev={device_name(e, topo)} ifindex={e.ifindex} skb={e.skb:#x} cpu={e.cpu}")
    if e.hook == Hook.KFREE_SKB or e.drop_reason:
        reason = e.reason_name or str(e.drop_reason)
        where = e.location_sym or f"{e.location:#x}"
        text += f" DROP reason={reason} at {where}"
    if e.vni:
        text += f" vni={e.vni}"
    return text


def export_pcapng(recording: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> ExportResult:
    """Write every event with headers from ``recording`` to ``out_path``.

    The output appears atomically (written beside it, then renamed), so a
    failed export never leaves half a pcapng where a good one was expected.
    """
    with open_recording(recording) as rec:
        return _export(rec, os.fspath(out_path))


def _export(rec: Recording, out: str) -> ExportResult:
    tmp = f"{out}.part"
    try:
        with open(tmp, "wb") as f:
            # Kernel timestamps count from boot: anchor the first at the recording's start.
            ex = PcapngExporter(f, rec.info.topology, int(rec.created * 1e9))
            for batch in rec.batches():
                for e in batch:
                    ex.add(e)
        os.replace(tmp, out)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise BrtraceError(f"cannot write {out}: {exc.strerror or exc}") from None
    ex.result.damage = rec.damage
    return ex.result


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
