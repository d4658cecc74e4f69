"""The words every view compares on: what happened at a hop, and how a packet ended.

They are ``StrEnum`` members so that JSON output, recordings and the
explanation data files (keyed by verb) keep the exact strings they had when
these were plain literals, while the code compares against one definition
that a typo cannot miss and a test can iterate over.
"""

from __future__ import annotations

from enum import StrEnum


class Verb(StrEnum):
    """What the kernel did to the packet at one hop (``Hop.verb``)."""

    ROUTE = "route"
    ROUTE_LOCAL = "route-local"
    ROUTE_FAIL = "route-fail"
    ADDR_CHECK = "addr-check"  # a lookup of what kind of address it is (addrtype match), no routing
    BRNF_ROUTE = "brnf-route"  # bridge netfilter's own lookup after its DNAT: does the frame stay bridged
    DROP = "drop"
    FREE_COPY = "free-copy"
    CONSUMED = "consumed"
    FDB_LEARN = "fdb-learn"
    ENCAP = "encap"
    SEND_ENCAP = "send-encap"
    RECV_ENCAP = "recv-encap"
    DECAP = "decap"
    SEND = "send"
    RECV = "recv"
    DELIVER = "deliver"
    VETH_CROSS = "veth-cross"
    BRIDGE_XMIT = "bridge-xmit"
    BRIDGE_OUT = "bridge-out"
    BRIDGE_UP = "bridge-up"
    BRIDGE_FLOOD = "bridge-flood"
    BRIDGE_FORWARD = "bridge-forward"
    # across nodes (tracer/multinode): where a packet left, or came from, the nodes brtrace sees
    LEFT = "left"
    ENTERED = "entered"


# Route lookups and FDB learning are decisions, not movements of the packet.
DECISIONS = frozenset({Verb.ROUTE, Verb.ROUTE_LOCAL, Verb.ROUTE_FAIL, Verb.ADDR_CHECK, Verb.BRNF_ROUTE,
                       Verb.FDB_LEARN})
# Verbs that carry the packet on to another place.
MOVING = frozenset({Verb.SEND, Verb.SEND_ENCAP, Verb.ENCAP, Verb.DECAP, Verb.RECV, Verb.RECV_ENCAP,
                    Verb.VETH_CROSS, Verb.BRIDGE_XMIT, Verb.BRIDGE_OUT, Verb.BRIDGE_UP,
                    Verb.BRIDGE_FORWARD})


class Status(StrEnum):
    """How a packet (an echo exchange, or one journey) ended, as every view prints it."""

    DELIVERED = "delivered"
    DROPPED = "dropped"
    IN_FLIGHT = "in flight"
    UNANSWERED = "unanswered"
    PARTIAL = "partial"  # delivered, but not followed end to end: a node on its path had no agent
