"""A/B previews: loudness-matched within 0.2 LU (by the loudness kernel and by pyloudnorm), true-peak limited,
crossfeed only when asked, cached; loop cuts wrap without a click; waveform pictures match a numpy oracle."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from lantern_studio.engines.audio import preview
from lantern_studio.engines.audio.waveform import envelope, waveform_image, write_waveform_png
from lantern_studio.kernels import dsp

SR = 48_000


def _take(take_id: str, audio: np.ndarray, sample_rate: int = SR) -> SimpleNamespace:
    return SimpleNamespace(id=take_id, name=f"take {take_id}", audio=audio.astype(np.float32), sample_rate=sample_rate)


def _oversampled_peak_db(audio: np.ndarray) -> float:
    """Independent true-peak estimate: 8x polyphase oversampling (finer than BS.1770's 4x)."""
    up = resample_poly(np.asarray(audio, dtype=np.float64), 8, 1, axis=0)
    return 20 * np.log10(np.max(np.abs(up)))


@pytest.fixture(scope="module")
def varied_takes() -> list[SimpleNamespace]:
    rng = np.random.default_rng(7)
    t = np.arange(int(6 * SR)) / SR
    quiet_sine = 0.02 * np.sin(2 * np.pi * 330 * t)                              # about -37 LUFS
    loud_chord = 0.3 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t) + np.sin(2 * np.pi * 330 * t))
    # peaky: quiet bed with loud noise bursts, so normalising it would overshoot the ceiling without a limiter
    bursts = (np.sin(2 * np.pi * 1.5 * t) > 0.97).astype(float)
    peaky = 0.01 * rng.standard_normal(t.size) + 0.9 * rng.standard_normal(t.size) * bursts
    mono_tone = 0.2 * np.sin(2 * np.pi * 440 * t)
    return [_take("quiet", np.stack([quiet_sine, 0.5 * quiet_sine], axis=1)),
            _take("loud", np.stack([loud_chord, loud_chord[::-1]], axis=1).clip(-1, 1)),
            _take("peaky", np.stack([peaky, 0.8 * peaky], axis=1).clip(-1, 1)),
            _take("mono", mono_tone)]


@pytest.mark.parametrize("target_lufs", [-16.0, -23.0])
def test_previews_measure_within_0_2_lu_of_target_by_kernel_and_pyloudnorm(tmp_path, varied_takes, target_lufs):
    settings = preview.PreviewSettings(target_lufs=target_lufs, ceiling_dbtp=-1.0)
    previews = preview.prepare_previews(varied_takes, tmp_path, settings=settings)
    assert [p.label for p in previews] == ["A", "B", "C", "D"]
    sources = [dsp.integrated_loudness(t.audio, SR) for t in varied_takes]
    assert max(sources) - min(sources) > 20, "the inputs must really differ in loudness for this test to mean anything"
    meter = pyloudnorm.Meter(SR)
    for item, take in zip(previews, varied_takes):
        audio, rate = sf.read(item.path, dtype="float64", always_2d=True)
        assert rate == SR and audio.shape == (take.audio.shape[0], 2)
        assert abs(dsp.integrated_loudness(audio, SR) - target_lufs) <= 0.2, item
        assert abs(meter.integrated_loudness(audio) - target_lufs) <= 0.2, item
        # true peak under the ceiling by the kernel and by an independent 8x oversampled estimate
        assert dsp.true_peak_db(audio, SR) <= settings.ceiling_dbtp + 0.1
        assert _oversampled_peak_db(audio) <= settings.ceiling_dbtp + 0.2
        assert item.integrated_lufs == pytest.approx(dsp.integrated_loudness(audio, SR), abs=1e-6)


def test_gain_only_when_no_limiting_needed_and_no_crossfeed_unless_asked(tmp_path):
    t = np.arange(3 * SR) / SR
    left_only = np.stack([0.05 * np.sin(2 * np.pi * 500 * t), np.zeros_like(t)], axis=1)
    (plain,) = preview.prepare_previews([_take("left", left_only)], tmp_path / "plain")
    audio, _ = sf.read(plain.path, dtype="float64", always_2d=True)
    # a quiet sine needs no limiting: the preview is the input times one gain, and the right side stays silent
    gain = 10 ** (plain.gain_db / 20)
    assert np.max(np.abs(audio[:, 1])) < 1e-4
    assert np.max(np.abs(audio[:, 0] - gain * left_only[:, 0])) < 2e-4          # 16-bit quantisation
    (crossed,) = preview.prepare_previews([_take("left", left_only)], tmp_path / "crossed",
                                          settings=preview.PreviewSettings(crossfeed_strength=0.8))
    crossed_audio, _ = sf.read(crossed.path, dtype="float64", always_2d=True)
    assert np.sqrt(np.mean(crossed_audio[:, 1] ** 2)) > 0.05 * np.sqrt(np.mean(crossed_audio[:, 0] ** 2))
    assert abs(pyloudnorm.Meter(SR).integrated_loudness(crossed_audio) - (-16.0)) <= 0.2


