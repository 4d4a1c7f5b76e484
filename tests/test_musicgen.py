"""MusicGen engine on tiny real models built from audiocraft's builders (no weights exist here or in CI).

The oracle is raw audiocraft: the same checkpoint loaded with ``audiocraft.models.loaders`` into a ``MusicGen``,
``set_generation_params`` + ``torch.manual_seed(seed)`` + ``generate*``, as a user of the library would write it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("audiocraft")

from audiocraft.models import MusicGen, loaders  # noqa: E402

from lantern_studio.engines import devices  # noqa: E402
from lantern_studio.engines.music import musicgen_models as models  # noqa: E402
from lantern_studio.engines.music import musicgen_tiny as tiny  # noqa: E402
from lantern_studio.engines.music.base import SAMPLE_RATE, GenerationRequest  # noqa: E402
from lantern_studio.engines.music.musicgen import MusicGenEngine  # noqa: E402

WINDOW_S = 20.0


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # 2 shared cores: torch's intra-op threads fight other processes and a tiny model gets ~20x slower
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    tiny.save_checkpoint(root / "tiny", tiny.lm_config(segment_duration_s=WINDOW_S), tiny.compression_config())
    tiny.save_checkpoint(root / "tiny-stereo", tiny.lm_config(stereo=True, n_q=4), tiny.compression_config(n_q=2),
                         seed=1)
    tiny.save_checkpoint(root / "tiny-melody", tiny.lm_config(melody=True), tiny.compression_config(), seed=2,
                         demucs_loader=tiny.tiny_demucs)
    return root


@pytest.fixture(scope="module")
def engine(models_dir, tmp_path_factory):
    return MusicGenEngine(models_dir, device="cpu", default_model="tiny",
                          hf_cache_dir=tmp_path_factory.mktemp("empty-hf-cache"), demucs_loader=tiny.tiny_demucs)


def raw_model(folder, demucs_loader=None) -> MusicGen:
    """What a raw audiocraft user gets for a checkpoint folder (MusicGen.get_pretrained without the hub)."""
    with models.patched_demucs_loader(demucs_loader):
        lm = loaders.load_lm_model(str(folder), device="cpu")
    compression = loaders.load_compression_model(str(folder), device="cpu")
    conditioners = lm.condition_provider.conditioners       # a torch ModuleDict
    if "self_wav" in conditioners:
        conditioner = conditioners["self_wav"]                  # as MusicGen.get_pretrained sets a melody model up
        conditioner.match_len_on_eval = True
        conditioner._use_masking = False
    return MusicGen(folder.name, compression, lm)


def resample_48k(native: torch.Tensor, sample_rate: int) -> np.ndarray:
    """scipy's polyphase resampler called directly: the rates here are whole multiples (8 kHz -> 48 kHz)."""
    from scipy.signal import resample_poly

    assert SAMPLE_RATE % sample_rate == 0
    wav = resample_poly(native.double().numpy(), SAMPLE_RATE // sample_rate, 1, axis=1)
    if wav.shape[0] == 1:
        wav = np.repeat(wav, 2, axis=0)
    return wav.T.astype(np.float32)


# ------------------------------------------------------------------------------------- equals audiocraft


def test_engine_output_equals_raw_audiocraft(engine, models_dir):
    params = {"top_k": 0, "top_p": 0.9, "temperature": 0.8, "cfg_coef": 2.0}
    native = engine.render(GenerationRequest(prompt="lion dance drums", duration_s=2.0, params=params), seed=7)

    raw = raw_model(models_dir / "tiny")
    raw.set_generation_params(top_k=0, top_p=0.9, temperature=0.8, cfg_coef=2.0, duration=2.0)
    torch.manual_seed(7)
    expected = raw.generate(["lion dance drums"])[0]

    assert native.shape == expected.shape == (1, 2 * 8000)
    assert torch.equal(native, expected)


def test_take_is_48k_stereo_float32_with_recipe(engine, models_dir):
    take, = engine.generate(GenerationRequest(prompt="temple fair", duration_s=1.5, seed=3))
    raw = raw_model(models_dir / "tiny")
    raw.set_generation_params(top_k=32, duration=1.5)
    torch.manual_seed(3)
    expected = resample_48k(raw.generate(["temple fair"])[0], 8000)

    assert take.audio.dtype == np.float32 and take.audio.shape == (int(1.5 * SAMPLE_RATE), 2)
    # exact at the model's rate (test above); here only float32 rounding may differ from scipy's float64 filter
    np.testing.assert_allclose(take.audio, expected, rtol=0, atol=1e-6)
    assert take.sample_rate == SAMPLE_RATE and take.seed == 3 and take.engine == "musicgen"
    assert take.model == "tiny" and take.prompt == "temple fair" and take.device == "cpu"
    assert take.generation_s > 0 and take.parent_id is None and take.relation is None
    assert take.params == {"model": "tiny", "top_k": 32, "top_p": 0.0, "temperature": 1.0, "cfg_coef": 3.0,
                           "window_s": WINDOW_S, "overlap_s": 8.0, "sample_rate_native": 8000,
                           "precision": "float32"}


def test_a_takes_recipe_makes_it_again(engine):
    take, = engine.generate(GenerationRequest(prompt="suona", duration_s=1.0, params={"temperature": 0.9}))
    recipe = take.recipe()
    again, = engine.generate(GenerationRequest(prompt=recipe["prompt"], duration_s=recipe["duration_s"],
                                               seed=recipe["seed"], params=recipe["params"]))
    np.testing.assert_array_equal(again.audio, take.audio)

    assert take.name == "musicgen tiny"


def test_a_composer_preset_becomes_the_prompt_when_none_is_typed(engine):
    take, = engine.generate(GenerationRequest(preset="dragon-boat", duration_s=1.0, seed=5))
    assert take.prompt.startswith("Dragon Boat drums") and "bpm" in take.prompt and take.preset == "dragon-boat"
    same, = engine.generate(GenerationRequest(prompt=take.prompt, duration_s=1.0, seed=5))
    np.testing.assert_array_equal(same.audio, take.audio)
    typed, = engine.generate(GenerationRequest(prompt="erhu solo", preset="dragon-boat", duration_s=1.0, seed=5))
    assert typed.prompt == "erhu solo" and typed.preset is None
    with pytest.raises(ValueError, match="unknown preset"):
        engine.generate(GenerationRequest(preset="no-such-festival", duration_s=1.0))


def test_batch_gives_each_take_its_own_reproducible_seed(engine):
    seen = []
    takes = engine.generate(GenerationRequest(prompt="gongs", duration_s=1.0, seed=40, takes=3), on_take=seen.append)
    assert [t.seed for t in takes] == [40, 41, 42] and seen == takes
    again, = engine.generate(GenerationRequest(prompt="gongs", duration_s=1.0, seed=41))
    np.testing.assert_array_equal(again.audio, takes[1].audio)
    assert not np.array_equal(takes[0].audio, takes[1].audio)


def test_fresh_seeds_are_recorded_and_reusable(engine):
    take, = engine.generate(GenerationRequest(prompt="flute", duration_s=1.0))
    again, = engine.generate(GenerationRequest(prompt="flute", duration_s=1.0, seed=take.seed))
    np.testing.assert_array_equal(again.audio, take.audio)


def test_progress_reports_fractions_with_eta(engine):
    reports = []
    engine.generate(GenerationRequest(prompt="erhu", duration_s=2.0, seed=1, takes=2),
                    progress=lambda f, m: reports.append((f, m)))
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all("ETA" in m for _, m in reports) and any("take 2/2 (seed 2)" in m for _, m in reports)


# ------------------------------------------------------------------------------ continuation, long form


def parent_take(engine, duration_s=4.0, seed=11):
    take, = engine.generate(GenerationRequest(prompt="spring festival", duration_s=duration_s, seed=seed))
    return take


def raw_continuation(models_dir, prompt_audio_48k: np.ndarray, text: str, total_s: float, seed: int):
    raw = raw_model(models_dir / "tiny")
    raw.set_generation_params(top_k=32, duration=total_s)
    torch.manual_seed(seed)
    prompt = torch.from_numpy(np.ascontiguousarray(prompt_audio_48k.T))
    return raw.generate_continuation(prompt, SAMPLE_RATE, [text])[0]


def test_continue_from_end_equals_raw_generate_continuation(engine, models_dir):
    parent = parent_take(engine)
    request = GenerationRequest(prompt="louder gongs", duration_s=2.0, mode="continue", parent=parent,
                                params={"context_s": 3.0})
    native = engine.render(request, seed=5)
    full = raw_continuation(models_dir, parent.audio[-3 * SAMPLE_RATE:], "louder gongs", 5.0, seed=5)
    assert native.shape == (1, 2 * 8000)
    assert torch.equal(native, full[..., 3 * 8000:])

    take, = engine.generate(request.__class__(**{**request.__dict__, "seed": 5}))
    assert take.relation == "continue" and take.parent_id == parent.id and take.params["context_s"] == 3.0
    assert take.audio.shape == (2 * SAMPLE_RATE, 2)


def test_continue_from_a_region(engine, models_dir):
    parent = parent_take(engine)
    request = GenerationRequest(prompt="", duration_s=1.0, mode="continue", parent=parent, region_s=(0.5, 2.5),
                                params={"context_s": 5.0})
    native = engine.render(request, seed=9)
    region = parent.audio[int(0.5 * SAMPLE_RATE):int(2.5 * SAMPLE_RATE)]
    full = raw_continuation(models_dir, region, parent.prompt, 3.0, seed=9)   # empty prompt keeps the parent's
    assert torch.equal(native, full[..., 2 * 8000:])
    from_end = engine.render(request.__class__(**{**request.__dict__, "region_s": None}), seed=9)
    assert not torch.equal(native, from_end)

    with pytest.raises(ValueError, match="outside the parent take"):
        engine.generate(request.__class__(**{**request.__dict__, "region_s": (1.0, 9.0)}))


def first_difference_outliers(signal: np.ndarray, at: int, half_width: int) -> float:
    """Largest sample-to-sample step within ``half_width`` of ``at``, over the 99.9th percentile elsewhere."""
    steps = np.abs(np.diff(signal))
    local = steps[at - half_width:at + half_width].max()
    elsewhere = np.concatenate([steps[:at - half_width], steps[at + half_width:]])
    return float(local / np.percentile(elsewhere, 99.9))


def test_long_form_equals_raw_windowed_generation_and_joins_seamlessly(engine, models_dir):
    request = GenerationRequest(prompt="lantern parade", duration_s=26.0, mode="extend", params={"overlap_s": 8.0})
    native = engine.render(request, seed=21)

    raw = raw_model(models_dir / "tiny")
    raw.set_generation_params(top_k=32, duration=26.0, extend_stride=WINDOW_S - 8.0)
    torch.manual_seed(21)
    expected = raw.generate(["lantern parade"])[0]
    assert native.shape == (1, 26 * 8000) and torch.equal(native, expected)

    # the first window is the same music a single-window take with that seed makes (continued, not redone) ...
    single = engine.render(GenerationRequest(prompt="lantern parade", duration_s=WINDOW_S), seed=21)
    settle = 4 * 800   # the decoder sees a few frames ahead
    torch.testing.assert_close(native[..., :20 * 8000 - settle], single[..., :20 * 8000 - settle])
    # ... and the audio is decoded from one token stream, so there is no step at the window boundary
    signal = native[0].numpy()
    assert first_difference_outliers(signal, 20 * 8000, 400) < 1.5
    spliced = signal.copy()
    spliced[20 * 8000:] += 0.5   # what a naive join without continuity looks like: the metric sees it
    assert first_difference_outliers(spliced, 20 * 8000, 400) > 1.5


def test_extend_a_parent_to_a_longer_piece(engine):
    parent = parent_take(engine, duration_s=3.0)
    request = GenerationRequest(prompt="", duration_s=22.0, mode="extend", parent=parent, seed=4,
                                params={"overlap_s": 6.0, "context_s": 2.0})
    take, = engine.generate(request)
    again, = engine.generate(request)
    assert take.audio.shape == (22 * SAMPLE_RATE, 2) and take.relation == "extend"
    assert take.parent_id == parent.id and take.prompt == parent.prompt
    np.testing.assert_array_equal(take.audio, again.audio)
    with pytest.raises(ValueError, match="must be more"):
        engine.generate(GenerationRequest(duration_s=2.0, mode="extend", parent=parent))


def test_vary_keeps_the_opening_and_inherits_settings(engine):
    parent, = engine.generate(GenerationRequest(prompt="drums", duration_s=4.0, seed=2, params={"temperature": 0.7}))
    take, = engine.generate(GenerationRequest(duration_s=4.0, mode="vary", parent=parent, variation_strength=0.5,
                                              seed=99))
    assert take.relation == "vary" and take.parent_id == parent.id and take.prompt == "drums"
    assert take.params["temperature"] == 0.7 and take.params["variation_strength"] == 0.5
    assert take.audio.shape == parent.audio.shape and not np.array_equal(take.audio, parent.audio)
    # the first half (minus the codec's look-ahead) is the parent's opening, re-encoded
    head = int(1.5 * SAMPLE_RATE)
    correlation = np.corrcoef(take.audio[:head, 0], parent.audio[:head, 0])[0, 1]
    assert correlation > 0.5
    fresh, = engine.generate(GenerationRequest(duration_s=4.0, mode="vary", parent=parent, variation_strength=1.0,
                                               seed=99))
    new, = engine.generate(GenerationRequest(prompt="drums", duration_s=4.0, seed=99, params={"temperature": 0.7}))
    np.testing.assert_array_equal(fresh.audio, new.audio)


# ------------------------------------------------------------------------------------------ melody, stereo


def test_melody_conditioning_equals_raw_generate_with_chroma(engine, models_dir):
    t = np.arange(int(1.5 * 44_100)) / 44_100
    melody = (0.3 * np.sin(2 * np.pi * 440 * t * (1 + (t > 0.75) * 0.25))).astype(np.float32)
    request = GenerationRequest(prompt="arrange as guzheng", duration_s=1.5, melody=np.stack([melody, melody], 1),
                                melody_sample_rate=44_100, params={"model": "tiny-melody"})
    native = engine.render(request, seed=8)

    raw = raw_model(models_dir / "tiny-melody", demucs_loader=tiny.tiny_demucs)
    raw.set_generation_params(top_k=32, duration=1.5)
    torch.manual_seed(8)
    expected = raw.generate_with_chroma(["arrange as guzheng"], torch.from_numpy(np.stack([melody, melody])),
                                        44_100)[0]
    assert torch.equal(native, expected)
    unconditioned = engine.render(request.__class__(**{**request.__dict__, "melody": None}), seed=8)
    assert not torch.equal(native, unconditioned)

    take, = engine.generate(request.__class__(**{**request.__dict__, "seed": 8}))
    assert take.params["melody"] is True and take.model == "tiny-melody"


def test_melody_from_a_takes_stem(engine):
    from lantern_studio.engines.music.base import Take
    from lantern_studio.engines.music.musicgen import melody_from_take

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tune = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    composer_take = Take(engine="composer", seed=1, sample_rate=SAMPLE_RATE, audio=np.stack([tune, tune], 1),
                         stems={"melody": tune, "drums": np.zeros_like(tune)})
    audio, rate = melody_from_take(composer_take, stem="melody")
    assert rate == SAMPLE_RATE and np.array_equal(audio, tune)
    with pytest.raises(ValueError, match="no stem 'guzheng'.*drums, melody"):
        melody_from_take(composer_take, stem="guzheng")
    take, = engine.generate(GenerationRequest(prompt="x", duration_s=1.0, seed=1, melody=audio,
                                              melody_sample_rate=rate, params={"model": "tiny-melody"}))
    assert take.params["melody"] is True


def test_melody_on_a_text_only_model_is_refused(engine):
    with pytest.raises(ValueError, match="does not take a melody"):
        engine.generate(GenerationRequest(prompt="x", duration_s=1.0, melody=np.zeros(8000, np.float32),
                                          melody_sample_rate=8000))


def test_melody_model_without_htdemucs_says_where_it_looked(models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    monkeypatch.delenv("LANTERN_ALLOW_DOWNLOADS", raising=False)
    bare = MusicGenEngine(models_dir, device="cpu", hf_cache_dir=tmp_path / "hf")
    with pytest.raises(models.ModelNotFoundError, match="htdemucs") as error:
        bare.load("tiny-melody")
    assert str(tmp_path / "torch-hub") in str(error.value) and "get_model('htdemucs')" in str(error.value)


def test_stereo_model_gives_two_channels_equal_to_raw(engine, models_dir):
    native = engine.render(GenerationRequest(prompt="stereo", duration_s=1.0, params={"model": "tiny-stereo"}),
                           seed=6)
    raw = raw_model(models_dir / "tiny-stereo")
    raw.set_generation_params(top_k=32, duration=1.0)
    torch.manual_seed(6)
    expected = raw.generate(["stereo"])[0]
    assert native.shape == (2, 8000) and torch.equal(native, expected)
    take, = engine.generate(GenerationRequest(prompt="stereo", duration_s=1.0, seed=6, params={"model": "tiny-stereo"}))
    assert not np.array_equal(take.audio[:, 0], take.audio[:, 1])
    assert engine.loaded_model == "tiny-stereo"
    engine.unload()
    # continuing a take uses the parent's model unless the request names another
    follow, = engine.generate(GenerationRequest(duration_s=1.0, mode="continue", parent=take, seed=1))
    assert follow.model == "tiny-stereo" and follow.params["sample_rate_native"] == 8000


# ------------------------------------------------------------------------------------- cancel, memory


def test_cancel_mid_batch_keeps_finished_takes(engine):
    finished, polls_after_first = [], []

    def cancel():   # the engine polls this between takes and at every token step
        if finished:
            polls_after_first.append(1)
        return len(polls_after_first) > 5   # partway through the second take

    reports = []
    takes = engine.generate(GenerationRequest(prompt="x", duration_s=3.0, seed=1, takes=3),
                            progress=lambda f, m: reports.append(f), cancel=cancel, on_take=finished.append)
    assert takes == finished and len(takes) == 1 and takes[0].seed == 1
    assert len(polls_after_first) == 6 and max(reports) < 2 / 3   # the second take never finished

    event = threading.Event()
    event.set()
    assert engine.generate(GenerationRequest(prompt="x", duration_s=1.0, takes=2), cancel=event) == []


def test_memory_budget_refuses_before_running(models_dir, engine):
    short = GenerationRequest(prompt="x", duration_s=1.0, seed=1)
    long = GenerationRequest(prompt="x", duration_s=300.0, mode="extend", seed=1)
    need_short, need_long = engine.estimate(short).total_bytes, engine.estimate(long).total_bytes
    assert need_long > need_short
    budgeted = MusicGenEngine(models_dir, device="cpu", default_model="tiny",
                              memory_budget_bytes=(need_short + need_long) // 2)
    with pytest.raises(devices.InsufficientMemoryError, match="Not enough memory on cpu for 300 s") as error:
        budgeted.generate(long)
    assert error.value.needed_bytes == need_long and "shorter duration" in str(error.value)
    assert len(budgeted.generate(short)) == 1

    starved = MusicGenEngine(models_dir, device="cpu", default_model="tiny", memory_budget_bytes=1024)
    with pytest.raises(devices.InsufficientMemoryError, match="loading|Not enough memory"):
        starved.load("tiny")
    assert starved.loaded_model is None


def test_out_of_memory_mid_batch_frees_and_keeps_finished_takes(engine, monkeypatch):
    engine.load("tiny")
    lm = engine._model.lm
    real_generate, calls = lm.generate, []

    def generate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(lm, "generate", generate)
    saved = []
    with pytest.raises(devices.InsufficientMemoryError, match="Ran out of memory") as error:
        engine.generate(GenerationRequest(prompt="x", duration_s=1.0, seed=1, takes=3), on_take=saved.append)
    assert error.value.finished_takes == saved and len(saved) == 1
    assert "CUDA out of memory" in str(error.value) and "1 finished take(s) are kept" in str(error.value)


def test_out_of_memory_while_loading_is_reported_and_nothing_stays_loaded(models_dir, monkeypatch):
    fresh = MusicGenEngine(models_dir, device="cpu", default_model="tiny")

    def load_musicgen(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 6.00 GiB")

    monkeypatch.setattr(models, "load_musicgen", load_musicgen)
    with pytest.raises(devices.InsufficientMemoryError, match="while loading 'tiny'"):
        fresh.generate(GenerationRequest(prompt="x", duration_s=1.0))
    assert fresh.loaded_model is None


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("params, message", [
    ({"topk": 5}, "unknown MusicGen setting"),
    ({"top_k": 33}, "codebook size"),
    ({"top_p": 1.5}, "top_p"),
    ({"temperature": 0}, "temperature"),
    ({"overlap_s": 20.0}, "overlap_s"),
    ({"context_s": -1.0}, "context_s"),
])
def test_bad_settings_are_refused_with_a_message(engine, params, message):
    with pytest.raises(ValueError, match=message):
        engine.generate(GenerationRequest(prompt="x", duration_s=1.0, params=params))


def test_duration_shorter_than_a_frame_is_refused(engine):
    with pytest.raises(ValueError, match="shorter than one MusicGen frame"):
        engine.generate(GenerationRequest(prompt="x", duration_s=0.05))


def test_unload_and_switching_models(engine):
    engine.load("tiny")
    assert engine.loaded_model == "tiny"
    engine.load("tiny-stereo")
    assert engine.loaded_model == "tiny-stereo"
    engine.unload()
    assert engine.loaded_model is None
    assert engine.generate(GenerationRequest(prompt="x", duration_s=1.0, seed=1))[0].model == "tiny"


def test_an_audiocraft_other_than_the_locked_release_is_refused_with_what_to_do():
    from lantern_studio.engines.music import audiocraft_api

    audiocraft_api.check_version(audiocraft_api.SUPPORTED_VERSION)
    with pytest.raises(audiocraft_api.AudiocraftVersionError, match=r"audiocraft 1\.4\.0 is installed.*python launch\.py"):
        audiocraft_api.check_version("1.4.0")
