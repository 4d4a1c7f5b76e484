"""Per-browser-window state is given back when the window goes away.

Gradio keeps one ``SessionState`` per window (a copy of every component's config plus the ``gr.State`` values)
in ``demo.state_holder``. When a window closes, Gradio 6 marks it closed and drops its ``gr.State`` values an
hour later, but keeps the ``SessionState`` itself until 10,000 newer windows push it out: about half a
megabyte per window ever opened. ``release_sessions_on_unload(demo)`` runs on ``demo.unload`` (the window's
heartbeat connection ended): it calls every ``gr.State``'s ``delete_callback`` for that window and forgets the
window's ``SessionState``.
"""

from __future__ import annotations

import gradio as gr


def forget_session(demo: gr.Blocks, session_hash: str) -> bool:
    """Release one window's state now: ``delete_callback`` of each of its ``gr.State`` values, then its
    ``SessionState``. Returns whether there was anything to release."""
    holder = getattr(demo, "state_holder", None)
    if holder is None or not session_hash or session_hash not in holder:
        return False
    holder.delete_state(session_hash)
    with holder.lock:
        holder.session_data.pop(session_hash, None)
        holder.time_last_used.pop(session_hash, None)
    return True


def release_sessions_on_unload(demo: gr.Blocks) -> None:
    """Register ``forget_session`` for every window that closes (call inside or after building ``demo``)."""

    def release(request: gr.Request) -> None:
        forget_session(demo, getattr(request, "session_hash", None) or "")

    demo.unload(release)
