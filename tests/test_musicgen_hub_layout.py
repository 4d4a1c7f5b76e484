"""Official-MusicGen-shaped checkpoints in the Hugging Face cache layout, conditioned on T5 as every released
checkpoint is, found and loaded through exactly the path a real download takes (tests/musicgen_hub_layout.py runs
it in a fresh interpreter with HF_HUB_CACHE and HF_HUB_OFFLINE set). A no-op tokenizer would hide API changes in
transformers' T5, tokenizers or sentencepiece; these cannot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("audiocraft")

from lantern_studio.engines.music import musicgen_models as models  # noqa: E402
from lantern_studio.engines.music.base import GenerationRequest  # noqa: E402
from lantern_studio.engines.music.musicgen import MusicGenEngine  # noqa: E402
from lantern_testkit import ROOT  # noqa: E402


def offline_env(cache, tmp):
    return {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp / "torch"),
            "LANTERN_HOME": str(tmp / "home"), "LANTERN_NO_BROWSER": "1"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """(cache folder, what the script measured) after building the layouts and generating from them."""
    tmp = tmp_path_factory.mktemp("hub-layout")
    cache = tmp / "hf-cache"
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "musicgen_hub_layout.py"), str(cache)],
                            cwd=ROOT, env=offline_env(cache, tmp), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return cache, json.loads(result.stdout.strip().splitlines()[-1])


def test_a_text_prompt_through_t5_changes_the_take_and_the_same_prompt_repeats_it(hub):
    cache, found = hub
    assert found["text_encoder"] == "t5-base" and found["small_source"] == "hf-cache"
    assert found["small_path"].startswith(str(cache / "models--facebook--musicgen-small" / "snapshots"))
    assert found["same_prompt_max_diff"] == 0.0
    assert found["other_prompt_shape_differs"] or found["other_prompt_max_diff"] > 1e-4
    assert found["take_model"] == "facebook/musicgen-small" and found["take_seconds"] == pytest.approx(2.0)
    assert found["take_rms"] > 0.01


def test_a_melody_model_with_htdemucs_from_the_cache_follows_the_prompt_and_repeats_from_its_seed(hub):
    _, found = hub
    assert found["melody_is_melody"] and found["melody_text_encoder"] == "t5-base"
    # demucs shifts the melody by a random offset: the engine seeds that too, so a melody take is reproducible
    assert found["melody_same_prompt_max_diff"] == 0.0
    assert found["melody_other_prompt_max_diff"] > 1e-4


def test_the_engine_status_and_doctor_name_what_was_found(hub, tmp_path):
    cache, found = hub
    assert found["status_ready"]
    for part in ("facebook/musicgen-small", "facebook/musicgen-melody", "text encoder t5-base: found",
                 "melody separator htdemucs: found"):
        assert part in found["status"], part
    doctor = subprocess.run([sys.executable, str(ROOT / "launch.py"), "doctor"], cwd=ROOT,
                            env=offline_env(cache, tmp_path), capture_output=True, text=True, timeout=300)
    assert doctor.returncode == 0, doctor.stderr[-3000:]
    lines = [line for line in doctor.stdout.splitlines() if "MusicGen facebook/musicgen-small" in line]
    assert lines and lines[0].startswith("ok") and "text encoder t5-base: found" in lines[0], doctor.stdout


def test_the_t5_tokenizer_saved_in_the_cache_tokenizes_as_sentencepiece_does(hub):
    sentencepiece = pytest.importorskip("sentencepiece")
    from transformers import T5Tokenizer

    cache, _ = hub
    snapshot = models._hf_snapshot("t5-base", cache)
    reference = sentencepiece.SentencePieceProcessor(model_file=str(snapshot / "spiece.model"))
    tokenizer = T5Tokenizer.from_pretrained(str(snapshot))
    text = "a lion dance with drums and gongs"
    assert tokenizer(text).input_ids == reference.encode(text) + [reference.eos_id()]


def copied_cache(hub, tmp_path):
    cache = tmp_path / "hf-cache"
    shutil.copytree(hub[0], cache)
    return cache


def test_a_cache_whose_t5_lacks_its_tokenizer_names_the_file_and_the_fix(hub, tmp_path):
    cache = copied_cache(hub, tmp_path)
    snapshot = models._hf_snapshot("t5-base", cache)
    (snapshot / "spiece.model").unlink()
    engine = MusicGenEngine(None, device="cpu", default_model="small", hf_cache_dir=cache)
    with pytest.raises(models.ModelNotFoundError) as error:
        engine.generate(GenerationRequest(prompt="x", duration_s=1.0, seed=1))
    message = str(error.value)
    assert "spiece.model" in message and str(snapshot) in message
    assert "T5Tokenizer.from_pretrained('t5-base')" in message
    assert not engine.available().ready and "MISSING" in engine.available().message


def test_a_cache_without_the_t5_at_all_says_where_it_looked(hub, tmp_path):
    cache = copied_cache(hub, tmp_path)
    shutil.rmtree(cache / "models--t5-base")
    engine = MusicGenEngine(None, device="cpu", default_model="small", hf_cache_dir=cache)
    with pytest.raises(models.ModelNotFoundError, match=r"text encoder 't5-base' is not in the Hugging Face cache"):
        engine.load("small")


def test_a_truncated_checkpoint_in_the_cache_names_the_file(hub, tmp_path):
    cache = copied_cache(hub, tmp_path)
    damaged = cache / "models--facebook--musicgen-small" / "snapshots" / ("0" * 40) / models.LM_FILE
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 3])
    engine = MusicGenEngine(None, device="cpu", default_model="small", hf_cache_dir=cache)
    with pytest.raises(models.CheckpointError) as error:
        engine.load("small")
    assert str(damaged) in str(error.value) and "copy or download the model again" in str(error.value)
