"""One way to show text that came from the system: every name may hold anything.

Interface names, namespace labels, drop reasons and addresses typed by a
user can carry escape sequences, newlines or bidi overrides; every view
passes them through :func:`inert` so a terminal shows them and never obeys
them. A backslash is doubled, so an escape shown and a name that merely
contains one never look alike.
"""

from __future__ import annotations


def inert(text: str) -> str:
    """``text`` with anything a terminal could interpret escaped (``\\x1b``, ``\\u202e`` …).

    Nearly every text is printable as it is: one C scan answers that, where
    the loop below cost ~8 µs a call (`brtrace trace` of 1,000 packets/s
    called it 55,000 times a second, a quarter of its CPU).
    """
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
    return "".join(out)
