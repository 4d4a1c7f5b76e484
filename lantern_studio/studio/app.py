"""The studio: a header and one tab per job. Each tab is built by its own module's ``build_tab(ctx)``."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from lantern_studio.engines import run_temp
from lantern_studio.engines.project import Project
from lantern_studio.engines.safety import Limits
from lantern_studio.engines.settings import Settings
from lantern_studio.studio import tab_benchmarks, tab_mixer, tab_music, tab_storyboard, tab_system
from lantern_studio.studio.context import StudioContext
from lantern_studio.studio.messages import quiet_refusals
from lantern_studio.studio.project_bar import build_project_bar, served_roots
from lantern_studio.studio.sessions import release_sessions_on_unload
from lantern_studio.studio.web_guard import FilePolicy, HostPolicy, UploadPolicy, WebGuard

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
/* the selected take's whole row in the takes list (Gradio marks only the clicked cell) */
#music-takes-table [role=row]:has(> .cell-selected) > .body-cell { background: #e2573c22; }
/* a path or a command with no spaces wraps inside its column instead of running off the table's edge */
#system-findings [role=gridcell], #bench-table [role=gridcell], #bench-history [role=gridcell] {
  overflow-wrap: anywhere;
}
"""

# one slot for each GPU-heavy job; the Gradio queue shows everyone else their position
MAX_QUEUE_SIZE = 64
# windows release their state when they close (studio.sessions); this bounds the rest (clients that never
# connect a heartbeat) to about half a gigabyte, Gradio's default of 10,000 to about five
MAX_SESSIONS = 1000


def build_app(settings: Settings, project: Project | None = None) -> tuple[gr.Blocks, StudioContext]:
    ctx = StudioContext(settings=settings, project=project or Project.open(settings.project_dir))
    # Gradio deletes uploads and outputs older than the policy's age on its timer, not only at shutdown
    with gr.Blocks(title="Lantern Studio", delete_cache=_upload_policy().delete_cache()) as demo:
        with gr.Column(elem_id="lantern-header"):
            gr.Markdown("# Lantern Studio 灯\nFestival music, variations on headphones, comic-drama storyboards "
                        "and benchmarks — offline, on this machine.")
            build_project_bar(ctx)
        with gr.Tabs():
            for label, elem_id, module in TABS:
                with gr.Tab(label, id=elem_id, elem_id=elem_id) as tab:
                    ctx.shared[f"tab:{elem_id}"] = tab       # a tab may refresh what it shows when selected
                    module.build_tab(ctx)
    quiet_refusals(demo)      # users' mistakes: a toast and one log line, never a traceback
    demo.queue(max_size=MAX_QUEUE_SIZE, default_concurrency_limit=1)
    release_sessions_on_unload(demo)
    return demo, ctx


def _upload_policy() -> UploadPolicy:
    return UploadPolicy.from_environ(Limits.from_environ().max_upload_bytes)


def _open_project_roots(ctx: StudioContext) -> list:
    """The folders of the projects windows have open in this run (their media is what the page plays)."""
    opened = getattr(ctx, "_projects", None) or {}
    return [ctx.project.root, *(project.root for project in list(opened.values()))]


def _temp_roots(settings: Settings) -> list[Path]:
    """This run's folder, and Gradio's upload folder where the user pointed ``GRADIO_TEMP_DIR`` elsewhere."""
    gradio_dir = os.environ.get("GRADIO_TEMP_DIR", "")
    return [settings.temp_dir, *([Path(gradio_dir)] if gradio_dir else [])]


def web_guard(settings: Settings, ctx: StudioContext) -> Middleware:
    """The Host/Origin/file/upload guard in front of every route (see ``studio.web_guard``)."""
    shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return Middleware(WebGuard, hosts=HostPolicy(settings.host, settings.allowed_hosts, share=settings.share),
                      files=FilePolicy(lambda: _open_project_roots(ctx), _temp_roots(settings)),
                      uploads=_upload_policy(), studio_url=f"http://{shown_host}:{settings.port}/")


def serve(settings: Settings) -> int:
    """Start the studio and block until it is stopped (Ctrl+C)."""
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    # a polite kill (SIGTERM) stops like Ctrl+C, so this run's temp folder is still deleted below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo, ctx = build_app(settings)
    print(f"Lantern Studio: http://{settings.host}:{settings.port}  (project {ctx.project.root})", flush=True)
    try:
        demo.launch(server_name=settings.host, server_port=settings.port, share=settings.share, auth=settings.auth,
                    inbrowser=settings.open_browser, allowed_paths=[str(root) for root in served_roots(ctx)], css=CSS,
                    footer_links=["gradio", "settings"], show_error=True, quiet=True,
                    max_file_size=Limits.from_environ().max_upload_bytes, enable_monitoring=False,
                    state_session_capacity=MAX_SESSIONS,
                    app_kwargs={"middleware": [web_guard(settings, ctx)]})
    finally:
        run_temp.release(settings.temp_dir)
    return 0
