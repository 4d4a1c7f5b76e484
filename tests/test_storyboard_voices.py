"""The Storyboard tab's Voices section: it builds, its table edits the bible's voices, and "Preview voice"
speaks a character's line (pitch measured with librosa's pYIN)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from lantern_studio.engines.story.bible import build_bible
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_testkit import median_f0_hz
from lantern_studio.studio.storyboard_voices import (apply_voice_table, board_voice_rows, build_voices_section,
                                                     fit_to_voices, neural_table, preview_voice)


def state() -> dict:
    board = Storyboard(title="", language="zh", shots=[
        Shot(number=1, duration_s=1.0, speaker="小雨", dialogue="奶奶，是我！", kind="dialogue"),
        Shot(number=2, duration_s=1.0, speaker="奶奶", dialogue="谁呀？门没锁。", kind="dialogue")],
        characters=build_bible(["小雨", "奶奶"]))
    return board.to_dict()


def preview_f0_hz(preview) -> float:
    """The pitch of a preview: Gradio's (sample_rate, int16 samples)."""
    sample_rate, samples = preview
    return median_f0_hz(samples.astype(np.float64) / 32768, sample_rate)


def test_section_builds_inside_blocks(ctx):
    with gr.Blocks() as demo:
        build_voices_section(ctx, gr.State(state()))
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"story-voices", "voice-preview", "voice-preview-audio", "voice-fit"} <= ids
    assert "voice-save" not in ids          # edits are saved as they are made


def test_the_table_sets_a_voice_and_the_preview_speaks_with_it(ctx):
    rows = board_voice_rows(state())
    assert [row[0] for row in rows] == ["小雨", "奶奶"] and rows[1][2] == "grandma"
    low = [row[:] for row in rows]
    low[0][2:4] = ["m3", 45]
    high = [row[:] for row in rows]
    high[0][2:4] = ["f5", 95]
    low_f0 = preview_f0_hz(preview_voice(ctx, state(), low, "小雨", ""))
    high_f0 = preview_f0_hz(preview_voice(ctx, state(), high, "小雨", ""))
    assert high_f0 > 1.5 * low_f0
    board = apply_voice_table(ctx, state(), high)
    assert (board.characters["小雨"].voice_name, board.characters["小雨"].voice_pitch) == ("f5", 95)


def test_bad_table_values_and_missing_engines_are_explained(ctx):
    rows = board_voice_rows(state())
    rows[0][2] = "nobody"
    with pytest.raises(ValueError, match="no voice 'nobody'"):
        apply_voice_table(ctx, state(), rows)
    rows = board_voice_rows(state())
    rows[0][1:3] = ["kokoro", "zf_xiaobei"]       # no Kokoro files in this models folder
    with pytest.raises(ValueError, match="engine 'kokoro' cannot be used"):
        apply_voice_table(ctx, state(), rows)
    with pytest.raises(ValueError, match="Choose a character"):
        preview_voice(ctx, state(), board_voice_rows(state()), None, "")


def test_timing_shots_to_the_voices_lengthens_short_dialogue_shots(ctx):
    rows = board_voice_rows(state())
    slow = [row[:] for row in rows]
    slow[1][4] = 0.6                                   # 奶奶 speaks slowly
    fast = fit_to_voices(ctx, state(), rows)
    slowed = fit_to_voices(ctx, state(), slow)
    assert all(shot.duration_s > 1.0 for shot in fast.shots)          # both lines take longer than 1 s
    assert slowed.shots[1].duration_s > fast.shots[1].duration_s + 0.5
    assert slowed.shots[0].duration_s == fast.shots[0].duration_s
    # the lines went through the project's voice cache
    assert len(list((ctx.project.renders_dir / "cache" / "voices").glob("*.npz"))) == 3


def test_kokoro_voices_are_cast_by_the_hints_and_previewed(ctx):
    from kokoro_tiny import build_tiny_kokoro

    with pytest.raises(ValueError, match="kokoro-v1.0.onnx"):
        neural_table(ctx, state())
    build_tiny_kokoro(ctx.settings.models_dir / "kokoro", {"zf_xiaobei": 240.0, "zf_xiaoni": 300.0,
                                                          "zm_yunxi": 110.0, "af_heart": 200.0})
    board = Storyboard.from_dict(state())
    board.characters["小雨"].description = "孙女，十岁"
    board.characters["爸爸"] = build_bible(["爸爸"])["爸爸"]
    rows = neural_table(ctx, board.to_dict())
    cast = {row[0]: row for row in rows}
    assert {row[1] for row in rows} == {"kokoro"} and {row[3] for row in rows} == {50}
    assert cast["奶奶"][2].startswith("zf_") and cast["小雨"][2].startswith("zf_")
    assert cast["奶奶"][2] != cast["小雨"][2] and cast["爸爸"][2] == "zm_yunxi"
    assert cast["奶奶"][4] < 1.0 < cast["小雨"][4]
    expected_hz = {"zf_xiaobei": 240.0, "zf_xiaoni": 300.0}[cast["奶奶"][2]]
    assert preview_f0_hz(preview_voice(ctx, board.to_dict(), rows, "奶奶", "")) == pytest.approx(expected_hz, rel=0.03)
