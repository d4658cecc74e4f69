"""Keys that more than one widget binds: → / ← step playback (``tui.playback``).

The app binds them, and so do the lists that can hold the focus: their own
scroll bindings would otherwise take the arrow keys before the app sees them.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

STEP_KEYS: list[BindingType] = [
    Binding("right", "app.play_step(1)", "Step", key_display="→",
            tooltip="next hop, on into the next packet"),
    Binding("left", "app.play_step(-1)", "Step back", show=False,
            tooltip="previous hop, back into the previous packet"),
]
