"""Builds official-MusicGen-shaped checkpoints in a Hugging Face hub cache and generates from them, in a fresh
interpreter (huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE when it is imported, so the test cannot set
them in its own process).

Run by tests/test_musicgen_hub_layout.py with HF_HUB_CACHE=<cache> HF_HUB_OFFLINE=1 TORCH_HOME=<folder>, and the
cache folder as the one argument. Lays out, as real downloads do:
- ``models--t5-base``: a random one-layer T5 encoder of t5-base's width and a sentencepiece tokenizer trained here;
- ``models--adefossez--HTDemucs``: a random tiny htdemucs where demucs looks first;
- ``models--facebook--musicgen-small`` and ``models--facebook--musicgen-melody``: ``state_dict.bin`` +
  ``compression_state_dict.bin`` whose LM conditions on ``t5-base`` (the melody one also on chroma).
Then loads them through the studio's engine exactly as a real download is loaded (no loader, no cache argument,
nothing patched) and prints one JSON line with what it measured.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from lantern_studio.engines.music import musicgen_models as models
from lantern_studio.engines.music import musicgen_tiny as tiny
from lantern_studio.engines.music.base import GenerationRequest
from lantern_studio.engines.music.musicgen import MusicGenEngine


def build(cache: Path) -> None:
    tiny.save_tiny_t5(cache, name="t5-base")
    tiny.save_tiny_htdemucs(cache)
    # the LM's cross-attention must see the text: use a model dim wide enough to carry it
    tiny.save_checkpoint(tiny.hub_snapshot(cache, "facebook/musicgen-small"),
                         tiny.lm_config(text_encoder="t5-base"), tiny.compression_config(), seed=3)
    tiny.save_checkpoint(tiny.hub_snapshot(cache, "facebook/musicgen-melody"),
                         tiny.lm_config(text_encoder="t5-base", melody=True), tiny.compression_config(), seed=4)


def main() -> None:
    cache = Path(sys.argv[1])
    torch.set_num_threads(1)
    if not (cache / "models--facebook--musicgen-melody").exists():
        build(cache)
    engine = MusicGenEngine(None, device="cpu", default_model="small")
    status = engine.available()

    def render(prompt: str, model: str, seed: int = 5, **extra) -> np.ndarray:
        request = GenerationRequest(prompt=prompt, duration_s=2.0, params={"model": model}, **extra)
        return engine.render(request, seed=seed).numpy()

    lion = render("a lion dance with drums and gongs", "small")
    lion_again = render("a lion dance with drums and gongs", "small")
    pipa = render("a quiet pipa solo in the courtyard", "small")
    take, = engine.generate(GenerationRequest(prompt="a lion dance with drums and gongs", duration_s=2.0, seed=5,
                                              params={"model": "small"}))
    info = engine.load("small")

    t = np.arange(int(2.0 * 44_100)) / 44_100
    tune = (0.3 * np.sin(2 * np.pi * 440 * t * (1 + (t > 1.0) * 0.25))).astype(np.float32)
    melody = {"melody": np.stack([tune, tune], 1), "melody_sample_rate": 44_100}
    melody_lion = render("a lion dance with drums and gongs", "melody", **melody)
    melody_lion_again = render("a lion dance with drums and gongs", "melody", **melody)
    melody_pipa = render("a quiet pipa solo in the courtyard", "melody", **melody)
    melody_info = engine.load("melody")

    print(json.dumps({
        "status_ready": status.ready, "status": status.message,
        "small_path": str(info.location.path), "small_source": info.location.source,
        "text_encoder": info.text_encoder, "melody_text_encoder": melody_info.text_encoder,
        "melody_is_melody": melody_info.melody,
        "same_prompt_max_diff": float(np.max(np.abs(lion - lion_again))),
        "other_prompt_max_diff": float(np.max(np.abs(lion - pipa))) if lion.shape == pipa.shape else None,
        "other_prompt_shape_differs": lion.shape != pipa.shape,
        "melody_same_prompt_max_diff": float(np.max(np.abs(melody_lion - melody_lion_again))),
        "melody_other_prompt_max_diff": float(np.max(np.abs(melody_lion - melody_pipa))),
        "take_seconds": take.audio.shape[0] / take.sample_rate, "take_rms": float(np.sqrt(np.mean(take.audio ** 2))),
        "take_model": take.model, "describe": models.describe_model(info.location)[1],
    }))


if __name__ == "__main__":
    main()
