"""Pure correlation: events → journeys → hops (no bcc, pyroute2 or textual)."""

from tracer.correlate.correlator import Correlator
from tracer.correlate.hops import build_hops
from tracer.correlate.journey import Hop, Journey, packet_key

__all__ = ["Correlator", "Hop", "Journey", "build_hops", "packet_key"]