def test_previews_are_cached_by_content_and_settings(tmp_path, varied_takes):
    first = preview.prepare_previews(varied_takes[:2], tmp_path)
    stamps = [p.path.stat().st_mtime_ns for p in first]
    again = preview.prepare_previews(varied_takes[:2], tmp_path)
    assert [p.path for p in again] == [p.path for p in first]
    assert [p.path.stat().st_mtime_ns for p in again] == stamps
    other = preview.prepare_previews(varied_takes[:2], tmp_path, settings=preview.PreviewSettings(target_lufs=-20))
    assert {p.path for p in other}.isdisjoint({p.path for p in first})
    changed = _take("quiet", varied_takes[0].audio * 0.5)
    assert preview.prepare_previews([changed], tmp_path)[0].path != first[0].path


def test_preview_refuses_bad_input(tmp_path, varied_takes):
    with pytest.raises(ValueError, match="2-4|1-4"):
        preview.prepare_previews(varied_takes + [_take("fifth", varied_takes[0].audio)], tmp_path)
    with pytest.raises(ValueError, match="sample rate"):
        preview.prepare_previews([varied_takes[0], _take("slow", varied_takes[1].audio, 44_100)], tmp_path)
    with pytest.raises(ValueError, match="twice"):
        preview.prepare_previews([varied_takes[0], varied_takes[0]], tmp_path)
    broken = varied_takes[0].audio.copy()
    broken[100, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        preview.prepare_previews([_take("nan", broken)], tmp_path)
    with pytest.raises(ValueError, match="LUFS"):
        preview.PreviewSettings(target_lufs=3.0).validate()
    assert list(tmp_path.glob("*.wav")) == []      # nothing half-made was left behind


def test_silence_is_left_alone(tmp_path):
    (item,) = preview.prepare_previews([_take("silent", np.zeros((SR, 2)))], tmp_path)
    audio, _ = sf.read(item.path, always_2d=True)
    assert item.gain_db == 0.0 and np.all(audio == 0)


# ---- loop cuts ----------------------------------------------------------------------------------

def _max_step(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x, axis=0))))


@pytest.mark.parametrize("start_s", [0.0, 0.3137])
def test_loop_region_wraps_without_a_click(start_s):
    t = np.arange(2 * SR) / SR
    tone = np.stack([0.8 * np.sin(2 * np.pi * 441.3 * t), 0.5 * np.sin(2 * np.pi * 97.1 * t)], axis=1)
    end_s = start_s + 0.4567                     # neither boundary is on a zero crossing
    looped = preview.loop_region(tone, SR, start_s=start_s, end_s=end_s, crossfade_s=0.02)
    fade = int(round(0.02 * SR))
    expected = int(round(end_s * SR)) - int(round(start_s * SR)) - (fade if start_s < 0.02 else 0)
    assert looped.shape == (expected, 2) and looped.dtype == np.float32
    twice = np.concatenate([looped, looped])
    natural = _max_step(tone)
    assert _max_step(twice) <= natural * 1.05           # the wrap is as smooth as the signal itself
    hard = preview.loop_region(tone, SR, start_s=start_s, end_s=end_s, crossfade_s=0.0)
    assert _max_step(np.concatenate([hard, hard])) > natural * 2    # without the crossfade it clicks
    # away from the crossfade the loop is the original audio, sample for sample
    head = int(round(start_s * SR)) + (fade if start_s < 0.02 else 0)
    assert np.allclose(looped[: expected - fade], tone[head: head + expected - fade], atol=1e-6)


def test_loop_region_refuses_regions_outside_the_take():
    audio = np.zeros((SR, 2), dtype=np.float32)
    for start, end in [(0.5, 0.5), (0.8, 0.2), (-0.1, 0.5), (0.2, 1.5)]:
        with pytest.raises(ValueError, match="loop region"):
            preview.loop_region(audio, SR, start_s=start, end_s=end)


# ---- waveform pictures ----------------------------------------------------------------------------

def test_envelope_matches_numpy_min_max_per_column():
    rng = np.random.default_rng(3)
    audio = rng.uniform(-1, 1, size=(10_007, 2)).astype(np.float32)
    lows, highs = envelope(audio, columns=37)
    edges = np.linspace(0, audio.shape[0], 38).astype(int)
    for i in range(37):
        chunk = audio[edges[i]:edges[i + 1]]
        assert lows[i] == chunk.min() and highs[i] == chunk.max()


def test_waveform_image_draws_level_and_silence(tmp_path):
    silent = np.array(waveform_image(np.zeros(4800), width_px=120, height_px=40))
    assert silent.shape == (40, 120, 3)
    coloured_rows = {r for r in range(40) if (silent[r] != silent[0]).any()}
    assert len(coloured_rows) <= 2                    # only the centre line
    square = np.sign(np.sin(2 * np.pi * 2400 * np.arange(4800) / SR + 0.1))
    full = np.array(waveform_image(square, width_px=120, height_px=40))
    red = np.all(full == np.array([226, 87, 60], dtype=np.uint8), axis=2)
    assert red[0].all() and red[-1].all()             # full scale reaches the top and bottom rows
    half = np.array(waveform_image(0.5 * square, width_px=120, height_px=40))
    half_red = np.all(half == np.array([226, 87, 60], dtype=np.uint8), axis=2)
    assert not half_red[0].any() and half_red[20].all()
    path = write_waveform_png(square, tmp_path / "w.png", width_px=64, height_px=16)
    from PIL import Image
    assert Image.open(path).size == (64, 16)
    with pytest.raises(ValueError, match="width_px"):
        waveform_image(square, width_px=0)
    with pytest.raises(ValueError, match="shape"):
        waveform_image(np.zeros((10, 3)))
