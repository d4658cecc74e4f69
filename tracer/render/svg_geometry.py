"""The geometry of the SVG picture: rectangles, device rows, boxes, wires, in pixels.

Sizes assume a 12 px monospace font, which every browser has (the SVG must
stand alone, so no web font); one character is about 0.6 em wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DevKey = tuple[int, int]  # (netns inode, ifindex); ifindex 0 = the namespace itself
Point = tuple[float, float]

CH = 7.3  # width of one 12 px monospace character
ROW, TITLE, PAD = 24.0, 26.0, 10.0
MARK = 24.0  # room per hop marker on a row
TOP = 64.0  # room for the picture's own title and legend


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def mid_y(self) -> float:
        return self.y + self.h / 2


@dataclass(frozen=True, slots=True)
class Row:
    """One device (or, with ifindex 0, a namespace's title bar) and where its markers start."""

    key: DevKey
    rect: Rect
    text: str
    lane_x: float
    text_x: float = 0.0  # where the device text starts (after the markers, when they come first)


@dataclass(frozen=True, slots=True)
class Box:
    inode: int
    title: str
    rect: Rect
    kind: str  # "node" (holds pods) | "pod" | "netns"
    note: str = ""  # after the title, e.g. the pods left out


@dataclass(frozen=True, slots=True)
class Wire:
    points: tuple[Point, ...]
    kind: str  # "veth" | "tunnel"
    label: str = ""
    ends: tuple[DevKey, ...] = ()  # the two devices a veth wire joins

    def between(self, a: DevKey, b: DevKey) -> tuple[Point, ...] | None:
        """The wire's points from ``a`` to ``b`` if it joins exactly those two."""
        if self.ends == (a, b):
            return self.points
        if self.ends == (b, a):
            return tuple(reversed(self.points))
        return None


@dataclass(slots=True)
class PictureLayout:
    boxes: list[Box] = field(default_factory=list)
    rows: dict[DevKey, Row] = field(default_factory=dict)
    wires: list[Wire] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    right_side: set[DevKey] = field(default_factory=set)  # rows wired from their right edge

    def place(self, key: DevKey) -> Row | None:
        """The row a hop at ``key`` is drawn on: the device, else its namespace's title bar."""
        return self.rows.get(key) or self.rows.get((key[0], 0))
