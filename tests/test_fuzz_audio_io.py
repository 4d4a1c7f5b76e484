"""Fuzzing the audio importer (engines/audio/io.py ``read_audio``) under hypothesis.

Inputs are real files written by independent encoders (soundfile for WAV/FLAC/OGG, ffmpeg through pydub for
MP3) that hypothesis then truncates, bit-flips, splices or replaces with random bytes, saved under any of the
importer's suffixes. Property: ``read_audio`` returns finite float32 ``(frames, channels)`` at a positive rate,
or refuses with ``AudioFileError``/``ValueError`` — never another exception, never a hang.
``LANTERN_FUZZ_SCALE`` multiplies the budget; MP3 cases spawn ffmpeg and get a smaller share.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

audio_io = pytest.importorskip("lantern_studio.engines.audio.io")

SCALE = max(1, int(os.environ.get("LANTERN_FUZZ_SCALE", "1")))
RANDOMIZE = bool(os.environ.get("LANTERN_FUZZ_RANDOM"))
FAST = settings(max_examples=150 * SCALE, deadline=None, derandomize=not RANDOMIZE,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=15 * SCALE, deadline=None, derandomize=not RANDOMIZE,
                suppress_health_check=[HealthCheck.too_slow])


def _seed_files() -> dict[str, bytes]:
    t = np.arange(2_205) / 22_050
    tone = (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    stereo = np.stack([tone, -tone], axis=1)
    files = {}
    for key, fmt, subtype, data in (("wav16", "WAV", "PCM_16", tone), ("wavf", "WAV", "FLOAT", stereo),
                                     ("wav24", "WAV", "PCM_24", stereo), ("flac", "FLAC", "PCM_16", stereo),
                                     ("ogg", "OGG", "VORBIS", tone)):
        buffer = io.BytesIO()
        sf.write(buffer, data, 22_050, format=fmt, subtype=subtype)
        files[key] = buffer.getvalue()
    return files


SEEDS = _seed_files()


def _mp3_seed() -> bytes:
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "seed.mp3"
        t = np.arange(4_410) / 22_050
        audio_io.write_audio(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22_050, bit_depth=16)
        return path.read_bytes()


@st.composite
def mutated(draw, seeds: dict[str, bytes]):
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "zero-header"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "truncate":
            del data[at:]
        elif action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at:at + len(chunk)] = chunk
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            data[: min(len(data), 64)] = bytes(min(len(data), 64))
    return bytes(data)


def _read(data: bytes, suffix: str, sample_rate: int | None = None) -> None:
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            audio, rate = audio_io.read_audio(path, sample_rate=sample_rate)
        except (audio_io.AudioFileError, ValueError):
            return
        assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 2
        assert audio.shape[0] > 0 and 1 <= audio.shape[1] and np.isfinite(audio).all()
        assert isinstance(rate, int) and rate > 0
        if sample_rate is not None:
            assert rate == sample_rate


@FAST
@given(data=mutated(SEEDS) | st.binary(max_size=300),
       suffix=st.sampled_from([".wav", ".flac", ".ogg", ".aiff", ".WAV", ".bin", ""]),
       sample_rate=st.sampled_from([None, None, 16_000, 48_000]))
def test_read_audio_on_damaged_soundfile_inputs(data, suffix, sample_rate):
    _read(data, suffix, sample_rate)


@SLOW
@given(data=st.data())
def test_read_audio_on_damaged_mp3_inputs(data):
    seeds = {**SEEDS, "mp3": _MP3}
    payload = data.draw(mutated(seeds) | st.binary(max_size=200))
    _read(payload, data.draw(st.sampled_from([".mp3", ".m4a", ".opus"])))


_MP3 = _mp3_seed()


def test_regression_unmutated_seeds_read_back():
    for key, data in SEEDS.items():
        with tempfile.TemporaryDirectory() as temp:
            path = Path(temp) / f"x.{ 'ogg' if key == 'ogg' else 'flac' if key == 'flac' else 'wav'}"
            path.write_bytes(data)
            audio, rate = audio_io.read_audio(path)
            assert rate == 22_050 and audio.shape[0] == 2_205
