"""Pure correlation: events → journeys → hops → packets (no bcc, pyroute2 or textual).

``correlator`` files events into one journey per packet, ``hops`` names each
place a journey passed, ``pairing`` pairs request and reply journeys into the
packets every view lists (``packet``: the Packet, and a book's packets with
light ones as columns), and ``vocab`` holds the words they compare on.
"""

from tracer.correlate.correlator import Correlator
from tracer.correlate.hops import build_hops
from tracer.correlate.journey import Hop, Journey, packet_key
from tracer.correlate.pairing import Packet, PacketBook
from tracer.correlate.vocab import Status, Verb

__all__ = ["Correlator", "Hop", "Journey", "Packet", "PacketBook", "Status", "Verb", "build_hops",
           "packet_key"]
