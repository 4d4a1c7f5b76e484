"""``storyboard --timeline jianying,fcpxml,otio,edl``: the animatic's timeline as editable timelines in
``DIR/timeline/`` (see :mod:`engines.story.handoff`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable


def formats_from_args(args: Any) -> tuple[str, ...]:
    """The ``--timeline`` formats, checked before anything is written; ``()`` without the option.

    Raises
    ------
    ValueError
        An unknown format name, or a library the formats need is missing (with how to install it).
    """
    value = getattr(args, "timeline", None)
    if value is None:
        return ()
    from lantern_studio.engines.story.handoff import HandoffUnavailable, check_available, parse_formats

    formats = parse_formats(value)
    try:
        check_available(formats)
    except HandoffUnavailable as error:
        raise ValueError(str(error)) from error
    return formats


def export(board: Any, out: Path, formats: tuple[str, ...], *, music: Any, dialogue: Any, fmt: str, fps: int,
           sound: dict | None = None, progress: Callable[[float, str], None] | None = None) -> int:
    """Write the timelines; returns the exit status (0 ok, 2 bad input, 1 could not write).

    ``sound`` holds the animatic's ``placeholders`` and ``voices`` (``storyboard_voices.animatic_options``).
    """
    sound = sound or {}
    from lantern_studio.engines.story.handoff import HandoffUnavailable, export_timeline
    from lantern_studio.engines.story.panels import render_panel

    try:
        made = export_timeline(
            board, out_dir=out, formats=formats, music=music, dialogue_audio=dialogue, format=fmt, fps=fps,
            placeholders=sound.get("placeholders", True), voices=sound.get("voices"),
            # the animatic's clean panels: the editor gets the dialogue as a subtitle track
            panels=lambda shot, storyboard, size: render_panel(shot, storyboard, size=size, lettering=False),
            progress=progress)
    except (ValueError, HandoffUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: the timeline could not be written into {out}: {error}", file=sys.stderr)
        return 1
    print(f"wrote the editor timeline {made.folder}: {made.clips} clips, {made.frames} frames at {made.fps} fps "
          f"({made.duration_s:.2f} s), {made.dialogue_clips} dialogue clips, {made.subtitles} subtitles", flush=True)
    for name, path in made.files.items():
        print(f"  {name}: {path}", flush=True)
    return 0
