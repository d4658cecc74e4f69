"""The event schema: one home for what crosses from the kernel to the views.

- ``hooks``: the hook table (ids, tracepoints/functions, skb argument, layer);
- ``event``: ``struct brt_event`` field by field, its numpy dtype, the flags;
- ``decode``: batches of those records into lazy :class:`~tracer.model.Event` s;
- ``recording``: the recording format's version and record kinds.

Pure Python (numpy only): the probes, the correlator, record/replay and the
views all read it, and it imports none of them. Import the submodules
directly; this package re-exports nothing, so importing ``tracer.model``
(which names hooks from ``hooks``) never drags in the decoder.

To add a hook: one row in ``hooks.Hook`` (a new id; ids never change
meaning, recordings store them). If its skb is simply an argument, the C
handler comes from the hook macros; otherwise write ``brt_tp_<name>`` (or
``brt_kp_<function>`` and its ``KFUNC_PROBE``) in ``probes/brtrace.c``.

To change the event: the field in ``event.BRT_EVENT`` and in
``probes/brtrace.h`` (every compile checks one against the other), the
decoder and :class:`~tracer.model.Event`, and bump
``recording.SCHEMA_VERSION`` (keeping the old version readable).
"""
