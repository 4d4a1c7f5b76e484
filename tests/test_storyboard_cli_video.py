"""`launch.py storyboard` end to end with video: music from a take id in the project, and a clear refusal."""

from __future__ import annotations

import argparse

import av
import pytest

from lantern_studio.engines.cli.storyboard import run
from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.composer import ComposerEngine
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project
from lantern_studio.engines.settings import Settings

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


def _args(script, out, music, project, dialogue=None):
    return argparse.Namespace(script=str(script), out=str(out), music=music, format="1:1", fps=24, no_video=False,
                              project=str(project.root), models_dir=None, device=None, dialogue=dialogue)


def test_music_can_be_a_take_id_and_the_video_carries_it(setup, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    script, project, take, settings = setup
    out = tmp_path / "out"
    line = tmp_path / "shot-1.wav"       # a recorded line for the first shot instead of its placeholder
    sf.write(line, (0.3 * np.sin(2 * np.pi * 1000 * np.arange(24_000) / 48_000)).astype(np.float32), 48_000)
    assert run(_args(script, out, take.id, project, [str(line)]), settings) == 0
    with av.open(str(out / "animatic.mp4")) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (1080, 1080)
        assert audio.codec_context.name == "aac"
        duration_s = float(container.duration) / av.time_base
    srt = (out / "animatic.srt").read_text(encoding="utf-8")
    assert "吃饺子" in srt
    assert duration_s > 3
    printed = capsys.readouterr().out
    assert "wrote the animatic" in printed and "recorded dialogue for shots 1" in printed


def test_unknown_music_is_refused_with_what_to_pass(setup, tmp_path, capsys):
    script, project, _, settings = setup
    assert run(_args(script, tmp_path / "out2", "no-such-take", project), settings) == 2
    err = capsys.readouterr().err
    assert "neither an audio file nor a take" in err
    assert not (tmp_path / "out2").exists()          # refused before anything was written


def test_dialogue_files_are_checked_before_anything_is_written(setup, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    script, project, take, settings = setup
    sf.write(tmp_path / "shot-99.wav", np.zeros(4800, np.float32), 48_000)
    assert run(_args(script, tmp_path / "out3", take.id, project, [str(tmp_path / "shot-99.wav")]), settings) == 2
    assert "--dialogue: there is no shot 99" in capsys.readouterr().err
    assert run(_args(script, tmp_path / "out3", take.id, project, [str(tmp_path / "line.wav")]), settings) == 2
    assert "no such file" in capsys.readouterr().err
    sf.write(tmp_path / "grandma.wav", np.zeros(4800, np.float32), 48_000)
    assert run(_args(script, tmp_path / "out3", take.id, project, [str(tmp_path / "grandma.wav")]), settings) == 2
    assert "does not say which shot" in capsys.readouterr().err
    assert not (tmp_path / "out3").exists()
