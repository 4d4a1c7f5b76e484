"""``python launch.py storyboard SCRIPT --out DIR``: a script file in, the shot list, panels, pages and
(when the animatic engine is installed and ``--no-video`` is not given) the animatic out.

Writes into DIR: ``shots.json``, ``shots.csv``, ``panels/shot_0001.png``..., ``pages/page_001.png``...,
``pages.pdf``, ``pages.cbz``, ``storyboard-sheet.pdf``, and ``animatic.mp4`` + ``animatic.srt``.
With ``--project`` the script and the storyboard are also saved into that project's ``story/`` folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

PANEL_SIZES = {"9:16": (1080, 1920), "16:9": (1920, 1080), "1:1": (1080, 1080)}


def _progress(stage: str):
    last = {"t": 0.0}

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last["t"] > 0.5:
            last["t"] = now
            print(f"[{stage}] {fraction * 100:5.1f}%  {message}", file=sys.stderr, flush=True)
    return report


def run(args: Any, settings: Any) -> int:
    """Run the storyboard command; returns the process exit status (0 ok, 2 bad input, 1 failure)."""
    from lantern_studio.engines.cli import checks
    from lantern_studio.engines.story.script import ScriptError

    script_path = Path(args.script)
    out = Path(args.out)
    fmt = getattr(args, "format", "9:16") or "9:16"
    if fmt not in PANEL_SIZES:
        print(f"error: format {fmt!r} is not one of {', '.join(PANEL_SIZES)}", file=sys.stderr)
        return 2
    try:
        out, text, script, board = _plan_board(script_path, out, args, settings)
    except (ScriptError, ValueError, FileNotFoundError, MemoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        timeline, music, dialogue, board, voices = _sound_inputs(board, args, settings)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = script.dialogue_counts()
    print(f"{script_path.name}: {script.format} script ({script.language}), {len(script.scenes)} scenes, "
          f"{sum(counts.values())} dialogue lines, {len(board.characters)} characters, {len(board.shots)} shots, "
          f"{board.duration_s:.1f} s", flush=True)
    if getattr(args, "project", None) and not _save_into_project(args.project, text, board):
        return 2
    checks.clean_output_leftovers([out, out / "panels", out / "pages", out / "timeline"])
    if not _export_pages(board, out, fmt):
        return 1
    if not getattr(args, "no_video", False):
        status = _render_animatic(board, out, fmt, music, dialogue, args, voices)
        if status:
            return status
    return _timeline(board, out, timeline, music, dialogue, fmt, args, voices)


def _plan_board(script_path: Path, out: Path, args: Any, settings: Any) -> tuple[Path, str, Any, Any]:
    """The checked output folder, the script's text, the script as read and its shot plan.

    The script's lines and the plan's shots are checked against the environment's limits and
    ``--max-script-lines`` / ``--max-shots``; up to 20 of the reader's warnings are printed.
    """
    from lantern_studio.engines.cli import checks
    from lantern_studio.engines.story.script import read_script_file
    from lantern_studio.engines.story.shots import plan_shots

    out = checks.check_output_folder(out)
    limits = checks.script_limits(args)
    text = limits.check_script_lines(read_script_file(script_path))
    script = _read_script(text, args, settings)
    board = plan_shots(script)
    limits.check_shots(len(board.shots))
    for warning in script.warnings[:20]:
        print(f"note: {warning}", file=sys.stderr)
    return out, text, script, board


def _sound_inputs(board: Any, args: Any, settings: Any) -> tuple[tuple[str, ...], Any, Any, Any, Any]:
    """``(timeline formats, music, dialogue files, board, voices)``, checked before anything is written so a
    wrong ``--music``, ``--dialogue`` or ``--timeline`` costs nothing.

    With ``--no-video`` and no timeline nothing will sound, so no music or dialogue is read. The board comes
    back with its shots fitted to the speech, and the voices are the spoken clips by shot number.
    """
    from lantern_studio.engines.cli import checks, storyboard_timeline
    from lantern_studio.engines.cli.storyboard_voices import speak_for_cli

    timeline = storyboard_timeline.formats_from_args(args)
    no_sound = getattr(args, "no_video", False) and not timeline
    music = None if no_sound else _music_source(getattr(args, "music", None), args, settings)
    if music is not None:
        checks.check_audio_input(music, option="--music")
    dialogue = None if no_sound else _dialogue_files(getattr(args, "dialogue", None))
    for line_file in (dialogue or {}).values():
        checks.check_audio_input(line_file, option="--dialogue")
    if dialogue:
        unknown = sorted(set(dialogue) - {shot.number for shot in board.shots})
        if unknown:
            raise ValueError(f"--dialogue: there is no shot {unknown[0]} (the shots are 1-{len(board.shots)}; "
                             f"see the shot list)")
    board, voices = speak_for_cli(args, board, dialogue, settings, _progress("voices"))
    return timeline, music, dialogue, board, voices


def _save_into_project(project_folder: Any, text: str, board: Any) -> bool:
    """Save the script and the storyboard into the project's story folder; False (reported) when the folder
    is not a project that opens."""
    from lantern_studio.engines.project import Project, ProjectError
    from lantern_studio.engines.story.store import save_script, save_storyboard

    try:
        project = Project.open(project_folder)
    except ProjectError as error:
        print(f"error: --project: {error}", file=sys.stderr)
        return False
    save_script(project, text)
    save_storyboard(project, board)
    print(f"saved the script and storyboard into {project.story_dir}", flush=True)
    return True


def _export_pages(board: Any, out: Path, fmt: str) -> bool:
    """Write the shot list, panels, pages, PDF, CBZ and director's sheet into ``out``; False (reported) when
    the folder cannot be written."""
    from lantern_studio.engines.story.pages import PageSpec, export_storyboard
    from lantern_studio.engines.story.panels import PrevizRenderer

    try:
        result = export_storyboard(board, out, spec=PageSpec(layout="2x2"), renderer=PrevizRenderer(),
                                   panel_size=PANEL_SIZES[fmt], progress=_progress("pages"))
    except OSError as error:
        print(f"error: could not write into {out}: {error}", file=sys.stderr)
        return False
    print(f"wrote {result.shot_list_json}, {result.shot_list_csv}", flush=True)
    print(f"wrote {len(result.panels)} panels in {out / 'panels'}", flush=True)
    print(f"wrote {len(result.pages_png)} pages: {out / 'pages'}, {result.pdf}, {result.cbz}", flush=True)
    print(f"wrote the director's sheet {result.sheet_pdf}", flush=True)
    return True


def _render_animatic(board: Any, out: Path, fmt: str, music: Any, dialogue: Any, args: Any, voices: Any) -> int:
    """Render ``animatic.mp4`` and ``animatic.srt`` into ``out``; 0 when written, else the exit status
    (2 for a refused option, 1 for a folder or disk that cannot take the file), reported."""
    from lantern_studio.engines.cli.storyboard_voices import animatic_options
    from lantern_studio.engines.story import animatic
    from lantern_studio.engines.story.panels import render_panel

    video = out / "animatic.mp4"
    try:
        made = animatic.render_animatic(
            board, out_path=video, srt_path=out / "animatic.srt", music=music, format=fmt,
            fps=int(getattr(args, "fps", 24) or 24), dialogue_audio=dialogue, **animatic_options(args, voices),
            # clean panels: the animatic carries the dialogue as subtitles
            panels=lambda shot, storyboard, size: render_panel(shot, storyboard, size=size, lettering=False),
            progress=_progress("animatic"))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:          # a full disk (encode.DiskFullError) or an unwritable folder
        print(f"error: the animatic could not be written: {error}", file=sys.stderr)
        return 1
    print(f"wrote the animatic {getattr(made, 'video_path', video)}", flush=True)
    return 0


def _read_script(text: str, args: Any, settings: Any) -> Any:
    """The script as the rules read it, or with ``--llm MODEL`` as a local model regroups the prose reader's
    shots (``--llm`` implies ``--from-prose``)."""
    from lantern_studio.engines.story.script import parse_script

    model = getattr(args, "llm", None)
    if not model:
        return parse_script(text, format="prose" if getattr(args, "from_prose", False) else "auto")
    from lantern_studio.engines.story.prose_llm import backend_name, refine_prose, resolve_llm

    path = resolve_llm(model, getattr(settings, "models_dir", None))
    print(f"refining the prose reader's shots with {path.name} ({backend_name()})", file=sys.stderr, flush=True)
    return refine_prose(text, path, progress=_progress("refine"))


def _timeline(board: Any, out: Path, formats: tuple[str, ...], music: Any, dialogue: Any, fmt: str, args: Any,
              voices: dict) -> int:
    """``--timeline``: the editor timelines in ``out/timeline/``, from the animatic's timeline and sound."""
    if not formats:
        return 0
    from lantern_studio.engines.cli import storyboard_timeline
    from lantern_studio.engines.cli.storyboard_voices import animatic_options

    return storyboard_timeline.export(board, out, formats, music=music, dialogue=dialogue, fmt=fmt,
                                      fps=int(getattr(args, "fps", 24) or 24), sound=animatic_options(args, voices),
                                      progress=_progress("timeline"))


