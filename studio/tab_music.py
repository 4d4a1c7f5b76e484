"""Music tab (placeholder until its issue lands: it says so plainly and does nothing else)."""

from __future__ import annotations

import gradio as gr

from studio.context import StudioContext


def build_tab(ctx: StudioContext) -> None:
    gr.Markdown("**Coming soon.** This tab is being built; nothing here works yet.")
