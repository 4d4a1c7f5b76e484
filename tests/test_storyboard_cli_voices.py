"""`launch.py storyboard --voices`: the lines spoken into OUT/voices/ (read back with soundfile), the shot
list timed to them, and a bad line refused before anything is written."""

from __future__ import annotations

import argparse
import json

import soundfile as sf

from lantern_studio.engines.cli.storyboard import run
from lantern_studio.engines.settings import Settings

SCRIPT = "第一场 内景 客厅 夜\n奶奶：过年好！快来吃饺子，饺子要凉了。\n小雨：来啦！\n"


def _args(script, out, voices):
    return argparse.Namespace(script=str(script), out=str(out), music=None, format="1:1", fps=24, no_video=False,
                              project=None, models_dir=None, device=None, dialogue=None, voices=voices,
                              timeline=None)


def _settings(tmp_path):
    return Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path / "home")})


def test_voices_auto_speaks_each_line_into_the_voices_folder(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    out = tmp_path / "out"
    assert run(_args(script, out, "auto"), _settings(tmp_path)) == 0
    names = sorted(p.name for p in (out / "voices").glob("*.wav"))
    assert names == ["dialogue-stem.wav", "shot-01_奶奶.wav", "shot-02_小雨.wav"]
    grandma, rate = sf.read(out / "voices" / "shot-01_奶奶.wav")
    shots = json.loads((out / "shots.json").read_text(encoding="utf-8"))["shots"]
    # the shot list carries the durations the speech needs: the longer line, a longer shot
    assert shots[0]["duration_s"] >= grandma.shape[0] / rate
    assert shots[0]["duration_s"] > shots[1]["duration_s"]


def test_voices_none_speaks_nothing_and_a_bad_line_writes_nothing(tmp_path, capsys):
    script = tmp_path / "s.txt"
    script.write_text(SCRIPT, encoding="utf-8")
    assert run(_args(script, tmp_path / "quiet", "none"), _settings(tmp_path)) == 0
    assert not (tmp_path / "quiet" / "voices").exists()
    long_line = tmp_path / "long.txt"
    long_line.write_text("第一场 内景 客厅 夜\n奶奶：" + "好" * 2000 + "\n", encoding="utf-8")
    assert run(_args(long_line, tmp_path / "bad", "auto"), _settings(tmp_path)) == 2
    assert "at most 1000" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
