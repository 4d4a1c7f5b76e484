"""Exporting takes (WAV 24-bit, FLAC, MP3, MIDI, recipe) and the ``compose`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from lantern_studio.engines.audio.io import read_audio
from lantern_studio.engines.cli.compose import run
from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.composer import ComposerEngine, request_from_recipe
from lantern_studio.engines.music.export import export_take

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def take():
    return ComposerEngine().generate(GenerationRequest(preset="dragon-boat", seed=21, duration_s=8.0))[0]


def test_export_writes_every_stem_and_the_mix_in_each_format_named_by_take_and_seed(take, tmp_path):
    files = export_take(take, tmp_path)
    names = {p.name for p in files}
    base = "dragon-boat-s21"
    assert {f"{base}_mix.wav", f"{base}_mix.flac", f"{base}_mix.mp3", f"{base}.mid", f"{base}_recipe.json"} <= names
    for stem in take.stems:
        assert {f"{base}_stem-{stem}.wav", f"{base}_stem-{stem}.flac"} <= names
        assert f"{base}_stem-{stem}.mp3" not in names
    assert sf.info(str(tmp_path / f"{base}_mix.wav")).subtype == "PCM_24"
    assert sf.info(str(tmp_path / f"{base}_stem-drum.flac")).subtype == "PCM_24"
    audio, rate = read_audio(tmp_path / f"{base}_mix.flac")
    assert rate == take.sample_rate and np.max(np.abs(audio - take.audio)) < 2.0 ** -22
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial-")]


def test_exported_midi_opens_with_mido_and_recipe_reproduces_the_take(take, tmp_path):
    export_take(take, tmp_path, formats=("wav",), stems=False)
    mid = mido.MidiFile(tmp_path / "dragon-boat-s21.mid")
    assert len(mid.tracks) == 1 + len(take.stems)
    recipe = json.loads((tmp_path / "dragon-boat-s21_recipe.json").read_text(encoding="utf-8"))
    assert recipe["engine"] == "composer" and recipe["seed"] == 21 and recipe["preset"] == "dragon-boat"
    assert "dragon-boat-s21_mix.wav" in recipe["files"]
    again = ComposerEngine().generate(request_from_recipe(recipe))[0]
    assert np.array_equal(again.audio, take.audio) and again.midi == take.midi


def test_export_refuses_unknown_formats(take, tmp_path):
    with pytest.raises(ValueError, match="export formats"):
        export_take(take, tmp_path, formats=("ogg",))


def compose_args(**kw) -> Namespace:
    base = dict(engine="composer", preset=None, prompt=None, seed=None, duration=None, takes=1, model=None,
                melody=None, out=None)
    base.update(kw)
    return Namespace(**base)


def test_cli_compose_writes_files_and_prints_what_it_made(tmp_path, capsys):
    code = run(compose_args(preset="lion-dance", seed=7, duration=8.0, out=str(tmp_path)), settings=None)
    out = capsys.readouterr().out
    assert code == 0
    assert "lion-dance s7" in out and "Lion Dance" in out and "wrote" in out
    assert (tmp_path / "lion-dance-s7_mix.mp3").exists() and (tmp_path / "lion-dance-s7.mid").exists()


def test_cli_prompt_shows_what_was_understood(tmp_path, capsys):
    code = run(compose_args(prompt="舞狮，越来越快", seed=3, duration=8.0, out=str(tmp_path)), settings=None)
    out = capsys.readouterr().out
    assert code == 0 and "understood: 舞狮 -> preset Lion Dance" in out


@pytest.mark.parametrize("kw,message", [
    (dict(preset="polka"), "unknown preset 'polka'"),
    (dict(preset="lion-dance", duration=5000.0), "duration 5000 s is outside"),
    (dict(preset="mid-autumn", duration=1.0), "1 s is too short"),
    (dict(prompt="  "), "--prompt is empty"),
    (dict(preset="lion-dance", takes=20), "number of takes 20"),
])
def test_cli_bad_input_exits_2_with_a_message(tmp_path, capsys, kw, message):
    code = run(compose_args(out=str(tmp_path), **kw), settings=None)
    assert code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_musicgen_without_the_engine_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lantern_studio.engines.music.musicgen", None)      # as in a build without it
    code = run(compose_args(engine="musicgen", preset="lion-dance", out=str(tmp_path)), settings=None)
    assert code == 2 and "MusicGen engine is not available" in capsys.readouterr().err


def test_launch_py_compose_end_to_end(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "compose", "--preset", "mid-autumn", "--seed",
                             "5", "--duration", "12", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={"LANTERN_HOME": str(tmp_path / "home"),
                                                         "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mid-autumn s5" in result.stdout
    assert (tmp_path / "mid-autumn-s5_recipe.json").exists()
    # another process, the same recipe and seed: byte-identical MIDI and audio files
    here = ComposerEngine().generate(GenerationRequest(preset="mid-autumn", seed=5, duration_s=12.0))[0]
    export_take(here, tmp_path / "here", formats=("wav",))
    for name in ("mid-autumn-s5.mid", "mid-autumn-s5_mix.wav", "mid-autumn-s5_stem-melody.wav"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / name).read_bytes(), name
