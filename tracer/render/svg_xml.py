"""Writing SVG elements safely: every name and text is made inert, then XML-escaped.

Names in a trace come from the kernel and the recording and may hold
anything; a control character is not even legal in XML 1.0. So text passes
through :func:`tracer.render.text.inert` (escapes it visibly) and then is
escaped for XML, in one place.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from tracer.render.inert import inert

Attr = str | float | int


def _num(v: Attr) -> str:
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return str(v)


def attrs(**kw: Attr) -> str:
    """``key="value"`` pairs; a trailing underscore is dropped and ``_`` becomes ``-``."""
    return "".join(f" {k.rstrip('_').replace('_', '-')}={quoteattr(inert(_num(v)))}"
                   for k, v in kw.items())


def el(tag: str, text: str | None = None, **kw: Attr) -> str:
    """One element; ``text`` (if given) is made inert and escaped."""
    if text is None:
        return f"<{tag}{attrs(**kw)}/>"
    return f"<{tag}{attrs(**kw)}>{escape(inert(text))}</{tag}>"


def group(parts: list[str], **kw: Attr) -> str:
    return f"<g{attrs(**kw)}>" + "".join(parts) + "</g>"


def titled(tag: str, title: str, **kw: Attr) -> str:
    """An element with a tooltip (the browser shows ``title`` on hover)."""
    return f"<{tag}{attrs(**kw)}>{el('title', title)}</{tag}>"
