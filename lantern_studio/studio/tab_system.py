"""System tab: what the studio found on this machine (the same report as `python launch.py doctor`)."""

from __future__ import annotations

import gradio as gr

from lantern_studio.engines.doctor import collect
from lantern_studio.studio.context import StudioContext

HEADERS = ["status", "part", "details"]
# fixed shares of the width: the details (paths, commands) wrap inside their column instead of running off
# the right edge (app.CSS lets a long path break anywhere)
WIDTHS = ["9%", "23%", "68%"]


def findings(ctx: StudioContext) -> list[list[str]]:
    """One row per part the studio looked for: ok or missing, what it is, and how to get it when missing."""
    return [["ok" if f.ok else "missing", f.topic, f.detail] for f in collect(ctx.settings)]


def build_tab(ctx: StudioContext) -> None:
    gr.Markdown("What the studio found on this machine. Missing parts say how to get them; "
                "the embedded composer and previz renderer work without any of them.")
    table = gr.Dataframe(value=findings(ctx), headers=HEADERS, interactive=False, elem_id="system-findings",
                         wrap=True, column_widths=WIDTHS)
    refresh = gr.Button("Check again", elem_id="system-refresh")
    refresh.click(ctx.bind(findings), outputs=table, api_name=False)
