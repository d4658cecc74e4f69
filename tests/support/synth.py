"""Synthetic kernel events for the correlator tests and the pipeline benchmarks (no root, no bcc).

``flannel_batch`` fills an array of ``struct brt_event`` the way the probes do
for a UDP flood pod-a -> pod-b on the flannel lab: every packet is seen at
the same hops as on the real lab (pod veth, cni0, route lookup, flannel.1,
the underlay with the packet VXLAN-encapsulated, then the same on node2).
``SyntheticRing`` lays such arrays out as ring-buffer records in memory that
``probes.ringbuf.RingBuffer`` drains exactly as it drains the kernel's.
"""

from __future__ import annotations

import mmap

import numpy as np

from probes.ringbuf import RingBuffer
from tracer.model import Hook
from tracer.schema.event import F_INNER, F_L3, F_MAC, F_ROUTE, event_dtype, record_dtype

POD_A, POD_B = 0x0200F40A, 0x0301F40A  # 10.244.0.2, 10.244.1.3 as the kernel stores them
NODE1, NODE2 = 0x0B32A8C0, 0x0C32A8C0  # 192.168.50.11 / .12
NS = {"pod-a": 4026532001, "node1": 4026532002, "node2": 4026532003, "pod-b": 4026532004}

# (hook, netns, ifindex, ifname, encapsulated, route lookup)
PATH: tuple[tuple[Hook, str, int, str, bool, bool], ...] = (
    (Hook.NET_DEV_QUEUE, "pod-a", 2, "eth0", False, False),
    (Hook.NET_DEV_START_XMIT, "pod-a", 2, "eth0", False, False),
    (Hook.NETIF_RX, "node1", 5, "veth-pod-a", False, False),
    (Hook.NETIF_RECEIVE_SKB, "node1", 5, "veth-pod-a", False, False),
    (Hook.NETIF_RECEIVE_SKB, "node1", 3, "cni0", False, False),
    (Hook.FIB_TABLE_LOOKUP, "node1", 4, "flannel.1", False, True),
    (Hook.NET_DEV_QUEUE, "node1", 4, "flannel.1", False, False),
    (Hook.NET_DEV_START_XMIT, "node1", 4, "flannel.1", False, False),
    (Hook.NET_DEV_QUEUE, "node1", 2, "eth0", True, False),
    (Hook.NET_DEV_START_XMIT, "node1", 2, "eth0", True, False),
    (Hook.NETIF_RX, "node2", 2, "eth0", True, False),
    (Hook.NETIF_RECEIVE_SKB, "node2", 2, "eth0", True, False),
    (Hook.NETIF_RECEIVE_SKB, "node2", 4, "flannel.1", False, False),
    (Hook.FIB_TABLE_LOOKUP, "node2", 3, "cni0", False, True),
    (Hook.NET_DEV_QUEUE, "node2", 3, "cni0", False, False),
    (Hook.NET_DEV_START_XMIT, "node2", 5, "veth-pod-b", False, False),
    (Hook.NETIF_RX, "pod-b", 2, "eth0", False, False),
    (Hook.NETIF_RECEIVE_SKB, "pod-b", 2, "eth0", False, False),
)
EVENTS_PER_PACKET = len(PATH)


