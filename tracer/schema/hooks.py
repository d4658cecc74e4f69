"""The hook table: every place brtrace observes a packet, in one enum.

Each member's row is the whole description of a hook: its id (the number the
probe writes into ``brt_event.hook``), how it attaches, the kernel tracepoint
or function it attaches to, which argument holds the ``sk_buff`` (and the
device, when the hook names one) and at which layer the headers start. The C
program's hook ids and handler lists are generated from this table by the
loader (``probes/cgen.py``), its attach list is read from it, and the model
names hooks by it, so adding a hook is one row here plus, for a hook whose
arguments are not "an skb at index N", its hand-written handler in
``probes/brtrace.c``.

Argument lists and signatures were read in Linux 6.18 (functions also in 6.1).
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Attach(enum.Enum):
    """How a hook is reached: a tracepoint (kernel ABI), or a kernel function."""

    TRACEPOINT = "tracepoint"
    FUNCTION = "function"


class Layer(enum.Enum):
    """Where the probe looks for the packet's headers at this hook.

    L2: at the MAC header. L3: at the network header when the skb has one
    (``brtrace.c: header_start``), e.g. after the MAC header was pulled.
    """

    L2 = "l2"
    L3 = "l3"


TP, FN = Attach.TRACEPOINT, Attach.FUNCTION
L2, L3 = Layer.L2, Layer.L3
NO_ARG = -1  # no such argument
CUSTOM = -2  # the arguments need more than an index: a hand-written C handler


class HookRow(NamedTuple):
    """A hook's row of the table, past its id."""

    attach: Attach
    target: str  # "category:tracepoint" or a kernel function
    skb_arg: int
    dev_arg: int
    layer: Layer


_ROWS: dict[int, HookRow] = {}  # filled as the enum's members are made


class Hook(enum.IntEnum):
    """Where an event was seen; each value is one row of the hook table.

    ``skb_arg``/``dev_arg`` index the raw tracepoint's or function's
    arguments. A hook whose ``skb_arg`` is an index gets its C handler from
    the program's one hook macro; ``CUSTOM`` means brtrace.c writes the
    handler itself (named ``brt_tp_<name>`` / ``brt_kp_<function>``).
    """

    # NAME = id, attach, tracepoint or function, skb argument, device argument, layer
    NET_DEV_QUEUE = 1, TP, "net:net_dev_queue", 0, NO_ARG, L2
    NET_DEV_START_XMIT = 2, TP, "net:net_dev_start_xmit", 0, 1, L2
    NETIF_RECEIVE_SKB = 3, TP, "net:netif_receive_skb", 0, NO_ARG, L2
    NETIF_RX = 4, TP, "net:netif_rx", 0, NO_ARG, L2
    FIB_TABLE_LOOKUP = 5, TP, "fib:fib_table_lookup", CUSTOM, NO_ARG, L3  # no skb
    KFREE_SKB = 6, TP, "skb:kfree_skb", CUSTOM, NO_ARG, L3  # + location, reason
    BR_FDB_UPDATE = 7, TP, "bridge:br_fdb_update", CUSTOM, NO_ARG, L2  # no skb
    # IPv6 route lookups; its events are route lookups (FIB_TABLE_LOOKUP's id, flag F_V6):
    # one route path in the correlator and views for both families. This row attaches it.
    FIB6_TABLE_LOOKUP = 8, TP, "fib6:fib6_table_lookup", CUSTOM, NO_ARG, L3  # no skb
    BR_HANDLE_FRAME = 20, FN, "br_handle_frame", CUSTOM, NO_ARG, L2  # struct sk_buff **
    VETH_XMIT = 21, FN, "veth_xmit", 0, NO_ARG, L2
    IP_FORWARD = 22, FN, "ip_forward", 0, NO_ARG, L3
    BR_FORWARD = 23, FN, "br_forward", CUSTOM, NO_ARG, L2  # device from the bridge port
    BR_PASS_FRAME_UP = 24, FN, "br_pass_frame_up", 0, NO_ARG, L2
    VXLAN_XMIT = 25, FN, "vxlan_xmit", 0, NO_ARG, L2
    VXLAN_RCV = 26, FN, "vxlan_rcv", 1, NO_ARG, L3
    IP_RCV = 27, FN, "ip_rcv", 0, NO_ARG, L3
    IP_FINISH_OUTPUT2 = 28, FN, "ip_finish_output2", 2, NO_ARG, L3

    def __new__(cls, value: int, *row: object) -> Hook:
        # *row, not named parameters: ``Hook(5)`` (lookup by id) must type-check too
        obj = int.__new__(cls, value)
        obj._value_ = value
        _ROWS[value] = HookRow(*row)  # type: ignore[arg-type]
        return obj

    @property
    def attach(self) -> Attach:
        return _ROWS[self.value].attach

    @property
    def target(self) -> str:
        return _ROWS[self.value].target

    @property
    def skb_arg(self) -> int:
        return _ROWS[self.value].skb_arg

    @property
    def dev_arg(self) -> int:
        return _ROWS[self.value].dev_arg

    @property
    def layer(self) -> Layer:
        return _ROWS[self.value].layer

    @property
    def label(self) -> str:
        """The kernel's own name for the hook, as users know it from tracefs.

        From a table made once: every hop of every packet asks, and the enum's
        ``name`` is a descriptor lookup plus a new lowered string each time.
        """
        return _LABELS[self._value_]

    @property
    def is_tracepoint(self) -> bool:
        return self.attach is Attach.TRACEPOINT

    @property
    def function(self) -> str:
        """The kernel function name (tracepoints: the tracepoint's name)."""
        return self.target.split(":")[-1]

    @property
    def generic(self) -> bool:
        """True when the C handler comes from the hook macro (skb at an index)."""
        return self.skb_arg >= 0


_LABELS: dict[int, str] = {h._value_: h.name.lower() for h in Hook}
