"""``storyboard --voices auto|placeholder|none``: speak the script's lines for the animatic.

``auto`` (the default) speaks every line without a recorded ``--dialogue`` file in its character's voice
(engines.story.voices), fits each dialogue shot to its line, and has the animatic write the per-line WAVs
and the dialogue stem into the output folder's ``voices/``. ``placeholder`` keeps the stand-in tones;
``none`` leaves the lines silent. Every line and voice is checked before any line is spoken or written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

MODES = ("auto", "placeholder", "none")


def speak_for_cli(args: Any, board: Any, recorded: dict | None, settings: Any,
                  progress: Callable[[float, str], None]) -> tuple[Any, dict]:
    """The board (shots fitted to speech) and the clips by shot number; ValueError for bad input."""
    mode = getattr(args, "voices", "auto") or "auto"
    if mode not in MODES:
        raise ValueError(f"--voices {mode!r} is not one of {', '.join(MODES)}")
    # --no-video still speaks when --timeline asks for editor timelines, which carry the dialogue
    if mode != "auto" or (getattr(args, "no_video", False) and not getattr(args, "timeline", None)):
        return board, {}
    from lantern_studio.engines.story.voices import fit_shots_to_speech, speak_lines

    out = Path(args.out)
    spoken = speak_lines(board, cache_dir=out / "voices" / ".cache", models_dir=getattr(settings, "models_dir", None),
                         skip=set(recorded or {}), progress=progress)
    print(f"voiced {len(spoken.clips)} lines ({len(spoken.spoken)} spoken, {len(spoken.cached)} from the cache)",
          file=sys.stderr, flush=True)
    return fit_shots_to_speech(board, spoken.clips), spoken.clips


def animatic_options(args: Any, clips: dict) -> dict:
    """The render_animatic keywords for the chosen mode."""
    mode = getattr(args, "voices", "auto") or "auto"
    options: dict = {"placeholders": mode == "placeholder"}
    if clips:
        options.update(voices=clips, voices_dir=Path(args.out) / "voices")
    return options