def flannel_batch(n_events: int, first_packet: int = 0, snaplen: int = 128,
                  t0_ns: int = 1_000_000_000, pkt_gap_ns: int = 10_000) -> np.ndarray:
    """``n_events`` events (whole packets plus a tail), packets numbered from ``first_packet``."""
    arr = np.zeros(n_events, dtype=event_dtype(snaplen))
    idx = np.arange(n_events)
    pkt = first_packet + idx // EVENTS_PER_PACKET
    step = idx % EVENTS_PER_PACKET
    hooks = np.array([int(p[0]) for p in PATH], dtype=np.uint16)
    netns = np.array([NS[p[1]] for p in PATH], dtype=np.uint32)
    ifindex = np.array([p[2] for p in PATH], dtype=np.uint32)
    ifname = np.array([p[3].encode() for p in PATH], dtype="S16")
    encap = np.array([p[4] for p in PATH])
    route = np.array([p[5] for p in PATH])
    arr["ts_ns"] = t0_ns + pkt * pkt_gap_ns + step * 500
    arr["cpu"] = pkt % 2
    arr["skb"] = np.uint64(0xFFFF888000000000) + ((pkt % 4096) * 0x100 + (step >= 8) * 0x10
                                                  + (step >= 12) * 0x20).astype(np.uint64)
    arr["hook"] = hooks[step]
    arr["netns"] = netns[step]
    arr["ifindex"] = ifindex[step]
    arr["ifname"] = ifname[step]
    arr["len"] = np.where(encap[step], 64 + 50, 64)
    arr["ethertype"] = 0x0800
    is_route = route[step]
    is_encap = encap[step]
    arr["flags"] = np.where(is_route, F_ROUTE, F_MAC | np.where(is_encap, F_INNER, 0)
                            | np.where(step == 4, F_L3, 0))
    arr["src_mac"] = np.frombuffer(b"\x02\xaa\x00\x00\x00\x01", dtype="V6")[0]
    arr["dst_mac"] = np.frombuffer(b"\x02\xbb\x00\x00\x00\x02", dtype="V6")[0]
    arr["fib_table"] = np.where(is_route, 254, 0)
    arr["fib_nh_ifindex"] = np.where(is_route, ifindex[step], 0)
    key = np.where(is_encap, 0, 1)  # outer carries the pod packet unless encapsulated
    o, i = arr["outer"], arr["inner"]
    o["saddr"] = np.where(key, POD_A, NODE1)
    o["daddr"] = np.where(key, POD_B, NODE2)
    o["proto"] = 17
    o["ip_id"] = np.where(key, pkt & 0xFFFF, (pkt * 7) & 0xFFFF)
    o["ttl"] = 64
    o["sport"] = np.where(key, 40000, 50000 + pkt % 1000)
    o["dport"] = np.where(key, 5201, 8472)
    o["icmp_type"] = 0xFF
    enc = is_encap
    i["saddr"] = np.where(enc, POD_A, 0)
    i["daddr"] = np.where(enc, POD_B, 0)
    i["proto"] = np.where(enc, 17, 0)
    i["ip_id"] = np.where(enc, pkt & 0xFFFF, 0)
    i["ttl"] = np.where(enc, 63, 0)
    i["sport"] = np.where(enc, 40000, 0)
    i["dport"] = np.where(enc, 5201, 0)
    i["icmp_type"] = 0xFF
    arr["vni"] = np.where(enc, 1, 0)
    arr["inner_src_mac"] = arr["src_mac"]
    arr["inner_dst_mac"] = arr["dst_mac"]
    hdr = bytes(range(64)) * (snaplen // 64 + 1)
    arr["headers"] = np.frombuffer(hdr[:snaplen], dtype="V%d" % snaplen)[0]
    arr["hdr_len"] = np.where(is_route, 0, 64)
    return arr


class SyntheticRing:
    """Ring-buffer memory in user space: the kernel's layout, filled by ``push``.

    ``ring`` is a real :class:`RingBuffer` reading it (only ``wait`` is not
    meaningful: there is no map fd to poll).
    """

    def __init__(self, size: int = 8 << 20, snaplen: int = 128, dtype: np.dtype | None = None) -> None:
        """``dtype``: another record than the event's (the hop ring's)."""
        self.size = size
        self.dtype = record_dtype(snaplen) if dtype is None else dtype
        page = mmap.PAGESIZE
        self._cons = mmap.mmap(-1, page)
        self._prod = mmap.mmap(-1, page + 2 * size)
        self.ring = RingBuffer.from_memory(self._cons, self._prod, size, self.dtype)
        self._prod_pos = 0

    def push(self, events: np.ndarray) -> int:
        """Append records for ``events`` (as many as fit); returns how many were written."""
        cons = int.from_bytes(self._cons[:8], "little")
        rec = self.dtype.itemsize
        free = (self.size - (self._prod_pos - cons)) // rec
        n = min(len(events), free)
        if n <= 0:
            return 0
        recs = np.zeros(n, dtype=self.dtype)
        recs["rb_len"] = self.dtype["ev"].itemsize
        recs["ev"] = events[:n]
        raw = recs.tobytes()
        page = mmap.PAGESIZE
        start = self._prod_pos & (self.size - 1)
        # the kernel maps the data area twice; mirror the bytes so a wrap reads contiguously
        for base in (page + start, page + start + self.size):
            end = min(base + len(raw), page + 2 * self.size)
            self._prod[base:end] = raw[:end - base]
        if start + len(raw) > self.size:  # the wrapped tail at the start of the first mapping
            over = start + len(raw) - self.size
            self._prod[page:page + over] = raw[len(raw) - over:]
        self._prod_pos += n * rec
        self._prod[:8] = self._prod_pos.to_bytes(8, "little")
        return n

    def close(self) -> None:
        self.ring.close()
