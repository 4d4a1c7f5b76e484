"""The animatic section at the bottom of the Storyboard tab: format, frame rate, music, preview and export.

Thin handlers only: they turn the widgets into a call to :func:`engines.story.animatic.render_animatic`
and its result (or error) into the video player, the downloads and a status line.
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Any, Callable

import gradio as gr

from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.story.animatic import render_animatic
from lantern_studio.engines.story.encode import DiskFullError
from lantern_studio.engines.story.model import Storyboard
from lantern_studio.engines.story.timeline import FORMATS, FPS_CHOICES
from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.job_progress import StopFlags, gr_progress
from lantern_studio.studio.messages import NO_SHOTS

MUSIC_NONE = "No music"
MUSIC_TAKE = "A take from the Music tab"
MUSIC_FILE = "An audio file"

# one Stop flag per browser window for animatic renders
ANIMATIC_STOPS = StopFlags()


def take_choices(ctx: StudioContext) -> list[tuple[str, str]]:
    """(label, take id) for every finished take of the open project, newest first."""
    try:
        from lantern_studio.engines.music.takes import TakeStore
    except ImportError:
        return []
    try:
        takes = TakeStore(ctx.project).list()
    except Exception:   # a damaged takes folder must not break the Storyboard tab
        return []
    choices = []
    for take in takes:
        name = take.name or take.preset or (take.prompt[:40] if take.prompt else "") or take.engine
        choices.append((f"{name} · {take.duration_s:.0f} s · {take.id}", take.id))
    return choices


def music_input(ctx: StudioContext, source: str, take_id: str | None, upload: Any) -> str | None:
    """The music argument for the engine: a take's WAV path, an uploaded file's path, or None."""
    if source == MUSIC_TAKE:
        if not take_id:
            raise gr.Error("Pick a music take, or choose 'No music'. Make takes in the Music tab.")
        from lantern_studio.engines.music.takes import TakeStore

        try:
            return str(TakeStore(ctx.project).audio_path(take_id))
        except Exception as error:
            raise gr.Error(f"That take cannot be used: {error}") from error
    if source == MUSIC_FILE:
        path = getattr(upload, "name", upload)
        if not path:
            raise gr.Error("Upload a music file (WAV, FLAC, OGG or MP3), or choose 'No music'.")
        return str(path)
    return None


def dialogue_input(files: Any) -> dict | None:
    """Uploaded dialogue recordings keyed by shot number (from their file names), or None."""
    from lantern_studio.engines.story.soundtrack import dialogue_files_by_shot

    paths = [getattr(f, "name", f) for f in (files or []) if f]
    if not paths:
        return None
    try:
        return dialogue_files_by_shot(paths)
    except ValueError as error:
        raise gr.Error(str(error)) from error


def shots_board(board: Any) -> Storyboard:
    """The storyboard an export is given (the tab's state dict, or a ``Storyboard``); ``gr.Error`` when it has
    no shots yet."""
    if not board or not (board.get("shots") if isinstance(board, dict) else getattr(board, "shots", None)):
        raise gr.Error(NO_SHOTS)
    return board if isinstance(board, Storyboard) else Storyboard.from_dict(dict(board))


def export_animatic(ctx: StudioContext, board: Any, fmt: str, fps: Any, ducking_db: float, source: str,
                    take_id: str | None, upload: Any, make_gif: bool, preview: bool, *, dialogue_files: Any = None,
                    progress=None, cancel: threading.Event | None = None) -> tuple[str, list[str], str]:
    """Render the animatic for the current storyboard; returns (video path, download paths, status text).

    ``dialogue_files`` are recorded lines named after their shots (``shot-3.wav``); the other lines are
    spoken in their characters' voices (the Voices section). Raises ``gr.Error`` with the engine's message for bad input, a full disk or a
    cancelled render.
    """
    storyboard = shots_board(board)
    music = music_input(ctx, source, take_id, upload)
    dialogue = dialogue_input(dialogue_files)
    renders = ctx.project.renders_dir
    renders.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = f"animatic-{stamp}{'-preview' if preview else ''}"
    report = gr_progress(progress)
    from lantern_studio.studio.storyboard_voices import speak_for_animatic

    voices = speak_for_animatic(ctx, storyboard, dialogue, report, cancel)
    try:
        result = render_animatic(storyboard, out_path=renders / f"{stem}.mp4", music=music, format=fmt,
                                 fps=int(fps), preview=bool(preview), srt_path=renders / f"{stem}.srt",
                                 gif_path=renders / f"{stem}.gif" if make_gif else None,
                                 ducking_db=float(ducking_db), progress=report, cancel=cancel,
                                 cache_dir=renders / "cache" / "animatic", dialogue_audio=dialogue,
                                 voices=voices, voices_dir=renders / f"{stem}-voices" if voices else None)
    except Cancelled:
        raise gr.Error("Render cancelled; nothing was saved. Finished shots are kept, so the next render "
                       "is quicker.")
    except (ValueError, DiskFullError) as error:
        raise gr.Error(str(error)) from error
    downloads = [str(p) for p in (result.video_path, result.srt_path, result.gif_path, *result.voice_files)
                 if p is not None]
    status = (f"**{'Preview' if preview else 'Video'} ready:** `{result.video_path.name}` — "
              f"{result.width}×{result.height}, {result.fps} fps, {result.duration_s:.1f} s, "
              f"{result.cues} subtitles. Rendered {result.frames_rendered} frames, reused {result.frames_cached} "
              f"from the cache, in {result.render_s:.1f} s."
              + (f" Recorded dialogue for shot{'s' if len(dialogue) > 1 else ''} "
                 f"{', '.join(str(n) for n in sorted(dialogue))}." if dialogue else ""))
    return str(result.video_path), downloads, status


def on_source(ctx: StudioContext, root: str, choice: str) -> tuple:
    """The music source changed (or the window's project did): the take picker with that project's takes, or
    the file upload."""
    choices = take_choices(ctx.window(root)) if choice == MUSIC_TAKE else []
    return (gr.update(visible=choice == MUSIC_TAKE, choices=choices, value=choices[0][1] if choices else None),
            gr.update(visible=choice == MUSIC_FILE))


def export_handler(preview: bool) -> Callable:
    """The Quick preview (``preview``) or Render MP4 handler: the window's project, its Stop flag, gr.Progress."""
    def on_export(ctx: StudioContext, root: str, board, fmt_value, fps_value, ducking_value, source_value,
                  take_value, upload_value, gif_value, dialogue_value, request: gr.Request, progress=gr.Progress()):
        with ANIMATIC_STOPS.running(request) as cancel:
            return export_animatic(ctx.window(root), board, fmt_value, fps_value, ducking_value, source_value,
                                   take_value, upload_value, gif_value, preview, dialogue_files=dialogue_value,
                                   progress=progress, cancel=cancel)
    return on_export


def build_animatic_section(ctx: StudioContext, storyboard_state: gr.State) -> dict[str, Any]:
    """The animatic controls, placed by the Storyboard tab under its shot list and pages.

    ``storyboard_state`` holds the current storyboard as a dict (``Storyboard.to_dict()``). Returns the
    controls other exports of the same timeline read (``studio.storyboard_handoff.CONTROL_NAMES``).
    """
    gr.Markdown("### Animatic video\nThe shot list as a video: camera moves, transitions, burned-in "
                "subtitles (plus an SRT file) and music that dips under the dialogue.")
    with gr.Row():
        fmt = gr.Radio(list(FORMATS), value="9:16", label="Format", elem_id="animatic-format",
                       info="9:16 = 1080×1920 vertical, 16:9 = 1920×1080, 1:1 = 1080×1080")
        fps = gr.Radio(list(FPS_CHOICES), value=24, label="Frames per second", elem_id="animatic-fps")
        ducking = gr.Slider(-30, 0, value=-12, step=1, label="Music under dialogue (dB)",
                            elem_id="animatic-ducking", info="How far the music dips while someone speaks")
    with gr.Row():
        source = gr.Radio([MUSIC_NONE, MUSIC_TAKE, MUSIC_FILE], value=MUSIC_NONE, label="Music",
                          elem_id="animatic-music-source")
        take = gr.Dropdown(choices=[], value=None, label="Music take", visible=False, elem_id="animatic-take",
                           allow_custom_value=False)
        upload = gr.File(label="Music file", file_types=["audio"], visible=False, elem_id="animatic-music-file")
        make_gif = gr.Checkbox(value=False, label="Also make a GIF for sharing", elem_id="animatic-gif")
    dialogue_files = gr.File(label="Recorded dialogue (optional): one file per shot, named after it, e.g. "
                             "shot-3.wav; the other lines are spoken in their characters' voices",
                             file_count="multiple",
                             file_types=["audio"], elem_id="animatic-dialogue")
    with gr.Row():
        preview_button = gr.Button("Quick preview (low resolution)", elem_id="animatic-preview")
        render_button = gr.Button("Render MP4", variant="primary", elem_id="animatic-render")
        cancel_button = gr.Button("Cancel", variant="stop", elem_id="animatic-cancel")
    status = gr.Markdown(elem_id="animatic-status")
    with gr.Row():
        video = gr.Video(label="Animatic", elem_id="animatic-video", height=520)
        downloads = gr.File(label="Downloads: MP4, SRT, GIF, voices", file_count="multiple",
                            elem_id="animatic-downloads")

    window_root = ctx.project_state()     # the takes and renders of this window's project
    source.change(ctx.bind(on_source), inputs=[window_root, source], outputs=[take, upload])
    project_version = ctx.shared.get("project_version")
    if project_version is not None:      # another project in this window: its takes
        project_version.change(ctx.bind(on_source), inputs=[window_root, source], outputs=[take, upload],
                               api_name=False)
    inputs = [window_root, storyboard_state, fmt, fps, ducking, source, take, upload, make_gif, dialogue_files]
    outputs = [video, downloads, status]
    preview_button.click(ctx.bind(export_handler(True)), inputs=inputs, outputs=outputs, concurrency_id=GPU_JOBS,
                         show_progress_on=video)
    render_button.click(ctx.bind(export_handler(False)), inputs=inputs, outputs=outputs, concurrency_id=GPU_JOBS,
                        show_progress_on=video)
    cancel_button.click(ANIMATIC_STOPS.stop_handler("Stopping after the frame in progress…"), outputs=status,
                        queue=False)
    return {"format": fmt, "fps": fps, "ducking": ducking, "music_source": source, "take": take,
            "music_file": upload, "dialogue": dialogue_files, "window_root": window_root}
