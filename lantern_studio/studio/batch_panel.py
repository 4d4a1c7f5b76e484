"""The Batch section: render several episodes' animatics and music takes at once, as Ray tasks.

The user picks scripts (the project's, or uploaded), a format and a music preset, optionally a set of music
takes, then starts; a progress line counts items, Cancel keeps what finished, and the results are listed
for download. Everything runs through :mod:`lantern_studio.engines.batch` (the same code as
``launch.py batch``), into the project's ``renders/batch`` folder.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, NamedTuple

import gradio as gr

from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.messages import bind

NO_MUSIC = "(no music)"
SCRIPT_SUFFIXES = (".fountain", ".txt")
# the files worth opening from each item; the rest stay in the output folder
RESULT_SUFFIXES = (".mp4", ".srt", ".pdf", ".cbz", "_mix.wav", "_mix.mp3", ".mid")
POLL_S = 0.5

_CANCELS: dict[str, threading.Event] = {}


def project_scripts(root: Path) -> list[str]:
    """Script files in the project's ``story/`` and ``scripts/`` folders, relative to the project."""
    found = []
    for folder in ("story", "scripts"):
        base = root / folder
        if base.is_dir():
            found += [p.relative_to(root).as_posix() for p in sorted(base.rglob("*"))
                      if p.is_file() and p.suffix.lower() in SCRIPT_SUFFIXES]
    return found


def script_choices(ctx: StudioContext, root: str | None, chosen: list[str] | None = None) -> Any:
    """The script list of the window's project (``root``), keeping the ticks that still name a script."""
    found = project_scripts(ctx.project_at(root).root)
    return gr.update(choices=found, value=[name for name in chosen or [] if name in found])


class ScriptRefresh(NamedTuple):
    """How a tab refreshes the section's script list (e.g. when its step is shown): ``fn(root, chosen)``."""
    fn: Callable
    inputs: list
    output: Any


def batch_data(root: Path, chosen: list[str], uploads: list[str], *, fmt: str, music_preset: str,
               no_video: bool, take_preset: str, seeds_text: str, take_duration_s: float) -> dict:
    """The plan (as a TOML file would hold it) for the section's choices."""
    data: dict = {"animatic": [], "music": []}
    for name in chosen or []:
        data["animatic"].append({"script": str(root / name)})
    for upload in uploads or []:
        data["animatic"].append({"script": str(upload)})
    for entry in data["animatic"]:
        entry.update(format=fmt, no_video=bool(no_video))
        if music_preset and music_preset != NO_MUSIC:
            entry["music_preset"] = music_preset
    if take_preset and take_preset != NO_MUSIC:
        try:
            seeds = [int(s) for s in seeds_text.replace(",", " ").split()]
        except ValueError:
            raise gr.Error(f"Seeds {seeds_text!r}: write whole numbers separated by commas, e.g. 1, 2, 3") from None
        data["music"].append({"name": take_preset, "preset": take_preset, "seeds": seeds,
                              "duration_s": float(take_duration_s)})
    return {key: value for key, value in data.items() if value}


def build_batch_section(ctx: StudioContext) -> ScriptRefresh:
    """Build the section inside the current Blocks (called by a tab). Its script list follows the window's
    project: on page load, on a project switch, and whenever the tab calls the returned refresh."""
    from lantern_studio.engines.music.presets import preset_ids

    window_root = ctx.project_state()
    presets = preset_ids()
    with gr.Column(elem_id="batch-section"):
        gr.Markdown("Render many episodes and music takes at once, one Ray task each, on this machine's cores "
                    "(or a cluster with `python launch.py batch --address`). Finished items are kept and skipped "
                    "when you start again.")
        with gr.Row():
            scripts = gr.CheckboxGroup(choices=[], label="The project's scripts", elem_id="batch-scripts")
            uploads = gr.File(label="More scripts (.fountain, .txt)", file_count="multiple",
                              file_types=list(SCRIPT_SUFFIXES), type="filepath", elem_id="batch-uploads")
        with gr.Row():
            fmt = gr.Radio(["9:16", "16:9", "1:1"], value="9:16", label="Format", elem_id="batch-format")
            music_preset = gr.Dropdown([NO_MUSIC, *presets], value=NO_MUSIC, label="Music under each animatic",
                                       elem_id="batch-music-preset")
            no_video = gr.Checkbox(value=False, label="Pages only (no video)", elem_id="batch-no-video")
        with gr.Row():
            take_preset = gr.Dropdown([NO_MUSIC, *presets], value=NO_MUSIC, label="Music takes: preset",
                                      elem_id="batch-take-preset")
            seeds = gr.Textbox(value="1, 2, 3", label="Seeds", elem_id="batch-seeds")
            take_duration = gr.Number(value=30, minimum=5, maximum=600, label="Take length (s)",
                                      elem_id="batch-take-duration")
        with gr.Row():
            start = gr.Button("Start batch", variant="primary", elem_id="batch-start")
            cancel = gr.Button("Cancel", variant="stop", elem_id="batch-cancel")
        status = gr.Markdown(elem_id="batch-status")
        results = gr.File(label="Results", file_count="multiple", interactive=False, elem_id="batch-results")
        job = gr.State("")

    refresh = ctx.bind(script_choices)
    window_project = ctx.shared.get("project_version")
    if window_project is not None:
        window_project.change(refresh, window_root, scripts, api_name=False)
    root_block = gr.context.Context.root_block
    if root_block is not None:
        root_block.load(refresh, window_root, scripts, api_name=False)
    start.click(bind(ctx, on_start, 3, status=1),
                inputs=[window_root, scripts, uploads, fmt, music_preset, no_video, take_preset, seeds, take_duration],
                outputs=[job, status, results], concurrency_id=GPU_JOBS, api_name="batch")
    cancel.click(cancel_batch, inputs=job, outputs=status, queue=False)
    return ScriptRefresh(refresh, [window_root, scripts], scripts)


