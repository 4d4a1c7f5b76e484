"""lantern_studio.engines.audio.io: writing and reading WAV, FLAC and MP3, atomically, with clear errors.

Oracles: soundfile's own header info for formats and bit depths, pydub decoding the MP3 independently,
a sine's frequency and level for lossy round trips.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from lantern_studio.engines.audio.io import AudioFileError, read_audio, write_audio

SR = 48_000


def sine(freq_hz: float, *, seconds: float = 1.0, level: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = level * np.sin(2 * np.pi * freq_hz * t)
    return np.stack([x, 0.5 * x][:channels], axis=1).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x[:, 0] * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


@pytest.mark.parametrize("fmt,subtype,bits", [("wav", "PCM_24", 24), ("wav", "PCM_16", 16), ("flac", "PCM_24", 24),
                                              ("flac", "PCM_16", 16), ("wav", "FLOAT", 32)])
def test_wav_and_flac_round_trip_within_one_quantisation_step(tmp_path, fmt, subtype, bits):
    x = sine(441.0)
    path = write_audio(tmp_path / f"a.{fmt}", x, SR, bit_depth=bits)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (SR, 2, len(x), subtype)
    y, rate = read_audio(path)
    assert rate == SR and y.dtype == np.float32 and y.shape == x.shape
    step = 2.0 ** -(bits - 1) if bits < 32 else 1e-7
    assert np.max(np.abs(y - x)) <= step


def test_mp3_round_trip_keeps_pitch_level_and_length(tmp_path):
    x = sine(1000.0, seconds=2.0)
    path = write_audio(tmp_path / "a.mp3", x, SR)
    assert path.read_bytes()[:3] == b"ID3" or path.read_bytes()[0] == 0xFF
    y, rate = read_audio(path)
    assert rate == SR and y.shape[1] == 2
    assert abs(len(y) - len(x)) <= 2 * 1152                               # at most a frame of padding
    assert peak_hz(y) == pytest.approx(1000.0, abs=2.0)
    rms = lambda a: float(np.sqrt(np.mean(a[SR // 4: SR] ** 2)))
    assert rms(y[:, :1]) == pytest.approx(rms(x[:, :1]), rel=0.05)
    # decoded independently by pydub (through the same bundled ffmpeg)
    from pydub import AudioSegment
    import imageio_ffmpeg
    AudioSegment.converter = imageio_ffmpeg.get_ffmpeg_exe()
    segment = AudioSegment.from_file(str(path), format="mp3", codec="mp3")
    assert segment.frame_rate == SR and segment.channels == 2


def test_mono_and_one_dimensional_input_and_resampling_on_read(tmp_path):
    mono = sine(500.0, channels=1)[:, 0]
    path = write_audio(tmp_path / "m.wav", mono, SR)
    y, rate = read_audio(path, sample_rate=44_100)
    assert rate == 44_100 and y.shape == (44_100, 1)
    spectrum = np.abs(np.fft.rfft(y[:, 0] * np.hanning(len(y))))
    assert np.fft.rfftfreq(len(y), 1 / 44_100)[np.argmax(spectrum)] == pytest.approx(500.0, abs=2.0)


def test_format_from_suffix_or_argument_and_bad_options(tmp_path):
    x = sine(300.0, seconds=0.2)
    assert sf.info(str(write_audio(tmp_path / "x.data", x, SR, format="flac"))).format == "FLAC"
    with pytest.raises(ValueError, match="format 'ogg' is not one of wav, flac, mp3"):
        write_audio(tmp_path / "x.ogg", x, SR)
    with pytest.raises(ValueError, match="FLAC bit depth 32"):
        write_audio(tmp_path / "x.flac", x, SR, bit_depth=32)
    with pytest.raises(ValueError, match="sample rate"):
        write_audio(tmp_path / "x.wav", x, 100)


def test_bad_signals_are_refused_not_silently_fixed(tmp_path):
    with pytest.raises(ValueError, match="would clip"):
        write_audio(tmp_path / "loud.wav", sine(300.0, level=1.5), SR)
    bad = sine(300.0)
    bad[10, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_audio(tmp_path / "nan.wav", bad, SR)
    with pytest.raises(ValueError, match="floating point"):
        write_audio(tmp_path / "int.wav", (sine(300.0) * 1000).astype(np.int16), SR)
    with pytest.raises(ValueError, match="shape"):
        write_audio(tmp_path / "3d.wav", np.zeros((4, 2, 2), np.float32), SR)
    assert not list(tmp_path.iterdir())                                   # nothing half-written left behind


def test_writes_are_atomic_an_existing_file_survives_a_failed_write(tmp_path, monkeypatch):
    path = write_audio(tmp_path / "keep.wav", sine(300.0), SR)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(sf, "write", broken)
    with pytest.raises(RuntimeError):
        write_audio(path, sine(600.0), SR)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.wav"]


@pytest.mark.parametrize("name,content", [("broken.wav", b"RIFF\x00\x00\x00\x00WAVEjunkjunk" * 20),
                                          ("broken.flac", b"fLaC" + b"\x00" * 100),
                                          ("broken.mp3", b"this is not an mp3 file" * 50)])
def test_undecodable_files_raise_a_message_that_says_what_to_do(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match=f"{name} could not be decoded.*(export it again|convert it)"):
        read_audio(path)


def test_truncated_wav_missing_and_empty_files(tmp_path):
    good = write_audio(tmp_path / "t.wav", sine(300.0), SR).read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[:30])
    with pytest.raises(AudioFileError, match="cut.wav"):
        read_audio(tmp_path / "cut.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty"):
        read_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioFileError, match="does not exist"):
        read_audio(tmp_path / "missing.wav")
