"""Every view escapes system-supplied names one way (``tracer.render.inert``).

Two copies used to differ: the text renderer left a backslash as it was, so an
interface literally named ``eth\\x1b`` printed exactly like one holding an
ESC byte. The text tables, the drops table and the topology tree share one
function now.
"""

from __future__ import annotations

from tracer.correlate.journey import Hop
from tracer.correlate.vocab import Verb
from tracer.drops import DropRow, table_text
from tracer.render.inert import inert
from tracer.render.text import hop_table
from tracer.topology import render as topo_render

ESC_NAME = "eth\x1b[2J"
LITERAL_NAME = "eth\\x1b[2J"  # a backslash, x, 1, b: harmless text that only looks like an escape


def test_escape_and_lookalike_stay_distinct() -> None:
    assert inert(ESC_NAME) == "eth\\x1b[2J"
    assert inert(LITERAL_NAME) == "eth\\\\x1b[2J"
    assert inert("\u202eevil") == "\\u202eevil" and inert("ok ü") == "ok ü"


def test_every_view_uses_the_same_escaping() -> None:
    hops = [Hop(1, 0, "ns", name, "dev", Verb.SEND, f"sent on {name}") for name in (ESC_NAME, LITERAL_NAME)]
    table = "\n".join(hop_table(hops))
    assert inert(ESC_NAME) in table and inert(LITERAL_NAME) in table and "\x1b" not in table
    rows = [DropRow("ns", name, "NOT_SPECIFIED", 1, 1.0, 1, "x") for name in (ESC_NAME, LITERAL_NAME)]
    drops = "\n".join(table_text(rows, "drops"))
    assert inert(ESC_NAME) in drops and inert(LITERAL_NAME) in drops and "\x1b" not in drops
    assert topo_render.inert is inert
