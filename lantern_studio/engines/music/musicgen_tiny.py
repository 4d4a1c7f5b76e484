"""Tiny (and full-size, random-weight) MusicGen models built from audiocraft's own builders.

No weights exist on a test machine, so tests and benchmarks assemble real MusicGen models from
``audiocraft.models.builders`` with a config of the same shape as a released checkpoint's ``xp.cfg``, then
save them in the on-disk layout a real checkpoint uses (``state_dict.bin`` + ``compression_state_dict.bin``,
each a ``torch.save``'d dict with ``best_state`` and the config as YAML, exactly what
``audiocraft.utils.export`` writes). The engine then loads them through its real loading path.

Text conditioning uses ``LUTConditioner(tokenizer="noop")`` (a hashed lookup table: no T5, no spaCy), or, with
``lm_config(text_encoder="t5-base")``, audiocraft's ``T5Conditioner`` as in every released checkpoint: it loads
``t5-base`` with ``from_pretrained`` from the Hugging Face cache, where :func:`save_tiny_t5` puts a random
one-layer T5 encoder of t5-base's width with a sentencepiece tokenizer trained on the spot. Melody models use
audiocraft's ``ChromaStemConditioner``, which loads demucs's ``htdemucs`` in its constructor; pass
:func:`tiny_demucs` as the engine's ``demucs_loader``, or put a random one where demucs looks for it with
:func:`save_tiny_htdemucs`, so nothing is downloaded.

``musicgen_small_shape_config`` gives the published shape of ``facebook/musicgen-small`` (1024-wide, 24
layers, 16 heads, 4 x 2048 codebooks at 50 Hz, EnCodec 32 kHz) with a LUT text conditioner in place of
T5-base: speed does not depend on the weights, so the benchmark times it with random weights on a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lantern_studio.engines.music.musicgen_models import COMPRESSION_FILE, LM_FILE, patched_demucs_loader


def compression_config(*, sample_rate: int = 8_000, channels: int = 1, n_filters: int = 4,
                       ratios: tuple[int, ...] = (4, 4, 5, 10), dimension: int = 16, n_q: int = 2,
                       bins: int = 32, n_residual_layers: int = 1, lstm: int = 0) -> dict[str, Any]:
    """An EnCodec config in the shape ``audiocraft.models.builders.get_compression_model`` reads.

    The frame rate is ``sample_rate // prod(ratios)``. The defaults (8 kHz, hop 800 -> 10 Hz) keep a test's
    token count and decoding small. Avoid a single large upsampling ratio (e.g. 50): on the CPU, oneDNN's
    ``conv_transpose1d`` then takes seconds to minutes for some lengths (torch 2.14).
    """
    return {
        "compression_model": "encodec",
        "device": "cpu",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": sample_rate,
                    "channels": channels, "causal": False, "renormalize": False},
        "seanet": {"dimension": dimension, "channels": channels, "causal": False, "n_filters": n_filters,
                   "n_residual_layers": n_residual_layers, "ratios": list(ratios), "activation": "ELU",
                   "activation_params": {"alpha": 1.0}, "norm": "weight_norm", "norm_params": {},
                   "kernel_size": 7, "last_kernel_size": 7, "residual_kernel_size": 3, "dilation_base": 2,
                   "pad_mode": "constant", "true_skip": True, "compress": 2, "lstm": lstm,
                   "disable_norm_outer_blocks": 0, "encoder": {}, "decoder": {}},
        "rvq": {"n_q": n_q, "bins": bins, "q_dropout": False, "decay": 0.99, "kmeans_init": False,
                "kmeans_iters": 1, "threshold_ema_dead_code": 2, "orthogonal_reg_weight": 0.0,
                "orthogonal_reg_active_codes_only": False, "orthogonal_reg_max_codes": None},
    }


def lm_config(*, dim: int = 16, num_heads: int = 2, num_layers: int = 1, n_q: int = 2, card: int = 32,
              segment_duration_s: float = 20.0, text_bins: int = 64, melody: bool = False,
              melody_sample_rate: int = 8_000, stereo: bool = False, memory_efficient: bool = False,
              text_encoder: str | None = None) -> dict[str, Any]:
    """A MusicGen LM config in the shape ``audiocraft.models.builders.get_lm_model`` reads.

    ``segment_duration_s`` is the model's window (``MusicGen.max_duration``); it must be above 18 s because
    ``MusicGen.__init__`` sets audiocraft's default ``extend_stride`` of 18 s. ``melody_sample_rate`` must be
    the codec's sample rate (audiocraft computes chroma at the model's rate). ``stereo`` interleaves two
    codebook streams (``n_q`` must then be even), as the ``musicgen-stereo-*`` models do. ``text_encoder``
    (e.g. ``"t5-base"``) conditions on T5 as the released checkpoints do, instead of a lookup table; building or
    loading the model then needs that T5 in the Hugging Face cache (:func:`save_tiny_t5`).
    """
    if text_encoder is None:
        description = {"model": "lut", "lut": {"n_bins": text_bins, "dim": dim, "tokenizer": "noop"}}
    else:
        description = {"model": "t5", "t5": {"name": text_encoder, "finetune": False, "word_dropout": 0.0,
                                             "normalize_text": False}}
    conditioners: dict[str, Any] = {"description": description}
    fuser = {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
             "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": []}
    if melody:
        conditioners["self_wav"] = {"model": "chroma_stem", "chroma_stem": {
            "sample_rate": melody_sample_rate, "n_chroma": 12, "radix2_exp": 10, "argmax": True,
            "match_len_on_eval": False, "eval_wavs": None, "n_eval_wavs": 0, "cache_path": None}}
        fuser["prepend"] = ["self_wav"]
    cfg: dict[str, Any] = {
        "lm_model": "transformer_lm",
        "device": "cpu",
        "dtype": "float32",
        "dataset": {"segment_duration": float(segment_duration_s)},
        "transformer_lm": {
            "dim": dim, "num_heads": num_heads, "num_layers": num_layers, "hidden_scale": 4, "n_q": n_q,
            "card": card, "dropout": 0.0, "emb_lr": None, "activation": "gelu", "norm_first": True,
            "bias_ff": False, "bias_attn": False, "bias_proj": False, "past_context": None, "causal": True,
            "custom": False, "memory_efficient": memory_efficient, "attention_as_float32": False,
            "layer_scale": None, "positional_embedding": "sin", "xpos": False, "checkpointing": "none",
            "weight_init": "gaussian", "depthwise_init": "current", "zero_bias_init": True,
            "norm": "layer_norm", "cross_attention": False, "qk_layer_norm": False,
            "qk_layer_norm_cross": False, "attention_dropout": None, "kv_repeat": 1, "two_step_cfg": False,
        },
        "codebooks_pattern": {"modeling": "delay",
                              "delay": {"delays": list(range(n_q)), "flatten_first": 0, "empty_initial": 0}},
        "classifier_free_guidance": {"training_dropout": 0.2, "inference_coef": 3.0},
        "attribute_dropout": {"text": {}, "wav": {}},
        "fuser": fuser,
        "conditioners": conditioners,
        "compression_model_n_q": None,
    }
    if stereo:
        if n_q % 2:
            raise ValueError(f"a stereo model interleaves two codebook streams, so n_q must be even (got {n_q})")
        cfg["interleave_stereo_codebooks"] = {"use": True, "per_timestep": False}
    return cfg


def musicgen_small_shape_config() -> tuple[dict[str, Any], dict[str, Any]]:
    """(lm_cfg, compression_cfg) with ``facebook/musicgen-small``'s published shape (random weights).

    LM: 1024 wide, 24 layers, 16 heads, 4 codebooks of 2048, 30 s window; EnCodec 32 kHz: 64 filters,
    ratios (8, 5, 4, 4) -> 50 Hz, 128-dim latent, LSTM bottleneck. T5-base is replaced by a LUT text
    conditioner (the text encoder runs once per take and does not affect the per-step speed).
    """
    lm = lm_config(dim=1024, num_heads=16, num_layers=24, n_q=4, card=2048, segment_duration_s=30.0,
                   text_bins=2048, memory_efficient=True)
    compression = compression_config(sample_rate=32_000, n_filters=64, ratios=(8, 5, 4, 4), dimension=128, n_q=4,
                                     bins=2048, n_residual_layers=1, lstm=2)
    return lm, compression


def build_models(lm_cfg: dict[str, Any], compression_cfg: dict[str, Any], *, seed: int = 0,
                 device: str = "cpu", demucs_loader=None):
    """Build (lm, compression_model) with random weights from the configs, on ``device``.

    ``demucs_loader`` (a callable ``name -> model``) stands in for demucs's pretrained loader when the LM
    has a melody (chroma-stem) conditioner; see :func:`tiny_demucs`.
    """
    import torch
    from omegaconf import OmegaConf
    from audiocraft.models import builders


    with torch.random.fork_rng(devices=[]):   # reproducible weights without touching the caller's random state
        torch.manual_seed(seed)
        ccfg = OmegaConf.create({**compression_cfg, "device": device})
        compression = builders.get_compression_model(ccfg).eval()
        lcfg = OmegaConf.create({**lm_cfg, "device": device,
                                 "dtype": "float32" if device == "cpu" else "float16"})
        with patched_demucs_loader(demucs_loader):
            lm = builders.get_lm_model(lcfg).eval()
    lm.cfg = lcfg
    return lm, compression


def save_checkpoint(directory: str | os.PathLike, lm_cfg: dict[str, Any], compression_cfg: dict[str, Any], *,
                    seed: int = 0, demucs_loader=None) -> Path:
    """Build random-weight models and write them as a released MusicGen checkpoint folder.

    Writes ``state_dict.bin`` and ``compression_state_dict.bin`` into ``directory`` (created if needed),
    each ``{"best_state": state_dict, "xp.cfg": yaml, "version": ..., "exported": True}`` as
    ``audiocraft.utils.export`` does. Returns the folder.
    """
    import torch
    from omegaconf import OmegaConf
    import audiocraft

    lm, compression = build_models(lm_cfg, compression_cfg, seed=seed, demucs_loader=demucs_loader)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for name, model, cfg in ((LM_FILE, lm, lm_cfg), (COMPRESSION_FILE, compression, compression_cfg)):
        package = {"best_state": model.state_dict(), "xp.cfg": OmegaConf.to_yaml(OmegaConf.create(cfg)),
                   "version": audiocraft.__version__, "exported": True}
        torch.save(package, folder / name)
    return folder


def tiny_demucs(name: str = "htdemucs"):
    """A tiny HTDemucs with random weights and the real model's four sources, for melody conditioning.

    Built from demucs's own class (no cross-transformer layers, to stay fast) so audiocraft's chroma conditioner
    runs its real separation code path.
    """
    import torch
    from demucs.htdemucs import HTDemucs

    with torch.random.fork_rng(devices=[]):   # fixed weights without touching the caller's random state
        torch.manual_seed(0)
        model = HTDemucs(**TINY_DEMUCS_KWARGS)
    return model.eval()


TINY_DEMUCS_KWARGS = {"sources": ["drums", "bass", "other", "vocals"], "audio_channels": 2, "channels": 4,
                      "growth": 2, "nfft": 512, "depth": 2, "t_layers": 0, "t_heads": 1, "bottom_channels": 0,
                      "dconv_depth": 1, "dconv_comp": 2, "segment": 2, "samplerate": 44_100}


# ----------------------------------------------------------------------- the parts released models fetch

# the widths audiocraft's T5Conditioner expects for each T5 name (its output is projected from this width)
T5_WIDTHS = {"t5-small": 512, "t5-base": 768, "t5-large": 1024}
TOKENIZER_TEXT = """A lion dance at the temple fair with drums and gongs.
Spring Festival melody on the guzheng and the dizi, bright and festive.
Lantern Festival night, a slow erhu tune under the lanterns by the river.
Firecrackers, suona and a big drum for the new year parade.
A quiet pipa solo in the courtyard, moonlight and tea.
"""


def hub_snapshot(hf_cache_dir: str | os.PathLike, repo_id: str, revision: str = "0" * 40) -> Path:
    """The snapshot folder of ``repo_id`` in a Hugging Face hub cache, created with ``refs/main`` naming it,
    as ``huggingface_hub`` lays out a download (files are plain copies here, not links into ``blobs/``)."""
    repo = Path(hf_cache_dir) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def save_tiny_t5(hf_cache_dir: str | os.PathLike, *, name: str = "t5-base", vocab_size: int = 48,
                 seed: int = 0) -> Path:
    """Put a random T5 encoder and a real sentencepiece tokenizer where ``from_pretrained(name)`` finds them.

    The encoder has ``name``'s width (audiocraft checks it) and one layer; the tokenizer is trained here on a
    few festival prompts with T5's special ids (pad 0, eos 1, unk 2), so tokenizing, the 100 extra ids and the
    encoder run exactly the code a real ``t5-base`` download runs. Returns the snapshot folder.
    """
    import io
    import json

    import sentencepiece
    import torch
    from transformers import T5Config, T5EncoderModel

    snapshot = hub_snapshot(hf_cache_dir, name)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(TOKENIZER_TEXT.splitlines()), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, hard_vocab_limit=False)
    (snapshot / "spiece.model").write_bytes(model.getvalue())
    pieces = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue()).get_piece_size()
    extra_ids = 100                                   # T5's sentinel tokens <extra_id_0> ... <extra_id_99>
    (snapshot / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "model_max_length": 512, "extra_ids": extra_ids, "eos_token": "</s>",
         "unk_token": "<unk>", "pad_token": "<pad>"}))
    config = T5Config(d_model=T5_WIDTHS[name], num_layers=1, num_heads=2, d_kv=64, d_ff=64,
                      vocab_size=pieces + extra_ids, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        T5EncoderModel(config).save_pretrained(snapshot)
    return snapshot


def save_tiny_htdemucs(hf_cache_dir: str | os.PathLike, *, name: str = "htdemucs") -> Path:
    """Put :func:`tiny_demucs` where ``demucs.pretrained.get_model(name)`` looks first: the Hugging Face repo
    ``adefossez/HTDemucs`` with the bag's ``htdemucs.yaml`` and one safetensors file whose metadata holds the
    class and its arguments, as demucs's own export writes them. Returns the snapshot folder."""
    import json

    from safetensors.torch import save_file

    signature = "955717e8"                        # the released htdemucs's model signature
    snapshot = hub_snapshot(hf_cache_dir, "adefossez/HTDemucs")
    (snapshot / f"{name}.yaml").write_text(f"models: ['{signature}']\n")
    model = tiny_demucs(name)
    metadata = {"klass": "demucs.htdemucs.HTDemucs", "args": "[]", "kwargs": json.dumps(TINY_DEMUCS_KWARGS)}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(snapshot / f"{signature}.safetensors"),
              metadata=metadata)
    return snapshot