def _dialogue_files(files: list[str] | None) -> dict[int, Path] | None:
    """``--dialogue`` files keyed by the shot number in their names; each must exist."""
    if not files:
        return None
    from lantern_studio.engines.story.soundtrack import dialogue_files_by_shot

    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise ValueError(f"--dialogue: no such file {missing[0]!r}")
    found = dialogue_files_by_shot(files)
    print("recorded dialogue for shots " + ", ".join(str(n) for n in sorted(found)), flush=True)
    return found


def _music_source(music: str | None, args: Any, settings: Any) -> Path | None:
    """``--music`` is an audio file, or the id of a take in the project (``--project`` or the default one)."""
    if not music:
        return None
    if Path(music).is_file():
        return Path(music)
    from lantern_studio.engines.music.takes import TakeStore
    from lantern_studio.engines.project import Project, ProjectError

    root = Path(getattr(args, "project", None) or settings.project_dir)
    try:
        store = TakeStore(Project.open(root, create=False))
        path = store.audio_path(music)
    except (ProjectError, KeyError, ValueError, OSError):
        path = None
    if path is None or not Path(path).is_file():
        raise ValueError(f"--music {music!r} is neither an audio file nor a take in the project {root}; pass an "
                         "audio file, a take id from the Music tab (with --project), or leave --music out")
    return Path(path)
