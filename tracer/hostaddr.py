"""What a listening address exposes: this machine only (loopback), or more.

Both servers brtrace runs, the agent (gRPC) and ``serve`` (the TUI over
HTTP), refuse to expose live tracing beyond loopback unless told to, so
they ask the same question, here.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_unspecified(host: str) -> bool:
    """0.0.0.0 or ::, every address of the machine."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
