"""Teaching mode: each hop explained in the seed notes' terms, in English or Chinese.

``facts`` (what brtrace knows about a hop), ``hop`` (the text chosen and
filled from those facts), ``texts`` (the data files), ``wrap`` (lines by
terminal cells), ``lines`` (a packet, its diagnosis and the summary as text).
"""

from tracer.explain.hop import action_text, explain
from tracer.explain.lines import (
    damage_lines,
    diagnosis_lines,
    explain_in,
    explain_lines,
    headline,
    summary_line,
)
from tracer.explain.texts import languages, texts

__all__ = ["action_text", "damage_lines", "diagnosis_lines", "explain", "explain_in", "explain_lines",
           "headline", "languages", "summary_line", "texts"]
