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

Each crossing of a device is one packet: the hooks that see the same skb pass
the same device in the same direction (``net_dev_queue`` then
``net_dev_start_xmit``; ``netif_rx`` then ``netif_receive_skb``) are merged
into one packet whose comment names all of them, so Wireshark's counts per
interface are packets, not hook firings.

A packet's original length comes from its IP header when it was captured: on
receive the kernel has already pulled the Ethernet header off ``skb->len``, so
the event's length is 14 bytes short of the frame (a VXLAN frame of 148 bytes
was written as 134, and tshark reported the UDP length as bad).
"""

from __future__ import annotations

import os
import stat
import struct
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from tracer.errors import BrtraceError
from tracer.headers import FLANNEL_VXLAN_PORT
from tracer.model import ETH_P_IP, ETH_P_IPV6, IPPROTO_UDP, Event, Hook
from tracer.record.reader import Recording, open_recording
from tracer.topology.model import Topology

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
SNAPLEN = 262144
_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
SHB_USERAPPL = 4
VXLAN_HINT: Final = f"-d udp.port=={FLANNEL_VXLAN_PORT},vxlan"  # Wireshark decodes 4789 only
# Hooks that mark a device crossing, by direction: any of them on the same skb,
# device and bytes is the same crossing.
TX_HOOKS: Final = frozenset({Hook.NET_DEV_QUEUE, Hook.NET_DEV_START_XMIT, Hook.VETH_XMIT,
                             Hook.VXLAN_XMIT, Hook.IP_FINISH_OUTPUT2})
RX_HOOKS: Final = frozenset({Hook.NETIF_RX, Hook.NETIF_RECEIVE_SKB, Hook.BR_HANDLE_FRAME,
                             Hook.VXLAN_RCV, Hook.IP_RCV})
RECENT_CROSSINGS: Final = 4096  # non-adjacent duplicates are looked for this far back


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
    merged: int = 0  # events that were another hook's sight of an exported crossing
    vxlan_8472: int = 0  # packets carrying VXLAN on flannel's port
    damage: str | None = None
    per_interface: dict[str, int] = field(default_factory=dict)


def original_length(e: Event) -> int:
    """The packet's length on the wire, at least what was captured.

    The IP total length (plus the link header in front of it) when the
    captured bytes hold an IPv4 header; else the event's ``skb->len``.
    """
    off = 0 if e.headers_l3 else _l2_len(e.headers)
    h = e.headers
    if off >= 0 and len(h) >= off + 4 and h[off] >> 4 == 4:
        return max(len(h), off + int.from_bytes(h[off + 2:off + 4], "big"))
    if off >= 0 and len(h) >= off + 6 and h[off] >> 4 == 6:  # IPv6: payload length after 40 bytes
        return max(len(h), off + 40 + int.from_bytes(h[off + 4:off + 6], "big"))
    return max(len(h), e.length)


def _l2_len(h: bytes) -> int:
    """Bytes before the IP header of an Ethernet frame (VLAN tags included); -1 if not IP."""
    off = 12
    while len(h) >= off + 2:
        etype = int.from_bytes(h[off:off + 2], "big")
        if etype in (0x8100, 0x88A8):
            off += 4
            continue
        return off + 2 if etype in (ETH_P_IP, ETH_P_IPV6) else -1
    return -1


def _crossing(e: Event) -> tuple[object, ...] | None:
    """What makes two hooks' events one crossing; None for events that stand alone."""
    if e.hook in TX_HOOKS:
        return ("tx", e.skb, e.netns, e.ifindex, e.headers)
    if e.hook in RX_HOOKS:
        return ("rx", e.skb, e.netns, e.ifindex, e.headers)
    return None


def is_flannel_vxlan(e: Event) -> bool:
    return bool(e.vni) and e.outer.proto == IPPROTO_UDP and FLANNEL_VXLAN_PORT in (
        e.outer.dport, e.outer.sport)


