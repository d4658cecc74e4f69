"""ICMP (or ICMPv6) echo probes with brtrace's own id, sent from inside a chosen netns.

A raw socket opened by a thread that has setns()'d into the namespace stays
there; the kernel's ping socket would pick its own id, and the in-kernel
filter needs one we know in advance. An IPv6 DEST gets ICMPv6 echo (type
128) on an AF_INET6 raw socket: the kernel fills in the ICMPv6 checksum
(it covers a pseudo-header of addresses only the kernel knows for certain),
and what arrives on it starts at the ICMPv6 header, with no IP header.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from tracer import netns
from tracer.errors import BrtraceError

IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_DO = getattr(socket, "IP_PMTUDISC_DO", 2)
IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
IPV6_PMTUDISC_DO = getattr(socket, "IPV6_PMTUDISC_DO", 2)
ICMPV6_ECHO, ICMPV6_ECHOREPLY = 128, 129
ID_BASE = 0xB700  # "B7": recognisable brtrace probe ids, 0xB700..0xB7FF


def probe_id() -> int:
    return ID_BASE | (os.getpid() & 0xFF)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_packet(ident: int, seq: int, size: int = 56, v6: bool = False) -> bytes:
    """An echo request; ICMPv6's checksum is left 0 for the kernel to fill in."""
    payload = b"brtrace-probe" + bytes(max(0, size - 13))
    if v6:
        return struct.pack("!BBHHH", ICMPV6_ECHO, 0, 0, ident, seq) + payload
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    csum = _checksum(hdr + payload)
    return struct.pack("!BBHHH", 8, 0, csum, ident, seq) + payload


@dataclass
class ProbeTimes:
    sent_ns: dict[int, int] = field(default_factory=dict)
    rtt_ns: dict[int, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


class Pinger:
    """Sends ``count`` probes at ``interval`` and collects replies, in a thread."""

    def __init__(self, netns_path: str, dest: str, count: int, interval: float,
                 ident: int, size: int = 56, wait: float = 1.0) -> None:
        self.dest, self.count, self.interval, self.ident = dest, count, interval, ident
        self.size, self.wait = size, wait
        self.v6 = ":" in dest
        self.times = ProbeTimes()
        self._stop = threading.Event()
        try:
            self._sock = netns.run_in_netns(netns_path, self._open)
        except OSError as exc:
            raise BrtraceError(f"cannot open a raw ICMP{'v6' if self.v6 else ''} socket in {netns_path}: "
                               f"{exc.strerror}") from None
        self._thread = threading.Thread(target=self._run, name="brtrace-pinger", daemon=True)

    def _open(self) -> socket.socket:
        """DF is set (IP_PMTUDISC_DO) so a probe too big for the path is dropped and
        reported where it happens, instead of being fragmented out of sight (IPv6:
        the sender would fragment it, IPV6_PMTUDISC_DO refuses that too)."""
        if self.v6:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
            return sock
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        return sock

    def check_route(self) -> None:
        """Fail early and clearly when the source namespace cannot reach DEST."""
        try:
            self._sock.connect((self.dest, 0))
        except OSError as exc:
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                raise BrtraceError(
                    f"{self.dest} is unreachable from the source namespace (no route)") from None
            if exc.errno == errno.EACCES:  # a raw socket without SO_BROADCAST, to a broadcast route
                raise BrtraceError(f"{self.dest} is a broadcast address in the source namespace: "
                                   "brtrace traces probes to one host; give a unicast DEST", 2) from None
            raise BrtraceError(f"cannot send to {self.dest} from the source namespace: "
                               f"{exc.strerror}") from None

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._sock.close()

    def _loop(self) -> None:
        next_send = time.monotonic()
        sent = 0
        deadline = None
        while not self._stop.is_set():
            now = time.monotonic()
            if sent < self.count and now >= next_send:
                self._send(sent + 1)
                sent += 1
                next_send = now + self.interval
                if sent == self.count:
                    deadline = now + self.wait
            if deadline is not None and (now >= deadline or len(self.times.rtt_ns) == self.count):
                return
            until = min(next_send if sent < self.count else now + 0.05, (deadline or now + 1))
            self._receive(max(0.0, until - time.monotonic()))

    def _send(self, seq: int) -> None:
        self.times.sent_ns[seq] = time.monotonic_ns()
        try:
            self._sock.send(echo_packet(self.ident, seq, self.size, self.v6))
        except OSError as exc:
            self.times.errors[seq] = exc.strerror or str(exc)

    def _receive(self, timeout: float) -> None:
        r, _, _ = select.select([self._sock], [], [], timeout)
        if not r:
            return
        data = self._sock.recv(65535)
        ihl = 0 if self.v6 else (data[0] & 0x0F) * 4  # an ICMPv6 socket gets no IP header
        if len(data) < ihl + 8:
            return
        typ, _code, _c, ident, seq = struct.unpack_from("!BBHHH", data, ihl)
        want = ICMPV6_ECHOREPLY if self.v6 else 0
        if typ == want and ident == self.ident and seq in self.times.sent_ns:
            self.times.rtt_ns.setdefault(seq, time.monotonic_ns() - self.times.sent_ns[seq])
