"""A packet as every view lists it, and a book's packets by number: light ones as columns.

Why (issue 18): a live TUI lists every packet it sees, ~400 a second under
``ping -i 0.002``. A light packet (its hops dropped, ``PacketBook.lighten``)
still cost ~630 bytes as a ``Packet``: the slotted object, its ``what``
string, and its own int objects for number, sequence, id, first time and RTT
(tracemalloc over the TUI's ingest of a recorded flood). That alone grew the
live TUI by ~6 % over the last 30 s of a 60 s flood. Here a light packet is
one slot in each of a few typed arrays (~45 bytes); its addresses, places and
any ``what`` that an echo's id and sequence do not give are indices into
tables of distinct values, which a flood repeats. Reading one builds a fresh
light ``Packet`` with the same fields, so every view reads it as before; a
light packet never changes, so nothing is written back.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Status, Verb

STATUSES = tuple(Status)
HEAVY = -1  # the status column of a packet kept as an object
DERIVED = -1  # the what column of an echo whose what is echo_what(seq, ident)
NO_RTT = -1


@dataclass(slots=True)
class Packet:
    """One packet as a person reads it: where it went (request, reply) and how it ended."""

    pid: int
    what: str
    src: str = ""
    dst: str = ""
    request: tuple[Hop, ...] = ()
    reply: tuple[Hop, ...] = ()
    status: Status = Status.IN_FLIGHT
    rtt_ns: int | None = None
    echo: bool = False  # an ICMP echo exchange (the reply is paired by id and sequence)
    seq: int = 0
    ident: int = 0
    error: str = ""  # what the sending socket reported (ping only)
    places: frozenset[str] = field(default_factory=frozenset)
    light: bool = False  # hops dropped to save memory (the row stays): see PacketBook.lighten
    t_first: int = 0  # t0 kept when light

    @property
    def t0(self) -> int:
        hops = self.request or self.reply
        return hops[0].t_ns if hops else self.t_first

    @property
    def hops(self) -> tuple[Hop, ...]:
        return self.request + self.reply

    @property
    def drop(self) -> Hop | None:
        return next((h for h in self.hops if h.verb == Verb.DROP), None)

    def search_text(self) -> str:
        """What the filter box matches against: status, addresses, namespaces, devices."""
        return " ".join([self.status, self.what, self.src, self.dst, *sorted(self.places)]).lower()


def echo_what(seq: int, ident: int) -> str:
    """What an echo exchange is called in every view (the book, ``ping``)."""
    return f"icmp seq {seq} id {ident:#06x}"


class Interned:
    """Distinct values by index: a light row stores the index (4 bytes), not the value."""

    def __init__(self) -> None:
        self.values: list[object] = []
        self._index: dict[object, int] = {}

    def index(self, value: object) -> int:
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.values)
            self.values.append(value)
        return i


class PacketRows(Mapping[int, Packet]):
    """Packets 1..n: heavy ones (hops kept, may change) as objects, light ones as columns."""

    def __init__(self) -> None:
        self._heavy: dict[int, Packet] = {}
        self._n = 0
        self.light = 0  # how many are light
        self._status = array("b")  # by pid - 1: index in STATUSES, HEAVY while an object
        self._echo = array("b")
        self._rtt = array("q")
        self._t0 = array("q")
        self._seq = array("i")
        self._ident = array("i")
        self._src = array("i")  # index in _text
        self._dst = array("i")
        self._what = array("i")  # index in _text, or DERIVED
        self._places = array("i")  # index in _sets
        self._text = Interned()
        self._sets = Interned()
        self._error: dict[int, str] = {}  # what a socket reported: rare, never on a flood's rows

    def add(self, p: Packet) -> None:
        """A new packet, numbered next (``p.pid`` is ``len(self) + 1``), kept as an object."""
        if p.pid != self._n + 1:
            raise ValueError(f"packet {p.pid} added as number {self._n + 1}")
        self._n += 1
        self._heavy[p.pid] = p
        for col in (self._status, self._echo, self._seq, self._ident, self._src, self._dst,
                    self._what, self._places):
            col.append(HEAVY)
        self._rtt.append(NO_RTT)
        self._t0.append(0)

    def lighten(self, p: Packet) -> None:
        """Keep heavy packet ``p`` (hops already dropped, ``t_first`` set) as columns only."""
        del self._heavy[p.pid]
        i = p.pid - 1
        self._status[i] = STATUSES.index(p.status)
        self._echo[i] = int(p.echo)
        self._rtt[i] = NO_RTT if p.rtt_ns is None else p.rtt_ns
        self._t0[i] = p.t_first
        self._seq[i], self._ident[i] = p.seq, p.ident
        self._src[i], self._dst[i] = self._text.index(p.src), self._text.index(p.dst)
        derived = p.echo and p.what == echo_what(p.seq, p.ident)
        self._what[i] = DERIVED if derived else self._text.index(p.what)
        self._places[i] = self._sets.index(p.places)
        if p.error:
            self._error[p.pid] = p.error
        self.light += 1

    def is_light(self, pid: int) -> bool:
        """Whether ``pid`` is a light row (without building its Packet)."""
        return 0 < pid <= self._n and self._status[pid - 1] != HEAVY

    def __getitem__(self, pid: int) -> Packet:
        p = self._heavy.get(pid)
        if p is not None:
            return p
        if not self.is_light(pid):
            raise KeyError(pid)
        return self._build(pid)

    def _build(self, pid: int) -> Packet:
        i, text = pid - 1, self._text.values
        seq, ident, what, rtt = self._seq[i], self._ident[i], self._what[i], self._rtt[i]
        places: frozenset[str] = self._sets.values[self._places[i]]  # type: ignore[assignment]
        return Packet(pid, echo_what(seq, ident) if what == DERIVED else str(text[what]),
                      src=str(text[self._src[i]]), dst=str(text[self._dst[i]]),
                      status=STATUSES[self._status[i]], rtt_ns=None if rtt == NO_RTT else rtt,
                      echo=bool(self._echo[i]), seq=seq, ident=ident,
                      error=self._error.get(pid, ""), places=places, light=True, t_first=self._t0[i])

    def __contains__(self, pid: object) -> bool:
        return isinstance(pid, int) and 0 < pid <= self._n

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        return iter(range(1, self._n + 1))
