"""The Storyboard tab's Voices step: each character's voice (engine, voice, pitch, speed) as an editable table
saved as it is edited, a "Preview voice" button, and the spoken lines the animatic uses.

Handlers are module-level functions of the studio context and their inputs; they only call engines.speech and
engines.story.voices, and users' mistakes raise ``UserInputError`` (a toast and a status line).
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
import numpy as np

from lantern_studio.engines.errors import UserInputError
from lantern_studio.engines.speech.base import detect_language
from lantern_studio.engines.speech.casting import NARRATOR_VOICE, VOICE_HEADERS, parse_voice_rows, voice_rows
from lantern_studio.engines.speech.espeak import VARIANTS
from lantern_studio.engines.story import store
from lantern_studio.engines.story.bible import assign_voices, voice_of
from lantern_studio.engines.story.model import Storyboard
from lantern_studio.studio.context import StudioContext
from lantern_studio.studio.dataframes import dataframe_rows
from lantern_studio.studio.messages import bind

PREVIEW_LINES = {"zh": "新年快乐，灯笼亮起来啦！", "en": "Happy Lantern Festival, everyone!"}


def usable_voices(ctx: StudioContext, language: str) -> dict[str, tuple[str, ...]]:
    """Engine name -> its voices, for the engines that can run on this machine."""
    from lantern_studio.engines.speech.espeak import EspeakEngine
    from lantern_studio.engines.speech.kokoro import shared_engine

    found: dict[str, tuple[str, ...]] = {}
    floor = EspeakEngine()
    if floor.available().ready:
        found["espeak"] = floor.voices(language)
    neural = shared_engine(ctx.settings.models_dir)
    if neural.available().ready:
        try:
            found["kokoro"] = neural.voices(language)
        except ValueError:
            pass            # damaged files: the engine's own message appears when a line is spoken with it
    return found


def board_voice_rows(state: Any) -> list[list[Any]]:
    """The voice table for a storyboard dict (characters without a voice get their default)."""
    if not state:
        return []
    board = Storyboard.from_dict(state)
    return voice_rows({name: voice_of(c) for name, c in assign_voices(board.characters).items()})


def apply_voice_table(ctx: StudioContext, state: Any, rows: Any) -> Storyboard:
    """The storyboard (``state``: a ``Storyboard``, changed in place, or its dict) with the table's voices;
    ValueError naming the character and field that is wrong."""
    board = state if isinstance(state, Storyboard) else Storyboard.from_dict(state)
    voices = parse_voice_rows(dataframe_rows(rows), known=board.characters,
                              engine_voices=usable_voices(ctx, board.language if board.language in ("zh", "en") else "zh"))
    for name, spec in voices.items():
        character = board.characters[name]
        character.voice_engine, character.voice_name = spec.engine, spec.voice
        character.voice_pitch, character.voice_speed = spec.pitch, spec.speed
    return board


def neural_table(ctx: StudioContext, state: Any) -> list[list[Any]]:
    """The voice table with every character on a distinct Kokoro voice; ValueError when Kokoro cannot run."""
    from lantern_studio.engines.speech.casting import neural_voices
    from lantern_studio.engines.speech.kokoro import shared_engine

    if not state or not state.get("characters"):
        raise ValueError("There are no characters yet: parse a script with dialogue first")
    board = Storyboard.from_dict(state)
    engine = shared_engine(ctx.settings.models_dir)
    status = engine.available()
    if not status.ready:
        raise ValueError(status.message)
    language = board.language if board.language in ("zh", "en") else "zh"
    cast = neural_voices([(c.name, c.description) for c in board.characters.values()], engine.voices(language))
    return voice_rows(cast)


def preview_voice(ctx: StudioContext, state: Any, rows: Any, who: str | None, text: str) -> tuple[int, np.ndarray]:
    """``(sample_rate, int16 samples)`` of ``who`` saying ``text`` (or their first line, or a greeting)."""
    from lantern_studio.engines.story.voices import line_voice, make_engine

    if not state or not state.get("characters"):
        raise ValueError("There are no characters yet: parse a script with dialogue first")
    board = apply_voice_table(ctx, state, rows)
    if not who or who not in board.characters:
        raise ValueError("Choose a character to preview")
    line = (text or "").strip() or next((s.dialogue for s in board.shots if s.speaker == who and s.dialogue.strip()),
                                        "")
    language = detect_language(line, default=board.language if board.language in ("zh", "en") else "zh")
    line = line or PREVIEW_LINES[language]
    spec = line_voice(board, who)
    clip = make_engine(spec.engine, models_dir=ctx.settings.models_dir).speak(line, voice=spec, language=language)
    peak = float(np.max(np.abs(clip.audio))) or 1.0
    return clip.sample_rate, np.round(clip.audio / peak * 0.9 * 32767).astype(np.int16)


def speak_for_animatic(ctx: StudioContext, board: Storyboard, recorded: dict | None, progress=None,
                       cancel: threading.Event | None = None) -> dict:
    """The animatic's spoken lines (shot number -> clip), cached in the project's renders; gr.Error on bad input."""
    from lantern_studio.engines.jobs import Cancelled
    from lantern_studio.engines.story.voices import speak_lines

    try:
        spoken = speak_lines(board, cache_dir=ctx.project.renders_dir / "cache" / "voices",
                             models_dir=ctx.settings.models_dir, skip=set(recorded or {}), progress=progress,
                             cancel=cancel)
    except Cancelled as error:
        raise gr.Error(f"Render cancelled while speaking the lines; the {len(error.partial)} finished lines are "
                       "kept, so the next render starts after them.") from None
    except ValueError as error:
        raise gr.Error(str(error)) from None
    return spoken.clips


def fit_to_voices(ctx: StudioContext, state: Any, rows: Any, progress=None) -> Storyboard:
    """The storyboard with the table's voices and every dialogue shot lasting at least its spoken line plus a
    breath (lines spoken through the project's voice cache)."""
    from lantern_studio.engines.story.voices import fit_shots_to_speech

    board = apply_voice_table(ctx, state, rows)
    return fit_shots_to_speech(board, speak_for_animatic(ctx, board, None, progress))


def on_board(state: Any) -> tuple:
    """The storyboard changed (a parse, an edit, a project switch): its voice table and character picker."""
    names = list((state or {}).get("characters") and Storyboard.from_dict(state).characters or [])
    return board_voice_rows(state), gr.update(choices=names, value=names[0] if names else None)


def on_preview(ctx: StudioContext, state: Any, rows: Any, name: str | None, text: str) -> tuple[int, np.ndarray]:
    try:
        return preview_voice(ctx, state, rows, name, text)
    except ValueError as error:
        raise UserInputError(str(error)) from None


def on_voices_edited(ctx: StudioContext, root: str, state: Any, rows: Any) -> tuple:
    """A voice-table cell was edited: saved at once, through the tab's one save model (state, voices status,
    save line, Reload theirs / Keep mine row)."""
    from lantern_studio.studio.tab_storyboard import _saved_outputs, save_edit

    new_state, line, conflict = _saved_outputs(save_edit(ctx.project_at(root), state,
                                                         lambda board: apply_voice_table(ctx, board, rows)))
    return new_state, line, line, conflict


def on_neural(ctx: StudioContext, root: str, state: Any) -> tuple:
    """Every character on a distinct Kokoro voice, saved: (voice rows, state, status, save line, conflict row)."""
    try:
        rows = neural_table(ctx.window(root), state)
    except ValueError as error:
        raise UserInputError(str(error)) from None
    return (rows, *on_voices_edited(ctx, root, state, rows))


def on_fit(ctx: StudioContext, root: str, state: Any, rows: Any, progress=gr.Progress()) -> tuple:
    """Time each dialogue shot to its spoken line: (state, shot rows, status)."""
    from lantern_studio.engines.story.shots import shots_to_rows
    from lantern_studio.studio.job_progress import gr_progress
    from lantern_studio.studio.tab_storyboard import _board

    before = _board(state).duration_s
    try:
        wctx = ctx.window(root)
        board = fit_to_voices(wctx, state, rows, gr_progress(progress))
        store.save_storyboard(wctx.project, board)
    except ValueError as error:
        raise UserInputError(str(error)) from None
    message = (f"Each dialogue shot now lasts at least its spoken line plus a breath: {before:.1f} s → "
               f"{board.duration_s:.1f} s.")
    return board.to_dict(), shots_to_rows(board), message


def build_voices_section(ctx: StudioContext, storyboard_state: gr.State, shots_table: Any = None,
                         save_bar: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Voices controls (the Storyboard tab's Voices step). ``shots_table`` is the shot list, refreshed
    when the shots are timed to the voices; ``save_bar`` the tab's save line and conflict row ("line",
    "conflict"), which a voice edit updates like any other edit."""
    from lantern_studio.studio.tab_storyboard import board_of

    window_root = ctx.project_state()
    board = board_of(ctx.project)
    initial = board.to_dict() if board else {}
    names = list(board.characters) if board else []
    gr.Markdown("Every line is spoken in its character's voice in the animatic (recorded files still win); each "
                "edit is saved as you make it. eSpeak NG voices need no weights; Kokoro voices appear when its "
                f"files are in the models folder. The narrator (旁白/VO) speaks with `{NARRATOR_VOICE.voice}`, "
                f"pitch {NARRATOR_VOICE.pitch}. Pitch: 0-100 (50 = the voice's own); speed: 0.5-2.0. eSpeak NG "
                f"voices: {', '.join(VARIANTS)}.")
    table = gr.Dataframe(headers=VOICE_HEADERS, datatype=["str", "str", "str", "number", "number"], type="array",
                         value=board_voice_rows(initial), interactive=True, label="Voices",
                         elem_id="story-voices")
    with gr.Row():
        who = gr.Dropdown(choices=names, value=names[0] if names else None, label="Character",
                          elem_id="voice-preview-who", allow_custom_value=False)
        line = gr.Textbox(label="Line to preview", placeholder="empty: the character's first line",
                          elem_id="voice-preview-line")
        preview = gr.Button("Preview voice", elem_id="voice-preview")
        fit = gr.Button("Time dialogue shots to the voices", elem_id="voice-fit")
        neural = gr.Button("Use Kokoro voices (local weights)", elem_id="voice-neural")
    audio = gr.Audio(label="Voice preview", type="numpy", interactive=False, elem_id="voice-preview-audio")
    status = gr.Markdown(elem_id="voice-status")

    bar = [save_bar["line"], save_bar["conflict"]] if save_bar else [gr.State(), gr.State()]
    fit_outputs = [storyboard_state, shots_table if shots_table is not None else gr.State(), status]
    fit.click(bind(ctx, on_fit, 3, status=2), inputs=[window_root, storyboard_state, table], outputs=fit_outputs,
              show_progress_on=table)
    storyboard_state.change(on_board, inputs=storyboard_state, outputs=[table, who], api_name=False)
    preview.click(bind(ctx, on_preview, 1), inputs=[storyboard_state, table, who, line], outputs=audio)
    neural.click(bind(ctx, on_neural, 5, status=2), inputs=[window_root, storyboard_state],
                 outputs=[table, storyboard_state, status, *bar])
    table.input(bind(ctx, on_voices_edited), inputs=[window_root, storyboard_state, table],
                outputs=[storyboard_state, status, *bar], show_progress="hidden")
    return {"voices": table, "voice_preview": preview, "voice_audio": audio}
