"""A character grid with tagged cells, turned into Rich ``Text`` lines.

The topology map is laid out once per topology (positions never move while a
packet walks), and each cell remembers a *tag* — the device, namespace box or
wire it belongs to. Highlighting a path is then only a question of which
style each tag gets, so selecting a hop restyles the map without re-laying
it out. Text goes in as plain characters: nothing is ever parsed as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from rich.style import Style
from rich.text import Text

Tag = Hashable | None

_VERT = set("│║┃")
_HORZ = set("─═━")


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.chars = [[" "] * width for _ in range(height)]
        self.tags: list[list[Tag]] = [[None] * width for _ in range(height)]
        self.base: list[list[str]] = [[""] * width for _ in range(height)]

    def put(self, x: int, y: int, text: str, style: str = "", tag: Tag = None) -> None:
        """Write ``text`` from (x, y); characters outside the grid are dropped."""
        if not 0 <= y < self.height:
            return
        for i, ch in enumerate(text):
            if 0 <= x + i < self.width:
                self.chars[y][x + i] = ch
                self.tags[y][x + i] = tag
                self.base[y][x + i] = style

    def hline(self, x0: int, x1: int, y: int, ch: str = "─", style: str = "", tag: Tag = None) -> None:
        """A horizontal line; where it crosses a vertical one it becomes a crossing."""
        for x in range(min(x0, x1), max(x0, x1) + 1):
            cur = self.chars[y][x] if 0 <= y < self.height and 0 <= x < self.width else " "
            if cur in _VERT:
                self.put(x, y, "╫" if cur == "║" else "┼", style, self.tags[y][x])
            else:
                self.put(x, y, ch, style, tag)

    def vline(self, x: int, y0: int, y1: int, ch: str = "│", style: str = "", tag: Tag = None) -> None:
        for y in range(min(y0, y1), max(y0, y1) + 1):
            cur = self.chars[y][x] if 0 <= y < self.height and 0 <= x < self.width else " "
            if cur in _HORZ:
                self.put(x, y, "╪" if cur == "═" else "┼", style, tag)
            else:
                self.put(x, y, ch, style, tag)

    def box(self, x: int, y: int, w: int, h: int, title: str, style: str = "", tag: Tag = None) -> None:
        """A rounded box with ``title`` in its top border."""
        self.put(x, y, "╭" + "─" * (w - 2) + "╮", style, tag)
        for yy in range(y + 1, y + h - 1):
            self.put(x, yy, "│", style, tag)
            self.put(x + w - 1, yy, "│", style, tag)
        self.put(x, y + h - 1, "╰" + "─" * (w - 2) + "╯", style, tag)
        self.put(x + 2, y, f" {title[: max(0, w - 6)]} ", style + " bold", tag)

    def crop(self) -> None:
        """Drop trailing blank rows (layouts reserve generously, then trim)."""
        while self.height > 1 and all(ch == " " for ch in self.chars[-1]):
            for grid in (self.chars, self.tags, self.base):
                grid.pop()
            self.height -= 1

    def render(self, style_of: Callable[[Tag], str | None],
               overlay: dict[tuple[int, int], str] | None = None) -> list[Text]:
        """One Text per row; ``style_of(tag)`` overrides a cell's base style when not None,
        ``overlay`` replaces single characters (the current-hop marker)."""
        cache: dict[Tag, str | None] = {}
        overlay = overlay or {}
        lines = []
        for y in range(self.height):
            text = Text(no_wrap=True, overflow="crop")
            run: list[str] = []
            run_style = ""
            for x in range(self.width):
                tag = self.tags[y][x]
                if tag not in cache:
                    cache[tag] = style_of(tag)
                st = cache[tag] or self.base[y][x]
                if st != run_style and run:
                    text.append("".join(run), Style.parse(run_style) if run_style else None)
                    run = []
                run_style = st
                run.append(overlay.get((x, y), self.chars[y][x]))
            if run:
                text.append("".join(run), Style.parse(run_style) if run_style else None)
            text.rstrip()
            lines.append(text)
        return lines
