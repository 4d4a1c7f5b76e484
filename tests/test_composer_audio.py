"""The composer's audio: takes are reproducible bit for bit, loud enough and not clipped, and sound the
written notes.

Oracles: pyloudnorm for loudness, scipy's polyphase resampler for the 4x true peak, a plain numpy FFT for
the pitch content, mido for the MIDI. Takes are short (10-16 s) to keep the file fast.
"""

from __future__ import annotations

import json

import numpy as np
import pyloudnorm
import pytest
from scipy import signal

from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.composer import ComposerEngine, compose, request_from_recipe
from lantern_studio.engines.music.export import export_take

SR = 48_000


@pytest.fixture(scope="module")
def engine():
    return ComposerEngine()


@pytest.fixture(scope="module")
def lion(engine):
    return engine.generate(GenerationRequest(preset="lion-dance", seed=7, duration_s=14.0))[0]


def true_peak_db(audio: np.ndarray) -> float:
    up = signal.resample_poly(audio.astype(np.float64), 4, 1, axis=0)
    return 20 * np.log10(np.max(np.abs(up)))


def chroma(audio: np.ndarray, *, fmin: float = 150.0, fmax: float = 2500.0) -> np.ndarray:
    """(12,) energy per pitch class from an FFT (harmonics count towards their own pitch class)."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    frames = np.lib.stride_tricks.sliding_window_view(mono, 8192)[::4096]
    power = (np.abs(np.fft.rfft(frames * np.hanning(8192), axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(8192, 1 / SR)
    keep = (freqs >= fmin) & (freqs <= fmax)
    pcs = np.round(12 * np.log2(freqs[keep] / 440.0) + 69).astype(int) % 12
    return np.bincount(pcs, weights=power[keep], minlength=12)


def test_take_is_stereo_48k_with_stems_midi_and_a_summary(lion):
    assert lion.sample_rate == SR and lion.audio.dtype == np.float32 and lion.audio.shape[1] == 2
    assert set(lion.stems) == {"melody", "drum", "gong", "cymbal", "firecrackers"}
    for stem in lion.stems.values():
        assert stem.shape == lion.audio.shape and stem.dtype == np.float32
    assert lion.midi.startswith(b"MThd")
    assert "Lion Dance" in lion.summary and "accelerating" in lion.summary
    assert lion.engine == "composer" and lion.seed == 7 and lion.params["preset"] == "lion-dance"


def test_audio_is_not_silent_not_clipped_and_at_the_target_loudness(lion):
    meter = pyloudnorm.Meter(SR)
    assert meter.integrated_loudness(lion.audio.astype(np.float64)) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_db(lion.audio) <= -1.0 + 0.1
    assert np.max(np.abs(lion.audio)) < 1.0
    assert np.sqrt(np.mean(lion.audio ** 2)) > 0.03                    # not silent
    assert lion.loudness_lufs == pytest.approx(-16.0, abs=0.2)
    for name, stem in lion.stems.items():
        assert np.max(np.abs(stem)) > 1e-3, name                          # every stem sounds


def test_stems_add_up_to_the_mix(lion):
    # the stems carry the master's loudness gain and limiter gain reduction, frame by frame
    total = np.sum(list(lion.stems.values()), axis=0)
    np.testing.assert_allclose(total, lion.audio, atol=2e-3)


def test_quiet_solo_takes_get_a_large_gain_and_their_stems_still_do_not_clip(engine, tmp_path):
    take = engine.generate(GenerationRequest(prompt="元宵节，古筝独奏，温柔的五声音阶旋律", seed=2, duration_s=12.0))[0]
    assert [p["instrument"] for p in take.params["parts"]] == ["guzheng", "guzheng"]
    for stem in take.stems.values():
        assert np.max(np.abs(stem)) <= 10 ** (-1.0 / 20) + 1e-6         # sample peaks at or under -1 dBFS
    files = export_take(take, tmp_path, formats=("wav",))
    assert sum(p.name.startswith(take.name.replace(" ", "-") + "_stem-") for p in files) == 2


def test_same_recipe_and_seed_give_bit_identical_audio_and_midi(engine, lion, tmp_path):
    again = engine.generate(GenerationRequest(preset="lion-dance", seed=7, duration_s=14.0))[0]
    assert np.array_equal(again.audio, lion.audio)
    assert again.midi == lion.midi
    assert all(np.array_equal(again.stems[k], lion.stems[k]) for k in lion.stems)
    # from the exported JSON recipe alone
    files = export_take(lion, tmp_path, formats=("wav",), stems=False)
    recipe = json.loads(next(p for p in files if p.name.endswith("_recipe.json")).read_text())
    remade = engine.generate(request_from_recipe(recipe))[0]
    assert np.array_equal(remade.audio, lion.audio) and remade.midi == lion.midi
    other = engine.generate(GenerationRequest(preset="lion-dance", seed=8, duration_s=14.0))[0]
    assert not np.array_equal(other.audio[: len(lion.audio)], lion.audio[: len(other.audio)])


def test_spectral_pitch_content_matches_the_written_notes(engine):
    # a melody alone on the dizi (few harmonics), so the spectrum's pitch classes are the notes' own
    take = engine.generate(GenerationRequest(preset="pentatonic-pop", seed=11, duration_s=16.0, params={
        "parts": [{"name": "melody", "role": "melody", "instrument": "dizi", "pan": 0.0, "gain_db": 0.0,
                   "reverb": 0.0}], "ornament_density": 0.0}))[0]
    score = compose(take.params)
    written = np.zeros(12)
    tempo_s = 60.0 / score.tempo_bpm[0]
    for note in score.melody.notes:
        written[note.midi % 12] += note.duration_beats * tempo_s
    heard = chroma(take.stems["melody"])
    mode = set(np.flatnonzero(written))
    assert set(np.argsort(heard)[-len(mode):]) == mode                 # the strongest pitch classes are the mode's
    assert np.corrcoef(heard, written)[0, 1] > 0.8                       # and weighted like the score
    assert int(np.argmax(heard)) in set(np.argsort(written)[-2:])


@pytest.mark.parametrize("preset", ["spring-festival", "mid-autumn"])
def test_full_arrangements_keep_the_modes_pitch_classes_strongest(engine, preset):
    take = engine.generate(GenerationRequest(preset=preset, seed=3, duration_s=12.0))[0]
    score = compose(take.params)
    mode = score.scale.pitch_classes
    heard = chroma(take.stems["melody"])
    assert set(np.argsort(heard)[-3:]) <= mode


def test_vary_and_continue_make_related_takes(engine, lion):
    low = engine.generate(GenerationRequest(mode="vary", parent=lion, variation_strength=0.1, seed=100,
                                            duration_s=14.0))[0]
    assert low.relation == "vary" and low.parent_id == lion.id
    assert low.params["seeds"]["motif"] == lion.params["seeds"]["motif"]
    assert low.params["variation"]["strength"] == 0.1
    assert not np.array_equal(low.midi, lion.midi)
    cont = engine.generate(GenerationRequest(mode="continue", parent=lion, seed=101, duration_s=10.0))[0]
    parent_score, cont_score = compose(lion.params), compose(cont.params)
    assert cont.relation == "continue" and cont.params["section"] == 1
    assert cont_score.motif == parent_score.motif and cont_score.scale == parent_score.scale
    assert cont_score.tempo_bpm[0] == pytest.approx(parent_score.tempo_bpm[-1], abs=0.01)
    first = cont_score.melody.notes[0].midi
    assert abs(first - parent_score.melody.notes[-1].midi) <= 7           # picks up where the take ended
    assert cont_score.melody.notes[-1].midi % 12 == cont_score.scale.final_pc
    # from the end of a loop region instead: the note sounding at 8 s, the tempo of that bar
    region = engine.generate(GenerationRequest(mode="continue", parent=lion, seed=102, duration_s=6.0,
                                               region_s=(4.0, 8.0)))[0]
    starts = parent_score.bar_starts_s()
    bar = int(np.searchsorted(starts, 8.0, side="right") - 1)
    assert region.params["tempo_bpm"] == pytest.approx(parent_score.tempo_bpm[bar], abs=0.01)
    beat = bar * 4 + (8.0 - starts[bar]) * parent_score.tempo_bpm[bar] / 60.0
    at = [n for n in parent_score.melody.notes if n.start_beat <= beat][-1]
    assert parent_score.scale.midi(region.params["start_step"]) == at.midi
    assert "8 s" in region.summary
    with pytest.raises(ValueError, match="region ends at 99 s"):
        engine.generate(GenerationRequest(mode="continue", parent=lion, seed=1, region_s=(90.0, 99.0)))


def test_progress_cancel_and_on_take(engine):
    seen, made = [], []
    takes = engine.generate(GenerationRequest(preset="lion-dance", seed=1, duration_s=8.0, takes=2),
                            progress=lambda f, m: seen.append(f), on_take=made.append)
    assert len(takes) == 2 and made == takes and [t.seed for t in takes] == [1, 2]
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 3
    assert len(engine.generate(GenerationRequest(preset="lion-dance", seed=1, duration_s=8.0, takes=3),
                               cancel=cancel)) < 3


def test_bad_input_gets_clear_messages(engine, lion):
    with pytest.raises(ValueError, match="unknown preset 'polka'; choose one of: .*lion-dance"):
        engine.generate(GenerationRequest(preset="polka", seed=1))
    with pytest.raises(ValueError, match="2 s is too short for a whole 起承转合.*at 66 BPM: the shortest piece is 17.0 s"):
        engine.generate(GenerationRequest(preset="mid-autumn", duration_s=2.0))
    with pytest.raises(ValueError, match="would end above 260 BPM"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"tempo_bpm": 220.0}))
    with pytest.raises(ValueError, match="duration 900 s is outside 0-600 s"):
        engine.generate(GenerationRequest(preset="lion-dance", duration_s=900.0))
    with pytest.raises(ValueError, match="prompt is empty"):
        engine.generate(GenerationRequest(prompt="   ", seed=1))
    with pytest.raises(ValueError, match="tempo 400 BPM"):
        engine.generate(GenerationRequest(prompt="lion dance at 400 BPM", seed=1))
    with pytest.raises(ValueError, match="unknown composer params bpm"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"bpm": 100}))
    with pytest.raises(ValueError, match="meter '3/4' is not one of 2/4, 4/4"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"meter": "3/4"}))
    with pytest.raises(ValueError, match="phrase_bars 40 must be a whole number from 1 to 16"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"phrase_bars": 40}))
    with pytest.raises(ValueError, match="cycles 0 must be a whole number from 1 to 64"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"cycles": 0}))
    with pytest.raises(ValueError, match="instrument one of"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"parts": [
            {"name": "melody", "role": "melody", "instrument": "banjo"}]}))
    with pytest.raises(ValueError, match="mode 'lydian'"):
        engine.generate(GenerationRequest(preset="lion-dance", params={"mode": "lydian"}))
    with pytest.raises(ValueError, match="needs a take"):
        engine.generate(GenerationRequest(mode="vary", seed=1))
    foreign = lion.with_changes(engine="musicgen", params={})
    with pytest.raises(ValueError, match="only vary or continue its own takes"):
        engine.generate(GenerationRequest(mode="vary", parent=foreign))
    assert engine.available().ready
