"""The studio: a header and one tab per job. Each tab is built by its own module's ``build_tab(ctx)``."""

from __future__ import annotations

import shutil
import signal
import sys

import gradio as gr

from lantern_studio.engines.project import Project
from lantern_studio.engines.safety import Limits
from lantern_studio.engines.settings import Settings
from lantern_studio.studio import tab_benchmarks, tab_mixer, tab_music, tab_storyboard, tab_system
from lantern_studio.studio.context import StudioContext
from lantern_studio.studio.project_bar import build_project_bar, served_roots

TABS = (
    ("Music", "tab-music", tab_music),
    ("Mixer", "tab-mixer", tab_mixer),
    ("Storyboard", "tab-storyboard", tab_storyboard),
    ("Benchmarks", "tab-benchmarks", tab_benchmarks),
    ("System", "tab-system", tab_system),
)

CSS = """
#lantern-header h1 { margin-bottom: 0; }
#lantern-header p { margin-top: 0.2em; opacity: 0.8; }
"""

# one slot for each GPU-heavy job; the Gradio queue shows everyone else their position
MAX_QUEUE_SIZE = 64


def build_app(settings: Settings, project: Project | None = None) -> tuple[gr.Blocks, StudioContext]:
    ctx = StudioContext(settings=settings, project=project or Project.open(settings.project_dir))
    with gr.Blocks(title="Lantern Studio") as demo:
        with gr.Column(elem_id="lantern-header"):
            gr.Markdown("# Lantern Studio 灯\nFestival music, variations on headphones, comic-drama storyboards "
                        "and benchmarks — offline, on this machine.")
            build_project_bar(ctx)
        with gr.Tabs():
            for label, elem_id, module in TABS:
                with gr.Tab(label, id=elem_id, elem_id=elem_id):
                    module.build_tab(ctx)
    demo.queue(max_size=MAX_QUEUE_SIZE, default_concurrency_limit=1)
    return demo, ctx


def serve(settings: Settings) -> int:
    """Start the studio and block until it is stopped (Ctrl+C)."""
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    # a polite kill (SIGTERM) stops like Ctrl+C, so the temp folder is still emptied below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo, ctx = build_app(settings)
    print(f"Lantern Studio: http://{settings.host}:{settings.port}  (project {ctx.project.root})", flush=True)
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, share=settings.share, auth=settings.auth,
                    inbrowser=settings.open_browser, allowed_paths=[str(root) for root in served_roots(ctx)], css=CSS,
                    footer_links=["gradio", "settings"], show_error=True, quiet=True,
                    max_file_size=Limits.from_environ().max_upload_bytes)
    finally:
        shutil.rmtree(settings.temp_dir, ignore_errors=True)
    return 0
