"""A paced UDP sender script for kernel tests that trace the same datagrams twice.

Run inside a lab namespace (``ip netns exec brt-pod-a python3 -c SCRIPT``):
bounded in count and time, and paced so no ring overflows between polls.
"""

from __future__ import annotations


def paced_udp(dest: str, port: str, size: str, count: int = 40, seconds: float = 3.0) -> str:
    """The script: ``count`` datagrams 10 ms apart to ``dest``; ``port`` and
    ``size`` are Python expressions of the datagram's number ``i``."""
    return f"""
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.monotonic() + {seconds}
for i in range({count}):
    if time.monotonic() > end:
        break
    s.sendto(b"x" * ({size}), ({dest!r}, {port}))
    time.sleep(0.01)
"""