class PcapngExporter:
    """Streams events into a pcapng file, adding an IDB the first time a hop appears.

    One event is held back until the next arrives, so the hooks that saw the
    same crossing can be named in its comment; ``finish()`` writes the last.
    """

    def __init__(self, out: BinaryIO, topology: Topology, time_base_ns: int = 0) -> None:
        self._out = out
        self._topo = topology
        self._ifaces: dict[tuple[int, str, int], int] = {}
        self._base = time_base_ns
        self._first_ts: int | None = None
        self._held: tuple[Event, list[str], tuple[object, ...] | None] | None = None
        self._recent: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self.result = ExportResult()
        out.write(section_header())

    def add(self, e: Event) -> None:
        if not e.headers:
            self.result.skipped += 1
            return
        key = _crossing(e)
        held = self._held
        if key is not None and held is not None and held[2] == key:
            held[1].append(e.hook.label)  # the same crossing, seen by one more hook
            self.result.merged += 1
            return
        if key is not None and key in self._recent:
            self.result.merged += 1  # seen already, with another packet in between
            return
        self.finish()
        self._held = (e, [e.hook.label], key)
        if key is not None:
            self._recent[key] = None
            if len(self._recent) > RECENT_CROSSINGS:
                self._recent.popitem(last=False)

    def finish(self) -> None:
        """Write the event held back; call once after the last ``add``."""
        if self._held is None:
            return
        e, hooks, _ = self._held
        self._held = None
        if self._first_ts is None:
            self._first_ts = e.ts_ns
        iface = self._iface(e)
        ts = self._base + (e.ts_ns - self._first_ts) if self._base else e.ts_ns
        self._out.write(packet_block(iface, ts, e.headers, original_length(e),
                                     hop_comment(e, self._topo, hooks)))
        self.result.packets += 1
        if is_flannel_vxlan(e):
            self.result.vxlan_8472 += 1

    def _iface(self, e: Event) -> int:
        linktype = LINKTYPE_RAW if e.headers_l3 else LINKTYPE_ETHERNET
        key = (e.netns, device_name(e, self._topo), linktype)
        name = f"{netns_label(e.netns, self._topo)}/{key[1]}"
        self.result.per_interface[name] = self.result.per_interface.get(name, 0) + 1
        idx = self._ifaces.get(key)
        if idx is None:
            idx = self._ifaces[key] = len(self._ifaces)
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


def hop_comment(e: Event, topo: Topology, hooks: list[str] | None = None) -> str:
    """What Wireshark shows under the packet: where and how brtrace saw it (every hook)."""
    seen = "+".join(hooks) if hooks else e.hook.label
    text = (f"brtrace hop: {seen} netns={netns_label(e.netns, topo)} "
            f"dev={device_name(e, topo)} ifindex={e.ifindex} skb={e.skb:#x} cpu={e.cpu}")
    if e.hook == Hook.KFREE_SKB or e.drop_reason:
        reason = e.reason_name or str(e.drop_reason)
        where = e.location_sym or f"{e.location:#x}"
        text += f" DROP reason={reason} at {where}"
    if e.vni:
        text += f" vni={e.vni}"
    if is_flannel_vxlan(e):
        text += f" (VXLAN on udp/{FLANNEL_VXLAN_PORT}: decode with {VXLAN_HINT})"
    return text


def export_pcapng(recording: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> ExportResult:
    """Write every event with headers from ``recording`` to ``out_path`` (``-``: stdout).

    A regular file (or a new one) appears atomically — written beside it, then
    renamed — so a failed export never leaves half a pcapng where a good one
    was expected. Anything else (a device, a FIFO, a symlink, stdout) is
    written in place: renaming over it would replace the device or the link
    with a regular file.
    """
    with open_recording(recording) as rec:
        return _export(rec, os.fspath(out_path))


def in_place(out: str) -> bool:
    """Whether ``out`` must be written where it is rather than replaced by a rename."""
    if out == "-":
        return True
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BrtraceError(f"cannot write {out}: {exc.strerror or exc}") from None
    return not stat.S_ISREG(st.st_mode)  # symlinks, devices, FIFOs, sockets


def _export(rec: Recording, out: str) -> ExportResult:
    if in_place(out):
        res = _export_in_place(rec, out)
    else:
        res = _export_by_rename(rec, out)
    res.damage = rec.damage
    return res


def _write_all(rec: Recording, f: BinaryIO) -> ExportResult:
    # Kernel timestamps count from boot: anchor the first at the recording's start.
    ex = PcapngExporter(f, rec.info.topology, int(rec.created * 1e9))
    for batch in rec.batches():
        for e in batch:
            ex.add(e)
    ex.finish()
    f.flush()
    return ex.result


def _export_in_place(rec: Recording, out: str) -> ExportResult:
    name = "stdout" if out == "-" else out
    try:
        if out == "-":
            return _write_all(rec, sys.stdout.buffer)
        with open(out, "wb") as f:
            return _write_all(rec, f)
    except BrokenPipeError:
        raise BrtraceError(f"cannot write {name}: the reader closed the pipe") from None
    except OSError as exc:
        raise BrtraceError(f"cannot write {name}: {exc.strerror or exc}") from None


def _export_by_rename(rec: Recording, out: str) -> ExportResult:
    tmp = f"{out}.part"
    try:
        with open(tmp, "wb") as f:
            res = _write_all(rec, f)
        os.replace(tmp, out)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise BrtraceError(f"cannot write {out}: {exc.strerror or exc}") from None
    return res


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
