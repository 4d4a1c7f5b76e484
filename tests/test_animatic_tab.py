"""The Storyboard tab's animatic section: it builds, lists the project's takes, and its export handler
renders a preview with a take's music into the project's renders folder (decoded with PyAV)."""

from __future__ import annotations

import av
import gradio as gr
import numpy as np
import pytest

from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.voices import fit_shots_to_speech, speak_lines
from lantern_studio.studio.tab_animatic import MUSIC_NONE, MUSIC_TAKE, build_animatic_section, export_animatic, take_choices


def storyboard_dict() -> dict:
    board = Storyboard(title="", language="zh", shots=[
        Shot(number=1, move="push_in", duration_s=0.5, speaker="小雨", dialogue="奶奶，是我！"),
        Shot(number=2, move="static", duration_s=0.5, transition="dissolve", action="奶奶转过身")])
    return board.to_dict()


def test_section_builds_inside_blocks(ctx):
    with gr.Blocks() as demo:
        state = gr.State(storyboard_dict())
        build_animatic_section(ctx, state)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"animatic-render", "animatic-preview", "animatic-cancel", "animatic-video"} <= ids


def test_export_with_a_take_writes_video_and_srt_into_the_project(ctx):
    rate = 48_000
    t = np.arange(rate) / rate
    audio = np.stack([0.2 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1).astype(np.float32)
    store = TakeStore(ctx.project)
    take = Take(engine="composer", seed=1, sample_rate=rate, audio=audio, name="lantern tune")
    store.save(take)
    choices = take_choices(ctx)
    assert choices == [(choices[0][0], take.id)] and "lantern tune" in choices[0][0]

    calls = []
    video, downloads, status = export_animatic(ctx, storyboard_dict(), "9:16", 24, -12, MUSIC_TAKE, take.id, None,
                                               False, True, progress=lambda f, desc="": calls.append(f))
    assert video.endswith("-preview.mp4") and video.startswith(str(ctx.project.renders_dir))
    # the line of shot 1 is spoken in 小雨's voice: its WAV and the dialogue stem come with the video
    assert [p.rsplit(".", 1)[1] for p in downloads] == ["mp4", "srt", "wav", "wav"]
    assert "Preview ready" in status and calls[-1] == 1.0
    with av.open(video) as container:
        assert container.streams.video[0].codec_context.width == 360
        assert len(container.streams.audio) == 1
        # shot 1 lasts its spoken line plus a breath, shot 2 its 0.5 s, then the 2 s end card
        board = Storyboard.from_dict(storyboard_dict())
        spoken_s = fit_shots_to_speech(board, speak_lines(board).clips).shots[0].duration_s
        assert spoken_s > 0.5
        assert sum(1 for _ in container.decode(video=0)) == round(spoken_s * 24) + 12 + 48


def test_export_without_shots_or_take_says_what_to_do(ctx):
    with pytest.raises(gr.Error, match="no shot list"):
        export_animatic(ctx, {"shots": []}, "9:16", 24, -12, MUSIC_NONE, None, None, False, True)
    with pytest.raises(gr.Error, match="Pick a music take"):
        export_animatic(ctx, storyboard_dict(), "9:16", 24, -12, MUSIC_TAKE, None, None, False, True)


def test_export_with_a_recorded_line_puts_it_in_the_video(ctx, tmp_path):
    import soundfile as sf

    rate = 48_000
    t = np.arange(int(0.5 * rate)) / rate
    sf.write(tmp_path / "shot-1.wav", (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), rate)
    video, _downloads, status = export_animatic(ctx, storyboard_dict(), "9:16", 24, -12, MUSIC_NONE, None, None,
                                                False, True, dialogue_files=[str(tmp_path / "shot-1.wav")])
    assert "Recorded dialogue for shot 1." in status
    with av.open(video) as container:                      # FFmpeg's AAC decoder is the oracle
        stream = container.streams.audio[0]
        decoded = np.concatenate([f.to_ndarray().reshape(-1, f.samples).mean(axis=0)
                                  for f in container.decode(stream)])
        sr = stream.codec_context.sample_rate
    line = decoded[int(0.2 * sr):int(0.45 * sr)]            # shot 1 is 0-0.5 s; its line starts at 0.15 s
    spectrum = np.abs(np.fft.rfft(line * np.hanning(line.size)))
    assert np.fft.rfftfreq(line.size, 1 / sr)[np.argmax(spectrum)] == pytest.approx(1000.0, abs=10.0)


def test_export_with_badly_named_or_unknown_dialogue_says_what_to_do(ctx, tmp_path):
    with pytest.raises(gr.Error, match="does not say which shot"):
        export_animatic(ctx, storyboard_dict(), "9:16", 24, -12, MUSIC_NONE, None, None, False, True,
                        dialogue_files=[str(tmp_path / "grandma.wav")])
    import soundfile as sf

    sf.write(tmp_path / "shot-7.wav", np.zeros(4800, np.float32), 48_000)
    with pytest.raises(gr.Error, match=r"shot\(s\) \[7\], which are not in the storyboard"):
        export_animatic(ctx, storyboard_dict(), "9:16", 24, -12, MUSIC_NONE, None, None, False, True,
                        dialogue_files=[str(tmp_path / "shot-7.wav")])
