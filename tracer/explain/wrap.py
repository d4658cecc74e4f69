"""Wrapping by terminal cells, not characters: a CJK character takes two cells.

``textwrap`` counts characters, so a Chinese line of 92 "characters" filled
160 cells. Here a line holds at most ``width`` cells (East Asian Wide and
Fullwidth characters count two, from ``unicodedata``: wcwidth is not
installed here), a CJK text may break between any two of its characters
(except before closing punctuation), and a Latin word — a device name, an
address, ``veth-pod-a`` — is never broken unless it alone is wider than a line.
"""

from __future__ import annotations

import unicodedata

_NO_BREAK_BEFORE = set("，。；：、）》」』！？,.;:)%")
_NO_BREAK_AFTER = set("（《「『")


def cells(text: str) -> int:
    """Terminal cells ``text`` takes."""
    return sum(_cw(c) for c in text)


def _cw(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _tokens(text: str) -> list[str]:
    """Breakable units: a run of Latin non-space characters, one space, or one wide character."""
    out: list[str] = []
    word = ""
    for c in text:
        if c.isspace():
            if word:
                out.append(word)
                word = ""
            out.append(" ")
        elif _cw(c) == 2:
            if word:
                out.append(word)
                word = ""
            out.append(c)
        else:
            word += c
    if word:
        out.append(word)
    return _glue(out)


def _glue(tokens: list[str]) -> list[str]:
    """Closing punctuation stays with the unit before it, opening punctuation with the one after."""
    out: list[str] = []
    for t in tokens:
        if out and t[0] in _NO_BREAK_BEFORE and out[-1] != " ":
            out[-1] += t
        elif out and out[-1] and out[-1][-1] in _NO_BREAK_AFTER and t != " ":
            out[-1] += t
        else:
            out.append(t)
    return out


def wrap_cells(text: str, width: int) -> list[str]:
    """``text`` as lines of at most ``width`` cells (a single unit wider than that is cut)."""
    lines: list[str] = []
    cur, used = "", 0
    for tok in _tokens(" ".join(text.split())):
        w = cells(tok)
        if tok == " ":
            if cur and used + 1 <= width:
                cur, used = cur + " ", used + 1
            continue
        if used + w > width and cur.strip():
            lines.append(cur.rstrip())
            cur, used = "", 0
        while w > width:  # one unit wider than a line: cut it by cells
            head = _take(tok, width - used)
            lines.append((cur + head).rstrip())
            tok, cur, used = tok[len(head):], "", 0
            w = cells(tok)
        cur, used = cur + tok, used + w
    if cur.strip():
        lines.append(cur.rstrip())
    return lines


def _take(tok: str, room: int) -> str:
    out, used = "", 0
    for c in tok:
        if used + _cw(c) > room:
            break
        out, used = out + c, used + _cw(c)
    return out or tok[:1]
