"""`launch.py storyboard` end to end with video: music from a take id in the project, and a clear refusal."""

from __future__ import annotations

import argparse

import av
import pytest

from engines.cli.storyboard import run
from engines.music.base import GenerationRequest
from engines.music.composer import ComposerEngine
from engines.music.takes import TakeStore
from engines.project import Project
from engines.settings import Settings

SCRIPT = "第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n"


@pytest.fixture
def setup(tmp_path):
    script = tmp_path / "short.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    project = Project.open(tmp_path / "proj")
    take = ComposerEngine().generate(GenerationRequest(preset="pentatonic-pop", duration_s=6, seed=3))[0]
    TakeStore(project).save(take)
    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path / "home")})
    return script, project, take, settings


def _args(script, out, music, project):
    return argparse.Namespace(script=str(script), out=str(out), music=music, format="1:1", fps=24, no_video=False,
                              project=str(project.root), models_dir=None, device=None)


def test_music_can_be_a_take_id_and_the_video_carries_it(setup, tmp_path, capsys):
    script, project, take, settings = setup
    out = tmp_path / "out"
    assert run(_args(script, out, take.id, project), settings) == 0
    with av.open(str(out / "animatic.mp4")) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (1080, 1080)
        assert audio.codec_context.name == "aac"
        duration_s = float(container.duration) / av.time_base
    srt = (out / "animatic.srt").read_text(encoding="utf-8")
    assert "吃饺子" in srt
    assert duration_s > 3
    assert "wrote the animatic" in capsys.readouterr().out


def test_unknown_music_is_refused_with_what_to_pass(setup, tmp_path, capsys):
    script, project, _, settings = setup
    assert run(_args(script, tmp_path / "out2", "no-such-take", project), settings) == 2
    err = capsys.readouterr().err
    assert "neither an audio file nor a take" in err
    assert not (tmp_path / "out2").exists()          # refused before anything was written
