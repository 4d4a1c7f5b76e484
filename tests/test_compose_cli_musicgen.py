"""``python launch.py compose --engine musicgen``: tiny MusicGen checkpoints (audiocraft's builders, random
weights) in a models folder given with --models-dir. The printed loudness is a number and agrees with pyloudnorm
on the written WAV; --melody conditions a melody model on a file; --extend-to grows each take into a longer piece
whose parent is the take; wrong combinations are refused before any model is loaded."""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from lantern_studio.engines.cli import compose

ROOT = Path(__file__).resolve().parents[1]
PLAIN = "tiny-musicgen"
MELODY = "tiny-melody"
TAKE_LINE = re.compile(r"^(?P<name>.+?)  \(seed (?P<seed>\d+), (?P<duration>[\d.]+) s, (?P<lufs>-?\d+\.\d) LUFS, ",
                       re.MULTILINE)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    from lantern_studio.engines.music import musicgen_tiny

    folder = tmp_path_factory.mktemp("models")
    musicgen_tiny.save_checkpoint(folder / PLAIN, musicgen_tiny.lm_config(), musicgen_tiny.compression_config())
    musicgen_tiny.save_checkpoint(folder / MELODY, musicgen_tiny.lm_config(melody=True),
                                  musicgen_tiny.compression_config(), demucs_loader=musicgen_tiny.tiny_demucs)
    return folder


@pytest.fixture
def tiny_demucs_engine(monkeypatch):
    """The engine the CLI builds, with the tiny HTDemucs standing in for demucs's pretrained download."""
    from lantern_studio.engines.music import musicgen, musicgen_tiny

    monkeypatch.setattr(musicgen, "MusicGenEngine",
                        functools.partial(musicgen.MusicGenEngine, demucs_loader=musicgen_tiny.tiny_demucs))


def args_for(out: Path, **options) -> argparse.Namespace:
    values = {"engine": "musicgen", "preset": None, "prompt": "temple fair drums", "seed": 11, "duration": 2.0,
              "takes": 1, "model": PLAIN, "melody": None, "extend_to": None, "out": str(out)}
    values.update(options)
    return argparse.Namespace(**values)


def settings_for(models_dir: Path) -> argparse.Namespace:
    return argparse.Namespace(models_dir=models_dir, device="cpu")


def recipes(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*_recipe.json"))]


def mix_of(out: Path, recipe: dict) -> Path:
    return out / next(name for name in recipe["files"] if name.endswith("_mix.wav"))


def test_launch_compose_musicgen_prints_a_measured_loudness(models_dir, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "LANTERN_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "compose", "--engine", "musicgen",
                             "--models-dir", str(models_dir), "--model", PLAIN, "--prompt", "lantern parade",
                             "--duration", "2", "--seed", "5", "--out", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "nan" not in result.stdout.lower()
    match = TAKE_LINE.search(result.stdout)
    assert match, result.stdout
    assert int(match["seed"]) == 5 and float(match["duration"]) == pytest.approx(2.0, abs=0.05)
    [recipe] = recipes(out)
    audio, rate = sf.read(str(mix_of(out, recipe)), always_2d=True)
    assert audio.shape == (int(round(2.0 * rate)), 2)
    expected = pyloudnorm.Meter(rate).integrated_loudness(audio)
    assert float(match["lufs"]) == pytest.approx(expected, abs=0.15)          # printed with one decimal
    assert recipe["take"]["loudness_lufs"] == pytest.approx(expected, abs=0.1)
    assert recipe["model"] == PLAIN and recipe["seed"] == 5


def test_extend_to_makes_a_longer_child_of_each_take(models_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert compose.run(args_for(out, extend_to=3.5, seed=21), settings_for(models_dir)) == 0
    printed = capsys.readouterr().out
    by_relation = {r["relation"]: r for r in recipes(out)}
    assert set(by_relation) == {None, "extend"}
    parent, child = by_relation[None], by_relation["extend"]
    assert child["parent_id"] == parent["take"]["id"] and f"extend of {parent['take']['id']}" in printed
    for recipe, seconds in ((parent, 2.0), (child, 3.5)):
        info = sf.info(str(mix_of(out, recipe)))
        assert abs(info.frames / info.samplerate - seconds) < 0.11      # a tiny-model frame is 0.1 s
    assert len(TAKE_LINE.findall(printed)) == 2


def test_melody_file_conditions_a_melody_model(models_dir, tmp_path, capsys, tiny_demucs_engine):
    rate = 16_000
    t = np.arange(int(1.5 * rate)) / rate
    tune = np.repeat([440.0, 494.0, 554.0, 659.0], len(t) // 4 + 1)[: len(t)]      # a four-note phrase
    melody = (0.4 * np.sin(2 * np.pi * np.cumsum(tune) / rate)).astype(np.float32)
    melody_path = tmp_path / "hum.wav"
    sf.write(str(melody_path), melody, rate)
    out = tmp_path / "out"
    code = compose.run(args_for(out, model=MELODY, melody=str(melody_path)), settings_for(models_dir))
    printed = capsys.readouterr()
    assert code == 0, printed.err[-3000:]
    [recipe] = recipes(out)
    assert recipe["model"] == MELODY and recipe["params"].get("melody") is True
    assert "melody" in recipe["take"]["summary"]
    assert TAKE_LINE.search(printed.out)


def test_melody_on_a_model_without_one_is_refused(models_dir, tmp_path, capsys):
    melody_path = tmp_path / "hum.wav"
    sf.write(str(melody_path), np.zeros(8_000, np.float32) + 0.1, 8_000)
    out = tmp_path / "out"
    assert compose.run(args_for(out, melody=str(melody_path)), settings_for(models_dir)) == 2
    assert "does not take a melody" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("options, message", [
    ({"engine": "composer", "model": None, "melody": "x.wav"}, "--melody is for MusicGen"),
    ({"melody": "no-such-file.wav"}, "no such file"),
    ({"extend_to": 2.0}, "must be longer than"),
    ({"engine": "composer", "model": None, "extend_to": 60.0}, "--extend-to is a MusicGen action"),
])
def test_wrong_options_are_refused_before_any_model_loads(tmp_path, capsys, options, message):
    out = tmp_path / "out"
    assert compose.run(args_for(out, **options), settings_for(tmp_path / "no-models")) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
