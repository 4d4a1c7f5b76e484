"""The "Export timeline" control under the animatic: the storyboard as editable timelines for 剪映,
Premiere, Resolve and Final Cut (OTIO, FCP 7 XML, CMX 3600 EDL), from the animatic section's own format,
frame rate, music, ducking and dialogue. A thin handler over
:func:`engines.story.handoff.export_timeline`; the files go to ``renders/timeline/`` of the project and
come back as one zip to download.
"""

from __future__ import annotations

import shutil
from typing import Any

import gradio as gr

from lantern_studio.engines.story.handoff import TIMELINE_FORMATS, HandoffUnavailable, export_timeline
from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.job_progress import gr_progress
from lantern_studio.studio.tab_animatic import dialogue_input, music_input, shots_board

FORMAT_LABELS = {"jianying": "剪映 draft (JianyingPro)", "fcpxml": "FCP 7 XML (Premiere, Resolve)", "otio": "OpenTimelineIO",
                 "edl": "CMX 3600 EDL (video only)"}
#: The animatic section's controls this one reads, in the handler's argument order.
CONTROL_NAMES = ("format", "fps", "ducking", "music_source", "take", "music_file", "dialogue")


def export_for_editors(ctx: StudioContext, board: Any, formats: list[str], fmt: str, fps: Any, ducking_db: float,
                       source: str, take_id: str | None, upload: Any, dialogue_files: Any, *,
                       progress=None) -> tuple[str, str]:
    """Export the current storyboard's timeline; returns (zip path for download, status text).

    Raises ``gr.Error`` with the engine's message for bad input or a missing library.
    """
    from lantern_studio.engines.atomic import atomic_output_path
    from lantern_studio.studio.storyboard_voices import speak_for_animatic

    storyboard = shots_board(board)
    if not formats:
        raise gr.Error("Tick at least one format to export.")
    music = music_input(ctx, source, take_id, upload)
    dialogue = dialogue_input(dialogue_files)
    renders = ctx.project.renders_dir
    report = gr_progress(progress)
    # the lines spoken as the animatic speaks them (from the same voice cache), so the shots last as long
    voices = speak_for_animatic(ctx, storyboard, dialogue, report)
    try:
        made = export_timeline(storyboard, out_dir=renders, formats=formats, music=music, dialogue_audio=dialogue,
                               format=fmt, fps=int(fps), ducking_db=float(ducking_db), voices=voices,
                               progress=report)
    except (ValueError, HandoffUnavailable) as error:
        raise gr.Error(str(error)) from error
    except OSError as error:
        raise gr.Error(f"The timeline could not be written into {renders}: {error}") from error
    archive = renders / "timeline.zip"
    with atomic_output_path(archive) as partial:      # the temporary keeps ".zip": make_archive fills it
        shutil.make_archive(str(partial.with_suffix("")), "zip", root_dir=made.folder.parent,
                            base_dir=made.folder.name)
    written = ", ".join(FORMAT_LABELS[name] for name in made.files)
    status = (f"**Timeline exported** to `{made.folder}`: {written}. {made.clips} clips, {made.frames} frames at "
              f"{made.fps} fps ({made.duration_s:.2f} s), {made.dialogue_clips} dialogue clips, {made.subtitles} "
              "subtitles."
              + (" Copy the folder in `timeline/jianying/` into 剪映's drafts folder to open it there; it carries "
                 "its own media, so it opens on another computer too."
                 if "jianying" in made.files else ""))
    return str(archive), status


def build_handoff_section(ctx: StudioContext, storyboard_state: gr.State, controls: dict[str, Any]) -> None:
    """The Export timeline row; ``controls`` are the animatic section's components by :data:`CONTROL_NAMES`,
    and ``window_root``, the state naming this window's project, when the studio has one."""
    gr.Markdown("#### Export timeline\nThe same timeline as the MP4, as separate tracks you can keep editing: "
                "panels with their camera moves, dialogue, ducked music and subtitles.")
    with gr.Row():
        formats = gr.CheckboxGroup([(FORMAT_LABELS[name], name) for name in TIMELINE_FORMATS],
                                   value=list(TIMELINE_FORMATS), label="Formats", elem_id="handoff-formats")
        export_button = gr.Button("Export timeline", elem_id="handoff-export")
    status = gr.Markdown(elem_id="handoff-status")
    download = gr.File(label="Timeline (zip)", elem_id="handoff-download")

    window_root = controls.get("window_root")

    def handler(*values, progress=gr.Progress()):
        # the project of this browser window when the studio tracks one per window, else the studio's
        project = ctx.window(values[0]) if window_root is not None else ctx
        return export_for_editors(project, *values[window_root is not None:], progress=progress)

    inputs = [storyboard_state, formats, *(controls[name] for name in CONTROL_NAMES)]
    export_button.click(handler, inputs=[window_root, *inputs] if window_root is not None else inputs,
                        outputs=[download, status], concurrency_id=GPU_JOBS)
