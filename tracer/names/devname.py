"""Device names as the kernel means them: the bytes before the first NUL.

The kernel keeps a device name in a 16-byte buffer. A runtime creates a veth
under a temporary name (``veth1c2d887``) and renames it to ``eth0`` inside the
container; the rename writes the new name and one terminator and leaves the
old tail behind it. Read whole, the buffer says ``eth0\\0\\0\\0\\0887``. The probe
cuts the name in the kernel already; this is the same cut for every other
reader (a program built before that fix, recordings of raw records).
"""

from __future__ import annotations


def dev_name(raw: bytes) -> str:
    """``raw`` up to its first NUL, decoded (undecodable bytes become U+FFFD, never an error)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


__all__ = ["dev_name"]
