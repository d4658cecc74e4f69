"""A bounded memo of a pure function of one frozen object and a small key, by identity.

Why: a trace asks the same few questions of one topology for every hop it
names (which namespace has inode N, whether an address is local there, which
route matches): each answer is a linear scan of frozen tuples, ~16 hops per
packet beside ``ping -i 0.002`` (1,000 packets/s). Remembered, ``brtrace
replay --plain`` of such a recording (155k events) takes 4.27 s of CPU
instead of 4.77 (medians of 10 interleaved runs; cProfile had put place_of,
owns_address and route_for at ~15 % of its time).

Keyed by ``id(obj)``, not by the object: a frozen Topology or Netns hashes
by value, all its tuples deep, which costs more than the scan it would save.
A hit checks that the stored object *is* the one asked about, so an id reused
by a later object is a miss, never a wrong answer. The memo holds what it
answered for, so an answer is never stale: the objects are immutable. It is
cleared whole at ``size`` answers (as the decoder's caches are) or when a new
object would make more than ``objects``: a live view takes a new topology
snapshot now and then, and a memo must not keep every old one alive.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

O = TypeVar("O")  # noqa: E741  (the object asked about)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class IdentityMemo(Generic[O, K, V]):
    """``memo(obj, key)`` is ``fn(obj, key)``, computed once per (obj, key) while it fits."""

    __slots__ = ("_answers", "_fn", "_objects", "_size", "_max_objects")

    def __init__(self, fn: Callable[[O, K], V], size: int = 4096, objects: int = 8) -> None:
        self._fn, self._size, self._max_objects = fn, size, objects
        self._answers: dict[tuple[int, K], tuple[O, V]] = {}
        self._objects: dict[int, O] = {}  # what the answers are about, by id

    def __call__(self, obj: O, key: K) -> V:
        slot = (id(obj), key)
        hit = self._answers.get(slot)
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = self._fn(obj, key)
        new = self._objects.get(slot[0]) is not obj
        if len(self._answers) >= self._size or (new and len(self._objects) >= self._max_objects):
            self._answers.clear()
            self._objects.clear()
        self._objects[slot[0]] = obj
        self._answers[slot] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._answers)

    def objects(self) -> int:
        """How many distinct objects the answers are about (at most ``objects``)."""
        return len(self._objects)
