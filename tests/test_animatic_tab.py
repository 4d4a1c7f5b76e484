"""The Storyboard tab's animatic section: it builds, lists the project's takes, and its export handler
renders a preview with a take's music into the project's renders folder (decoded with PyAV)."""

from __future__ import annotations

import av
import gradio as gr
import numpy as np
import pytest

from engines.music.base import Take
from engines.music.takes import TakeStore
from engines.project import Project
from engines.settings import Settings
from engines.story.model import Shot, Storyboard
from studio.context import StudioContext
from studio.tab_animatic import MUSIC_NONE, MUSIC_TAKE, build_animatic_section, export_animatic, take_choices


@pytest.fixture
def ctx(tmp_path):
    settings = Settings(home=tmp_path / "home", project_dir=tmp_path / "project", models_dir=tmp_path / "models")
    return StudioContext(settings=settings, project=Project.open(tmp_path / "project"))


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
    assert [p.rsplit(".", 1)[1] for p in downloads] == ["mp4", "srt"]
    assert "Preview ready" in status and calls[-1] == 1.0
    with av.open(video) as container:
        assert container.streams.video[0].codec_context.width == 360
        assert len(container.streams.audio) == 1
        assert sum(1 for _ in container.decode(video=0)) == 24 + 48     # two 0.5 s shots and the 2 s end card


def test_export_without_shots_or_take_says_what_to_do(ctx):
    with pytest.raises(gr.Error, match="no shot list"):
        export_animatic(ctx, {"shots": []}, "9:16", 24, -12, MUSIC_NONE, None, None, False, True)
    with pytest.raises(gr.Error, match="Pick a music take"):
        export_animatic(ctx, storyboard_dict(), "9:16", 24, -12, MUSIC_TAKE, None, None, False, True)
