"""``python launch.py storyboard SCRIPT --out DIR``: a script file in, the shot list, panels, pages and
(when the animatic engine is installed and ``--no-video`` is not given) the animatic out.

Writes into DIR: ``shots.json``, ``shots.csv``, ``panels/shot_0001.png``..., ``pages/page_001.png``...,
``pages.pdf``, ``pages.cbz``, ``storyboard-sheet.pdf``, and ``animatic.mp4`` + ``animatic.srt``.
With ``--project`` the script and the storyboard are also saved into that project's ``story/`` folder.
"""

from __future__ import annotations

import importlib.util
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
    from engines.story.pages import PageSpec, export_storyboard
    from engines.story.panels import PrevizRenderer, render_panel
    from engines.story.script import ScriptError, parse_script, read_script_file
    from engines.story.shots import plan_shots

    script_path = Path(args.script)
    out = Path(args.out)
    fmt = getattr(args, "format", "9:16") or "9:16"
    if fmt not in PANEL_SIZES:
        print(f"error: format {fmt!r} is not one of {', '.join(PANEL_SIZES)}", file=sys.stderr)
        return 2
    try:
        text = read_script_file(script_path)
        script = parse_script(text)
        board = plan_shots(script)
    except (ScriptError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = script.dialogue_counts()
    print(f"{script_path.name}: {script.format} script ({script.language}), {len(script.scenes)} scenes, "
          f"{sum(counts.values())} dialogue lines, {len(board.characters)} characters, {len(board.shots)} shots, "
          f"{board.duration_s:.1f} s", flush=True)

    if getattr(args, "project", None):
        from engines.project import Project
        from engines.story.store import save_script, save_storyboard

        project = Project.open(args.project)
        save_script(project, text)
        save_storyboard(project, board)
        print(f"saved the script and storyboard into {project.story_dir}", flush=True)

    try:
        result = export_storyboard(board, out, spec=PageSpec(layout="2x2"), renderer=PrevizRenderer(),
                                   panel_size=PANEL_SIZES[fmt], progress=_progress("pages"))
    except OSError as error:
        print(f"error: could not write into {out}: {error}", file=sys.stderr)
        return 1
    print(f"wrote {result.shot_list_json}, {result.shot_list_csv}", flush=True)
    print(f"wrote {len(result.panels)} panels in {out / 'panels'}", flush=True)
    print(f"wrote {len(result.pages_png)} pages: {out / 'pages'}, {result.pdf}, {result.cbz}", flush=True)
    print(f"wrote the director's sheet {result.sheet_pdf}", flush=True)

    if getattr(args, "no_video", False):
        return 0
    if importlib.util.find_spec("engines.story.animatic") is None:
        print("video export is not available yet (engines.story.animatic is not installed); "
              "the pages above are complete", flush=True)
        return 0
    from engines.story import animatic

    music = getattr(args, "music", None)
    if music and not Path(music).is_file():
        print(f"error: music file {music} does not exist; pass an audio file or leave --music out", file=sys.stderr)
        return 2
    video = out / "animatic.mp4"
    try:
        made = animatic.render_animatic(
            board, out_path=video, srt_path=out / "animatic.srt", music=music, format=fmt,
            fps=int(getattr(args, "fps", 24) or 24),
            # clean panels: the animatic carries the dialogue as subtitles
            panels=lambda shot, storyboard, size: render_panel(shot, storyboard, size=size, lettering=False),
            progress=_progress("animatic"))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote the animatic {getattr(made, 'video_path', video)}", flush=True)
    return 0
