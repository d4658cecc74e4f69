"""Route records made whole events (brtrace.c: emit_route).

An IPv4 route lookup sets only a route event's own fields, so the probes
write those (``BRT_ROUTE``) and the drain lays them into zeroed events, as
the probes' whole-event path clears the ring memory before filling it.
"""

from __future__ import annotations

import numpy as np

from tracer.schema.event import ROUTE_INTO

NOT_ICMP = 0xFF  # brt_key.icmp_type of a key that is not ICMP's


def route_events(routes: np.ndarray, rec_dtype: np.dtype) -> np.ndarray:
    """Route ring records as ring records of ``rec_dtype`` (whole events)."""
    out = np.zeros(len(routes), dtype=rec_dtype)
    out["rb_len"] = rec_dtype["ev"].itemsize  # a whole record, as the kernel's header says
    ev, rv = out["ev"], routes["ev"]
    for src, dst in ROUTE_INTO:
        if dst.startswith("outer."):
            ev["outer"][dst.removeprefix("outer.")] = rv[src]
        else:
            ev[dst] = rv[src]
    ev["outer"]["icmp_type"] = NOT_ICMP
    return out
