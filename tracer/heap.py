"""Give the C heap's free pages back to the kernel (glibc ``malloc_trim``).

Why (issue 18): a live view allocates and frees a flood's batches, decoded
events and hops many times a second, on two threads (the ring drain's and
the UI's), each with its own glibc arena. What it frees stays resident: free
chunks between live ones are never returned on their own, and each burst
(the view falling behind for a moment) leaves the arenas a little larger.
Over the last 30 s of a 60 s ``ping -i 0.002`` that was most of the TUI's
growth once its rows were compact (replaying a recorded flood into the
headless TUI: +6 to +9 MB over 30 s without trimming, +1.3 MB trimming every
5 s; ``sys.getallocatedblocks()`` stayed flat, so nothing was leaking).
``malloc_trim(0)`` walks every arena's free chunks and releases their whole
pages (``madvise``): about 0.1 ms here. Elsewhere (musl, macOS) it is a no-op.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_TRIM = _malloc_trim()


def release_free_pages() -> bool:
    """Return the C heap's free pages to the kernel; whether any was returned."""
    return bool(_TRIM(0)) if _TRIM is not None else False