def cancel_batch(token: str) -> str:
    """The Cancel button: stop the window's running batch (its token is in the section's state)."""
    event = _CANCELS.get(token or "")
    if event is not None:
        event.set()
        return "Cancelling: the items still running stop; the finished ones are kept."
    return "No batch is running."


def on_start(ctx: StudioContext, root, chosen, uploaded, fmt_value, preset_value, pages_only, take_value, seeds_value,
             duration_value, progress=gr.Progress()):
    """The Start button (Gradio fills ``progress``): :func:`run_batch_job`'s updates."""
    yield from run_batch_job(ctx, root, chosen, uploaded, fmt_value, preset_value, pages_only, take_value,
                             seeds_value, duration_value, progress)


def run_batch_job(ctx: StudioContext, root, chosen, uploaded, fmt_value, preset_value, pages_only, take_value,
                  seeds_value, duration_value, progress=None):
    """The Start handler: check the plan, run it on Ray in a thread, and yield (job token, status, results)
    while it runs; the last yield lists the result files."""
    from lantern_studio.engines.batch.plan import PlanError, plan_from_data
    from lantern_studio.engines.batch.ray_run import BatchConnectError, run_batch

    project = ctx.window(root).project
    data = batch_data(project.root, chosen, uploaded, fmt=fmt_value, music_preset=preset_value,
                      no_video=pages_only, take_preset=take_value, seeds_text=seeds_value or "",
                      take_duration_s=float(duration_value or 30))
    if not data:
        raise gr.Error("Choose at least one script or a music takes preset.")
    try:
        plan = plan_from_data(data, base=project.root, source="batch", project_dir=project.root)
    except PlanError as error:
        raise gr.Error(str(error)) from None
    out = project.renders_dir / "batch"
    token = uuid.uuid4().hex
    stop = _CANCELS[token] = threading.Event()
    state = {"finished": 0, "total": len(plan.items), "message": "starting Ray", "report": None, "error": None}

    def tell(finished: int, total: int, message: str) -> None:
        state.update(finished=finished, total=total, message=message)

    def work() -> None:
        try:
            state["report"] = run_batch(plan, out, ctx.settings, progress=tell, cancel=stop.is_set)
        except (BatchConnectError, OSError) as error:
            state["error"] = str(error)

    worker = threading.Thread(target=work, name="studio-batch", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            if progress is not None:
                progress(state["finished"] / max(1, state["total"]), desc=state["message"])
            yield token, f"{state['finished']}/{state['total']} items · {state['message']}", gr.update()
            time.sleep(POLL_S)
    finally:
        _CANCELS.pop(token, None)
    if state["error"]:
        raise gr.Error(state["error"])
    report = state["report"]
    files = [str(p) for p in _result_files(report)]
    summary = (f"{report.count('done')} made, {report.count('skipped')} already there, "
               f"{report.count('failed')} failed, {report.count('cancelled')} cancelled · in `{out}`")
    failures = [f"- **{r.name}**: {r.error}" for r in report.results if r.status == "failed"]
    yield "", "\n".join([summary, *failures]), files


def _result_files(report) -> list[Path]:
    return [path for result in report.results for path in result.files
            if any(path.name.endswith(suffix) for suffix in RESULT_SUFFIXES)]
