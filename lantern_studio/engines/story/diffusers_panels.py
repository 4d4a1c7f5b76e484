"""Text-to-image panels from a local diffusers model (Stable Diffusion 1.5, SDXL, SD-Turbo style pipelines).

The renderer reads as a story:

1. :func:`find_local_models` lists pipeline folders (a ``model_index.json`` inside) under the models folder;
   :meth:`DiffusersRenderer.available` says whether the configured one is there, and what to do if not.
2. :meth:`DiffusersRenderer.build_prompt` writes the prompt from the style preset (manga, Chinese ink,
   cel-shaded), the shot size, the scene, the character bible (name and description of everyone in the
   shot) and the action; the negative prompt from the preset plus the user's.
3. :meth:`DiffusersRenderer.seed_for` fixes the seed per character: a shot's seed is its main character's
   bible seed (plus a variation number when one panel is regenerated), so a character is drawn from the
   same noise in every panel.
4. :meth:`DiffusersRenderer.render_many` runs the pipeline in batches with progress and cancel (checked at
   every denoising step); :meth:`DiffusersRenderer.render` makes or regenerates one panel.

The pipeline loads with ``local_files_only=True``: nothing is downloaded. On CUDA it runs in fp16 when asked
(``dtype="auto"`` does so there), with attention slicing or model CPU offload for small GPUs.
:func:`build_tiny_pipeline` saves a tiny random Stable Diffusion pipeline built from configs, so tests (and
a user checking the set-up) exercise the real loading path without weights.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from PIL import Image

from lantern_studio.engines.errors import ModelNotFoundError  # noqa: F401  (re-exported: the studio's one)
from lantern_studio.engines.story.bible import character_prompt
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.shots import is_narrator
from lantern_studio.engines.jobs import Cancelled, cancel_requested, check_cancel
from lantern_studio.engines.story.panels import RenderedPanel, RendererBase, letter_panel, setting_for

STYLE_PRESETS = {
    "manga": ("manga panel, black and white manga, screentone shading, clean ink line art, expressive faces",
              "color, photo, photorealistic, 3d render"),
    "chinese_ink": ("Chinese ink wash painting, shuimo, xieyi brush strokes, rice paper texture, soft washes",
                    "photo, photorealistic, 3d render, neon"),
    "cel": ("cel-shaded anime illustration, flat colors, bold outlines, clean shading, vibrant",
            "photo, photorealistic, sketch, blurry"),
}
SIZE_WORDS = {"EWS": "extreme wide shot, establishing shot, tiny figures", "WS": "wide shot, full body",
              "MS": "medium shot, waist up", "MCU": "medium close-up, chest up", "CU": "close-up on the face",
              "ECU": "extreme close-up, detail"}
BASE_NEGATIVE = "lowres, bad anatomy, bad hands, extra fingers, text, watermark, signature, deformed, blurry"
DEFAULT_SIZE = (576, 1024)        # 9:16, multiples of 64


def missing_model_message(where: Path) -> str:
    return (f"no diffusers model at {where}: the folder must hold a pipeline saved with save_pretrained "
            "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/). On a machine with internet "
            f"run `huggingface-cli download stabilityai/sd-turbo --local-dir {where}` (or any Stable Diffusion "
            "1.5/SDXL model) and try again; the previz renderer works without any model")


def find_local_models(models_dir: str | Path) -> list[Path]:
    """Pipeline folders (holding ``model_index.json``) in ``models_dir`` itself or up to two levels below."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = []
    for pattern in ("model_index.json", "*/model_index.json", "*/*/model_index.json"):
        found += [p.parent for p in sorted(root.glob(pattern))]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class DiffusersOptions:
    """How panels are generated.

    ``size`` is (width, height) in pixels, multiples of 8 (9:16 by default). ``guidance_scale`` 0 suits
    SD-Turbo (1-4 steps); 7 suits SD 1.5. ``dtype`` ``"auto"`` is fp16 on CUDA and fp32 elsewhere.
    ``attention_slicing`` and ``cpu_offload`` trade speed for memory on small GPUs. ``batch_size`` panels go
    through the pipeline together.
    """

    style: str = "manga"
    steps: int = 20
    guidance_scale: float = 7.0
    size: tuple[int, int] = DEFAULT_SIZE
    negative_prompt: str = ""
    dtype: str = "auto"
    attention_slicing: bool = False
    cpu_offload: bool = False
    batch_size: int = 1
    device: str = "auto"

    def validate(self) -> None:
        if self.style not in STYLE_PRESETS:
            raise ValueError(f"style {self.style!r} is not one of {', '.join(STYLE_PRESETS)}")
        if not 1 <= int(self.steps) <= 150:
            raise ValueError(f"steps must be 1..150, not {self.steps}")
        if not (math.isfinite(self.guidance_scale) and 0 <= self.guidance_scale <= 30):
            raise ValueError(f"guidance_scale must be 0..30, not {self.guidance_scale}")
        width, height = self.size
        if width % 8 or height % 8 or not (64 <= width <= 2048 and 64 <= height <= 2048):
            raise ValueError(f"size {width}x{height} must be multiples of 8 between 64 and 2048 px "
                             "(576x1024 is 9:16)")
        if self.dtype not in ("auto", "fp16", "fp32", "bf16"):
            raise ValueError(f"dtype {self.dtype!r} is not one of auto, fp16, fp32, bf16")
        if not 1 <= int(self.batch_size) <= 16:
            raise ValueError(f"batch_size must be 1..16, not {self.batch_size}")


class DiffusersRenderer(RendererBase):
    """Panels from a local Stable Diffusion style pipeline; see the module docstring."""

    name = "diffusers"

    def __init__(self, model_dir: str | Path, *, options: DiffusersOptions = DiffusersOptions(),
                 pipeline: Any = None):
        options.validate()
        self.model_dir = Path(model_dir).expanduser()
        self.options = options
        self._pipe = pipeline
        self._device = None

    # ---- set-up ------------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        if self._pipe is not None:
            return True, f"diffusers model loaded from {self.model_dir}"
        if not (self.model_dir / "model_index.json").is_file():
            return False, missing_model_message(self.model_dir)
        try:
            import diffusers  # noqa: F401
        except ImportError:
            return False, "the diffusers package is not installed; run `pip install diffusers accelerate`"
        return True, f"diffusers model at {self.model_dir}"

    def load(self, progress: Callable[[float, str], None] | None = None) -> Any:
        """Load the pipeline once (local files only) onto the chosen device."""
        if self._pipe is not None:
            return self._pipe
        ok, message = self.available()
        if not ok:
            raise ModelNotFoundError(message)
        import torch
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline

        from lantern_studio.engines.devices import resolve_device

        device = resolve_device(self.options.device)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}.get(self.options.dtype)
        if dtype is None:
            dtype = torch.float16 if device.startswith("cuda") else torch.float32
        if dtype == torch.float16 and device == "cpu":
            raise ValueError("fp16 needs a GPU; choose dtype fp32 (or auto) on the CPU")
        if progress is not None:
            progress(0.0, f"loading {self.model_dir.name}")
        try:
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(self.model_dir, local_files_only=True, dtype=dtype)
            except ValueError:
                pipe = DiffusionPipeline.from_pretrained(self.model_dir, local_files_only=True, dtype=dtype)
        except (OSError, ValueError, json.JSONDecodeError) as error:
            raise ModelNotFoundError(f"{self.model_dir} could not be loaded as a diffusers pipeline ({error}); "
                                     + missing_model_message(self.model_dir)) from error
        if self.options.attention_slicing:
            pipe.enable_attention_slicing()
        if self.options.cpu_offload:
            if not device.startswith("cuda"):
                raise ValueError("CPU offload moves parts of the model between the GPU and the CPU; it needs "
                                 "CUDA. Turn it off on this machine")
            pipe.enable_model_cpu_offload()
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        self._pipe, self._device = pipe, device
        return pipe

    def unload(self) -> None:
        """Drop the pipeline and free its memory."""
        self._pipe = None
        try:
            from lantern_studio.engines.devices import release_memory

            release_memory()
        except Exception:       # freeing memory is best effort
            pass

    # ---- prompts and seeds --------------------------------------------------------------------
    def build_prompt(self, shot: Shot, board: Storyboard) -> tuple[str, str]:
        """``(prompt, negative prompt)`` for a shot: style, framing, place, characters, action."""
        style, style_negative = STYLE_PRESETS[self.options.style]
        setting = setting_for(shot, board)
        place = f"{'interior' if setting.interior else 'exterior'}, {setting.key}, {setting.time}"
        if setting.festival:
            place += ", red lanterns, festival"
        names = list(dict.fromkeys(([shot.speaker] if shot.speaker else []) + list(shot.characters) +
                                   ([shot.dual_speaker] if shot.dual_speaker else [])))
        names = [n for n in names if not is_narrator(n)]
        people = [character_prompt(board.characters[n]) if n in board.characters else n for n in names]
        parts = [style, SIZE_WORDS.get(shot.size, "")]
        if people:
            parts.append(", ".join(people))
        if shot.action:
            parts.append(shot.action.replace("\n", " "))
        if shot.parenthetical:
            parts.append(shot.parenthetical)
        parts.append(place)
        negative = ", ".join(p for p in (BASE_NEGATIVE, style_negative, self.options.negative_prompt) if p)
        return ", ".join(p for p in parts if p), negative

    def seed_for(self, shot: Shot, board: Storyboard, *, variation: int = 0) -> int:
        """The main character's bible seed (or a seed from the scene when nobody is in the shot)."""
        speaker = "" if is_narrator(shot.speaker) else shot.speaker
        main = speaker or (shot.characters[0] if shot.characters else "")
        if main and main in board.characters:
            base = int(board.characters[main].seed)
        else:
            base = zlib.crc32(f"{shot.scene}|{shot.number}".encode("utf-8")) & 0x7FFFFFFF
        return (base + 7919 * int(variation)) % (2**31)

    # ---- rendering ----------------------------------------------------------------------------
    def render(self, shot: Shot, board: Storyboard, *, size=None, lettering: bool = False,
               variation: int = 0, header: bool | None = None) -> RenderedPanel:
        """One panel (regenerate with another ``variation`` for a different take of the same shot)."""
        return self._run([shot], board, size=size, lettering=lettering, variation=variation)[0]

    def render_many(self, board: Storyboard, *, size=None, shots: Iterable[Shot] | None = None,
                    lettering: bool = False, progress=None, cancel=None, variation: int = 0) -> list[RenderedPanel]:
        """All shots (or ``shots``) in batches of ``options.batch_size``, with progress and cancel.

        Raises ``engines.jobs.Cancelled`` (``.partial``: the finished panels) when cancelled, between denoising steps.
        """
        return self._run(list(board.shots if shots is None else shots), board, size=size, lettering=lettering,
                         variation=variation, progress=progress, cancel=cancel)

    def _run(self, shots: list[Shot], board: Storyboard, *, size, lettering: bool, variation: int,
             progress=None, cancel=None) -> list[RenderedPanel]:
        import torch

        if not shots:
            raise ValueError("there are no shots to render")
        width, height = self.options.size if size is None else tuple(int(v) for v in size)
        gen_w, gen_h = (width // 8) * 8, (height // 8) * 8
        if gen_w < 64 or gen_h < 64:
            raise ValueError(f"size {width}x{height} is too small; use at least 64x64 px")
        pipe = self.load(progress)
        steps = int(self.options.steps)
        batch = int(self.options.batch_size)
        done: list[RenderedPanel] = []
        total_steps = len(shots) * steps
        for start in range(0, len(shots), batch):
            chunk = shots[start:start + batch]
            check_cancel(cancel, f"cancelled after {len(done)} of {len(shots)} panels", done)
            prompts, negatives, generators = [], [], []
            for shot in chunk:
                prompt, negative = self.build_prompt(shot, board)
                prompts.append(prompt)
                negatives.append(negative)
                generator_device = "cpu" if self._device in (None, "mps") else self._device
                generators.append(torch.Generator(device=generator_device).manual_seed(
                    self.seed_for(shot, board, variation=variation)))
            state = {"cancelled": False}

            def on_step(pipeline, step, timestep, callback_kwargs, _start=start):
                if progress is not None:
                    finished = _start * steps + (step + 1) * len(chunk)
                    progress(min(1.0, finished / total_steps),
                             f"panels {_start + 1}-{_start + len(chunk)} of {len(shots)}: step {step + 1}/{steps}")
                if cancel_requested(cancel):
                    state["cancelled"] = True
                    pipeline._interrupt = True
                return callback_kwargs

            kwargs = dict(prompt=prompts, negative_prompt=negatives, generator=generators, num_inference_steps=steps,
                          guidance_scale=float(self.options.guidance_scale), width=gen_w, height=gen_h,
                          callback_on_step_end=on_step)
            if float(self.options.guidance_scale) <= 1.0:
                kwargs.pop("negative_prompt")      # no classifier-free guidance: the negative prompt is unused
            with torch.inference_mode():
                result = pipe(**kwargs)
            if state["cancelled"]:
                raise Cancelled(f"cancelled after {len(done)} of {len(shots)} panels", done)
            for shot, image in zip(chunk, result.images):
                image = image.convert("RGBA")
                if image.size != (width, height):
                    image = image.resize((width, height), Image.Resampling.LANCZOS)
                anchors = guess_anchors(shot, (width, height))
                if lettering:
                    letter_panel(image, shot, board, anchors)
                done.append(RenderedPanel(shot_number=shot.number, image=image, anchors=anchors,
                                          renderer=self.name))
        return done


# where a generated image most likely has each character's head, for bubble tails (by shot size)
_HEAD_Y = {"EWS": 0.62, "WS": 0.38, "MS": 0.3, "MCU": 0.36, "CU": 0.42, "ECU": 0.45}


def guess_anchors(shot: Shot, size: tuple[int, int]) -> dict[str, tuple[float, float]]:
    """Likely head positions in a generated panel: the cast spread evenly across, at a height by shot size."""
    width, height = size
    names = list(dict.fromkeys(([shot.speaker] if shot.speaker else []) + list(shot.characters) +
                               ([shot.dual_speaker] if shot.dual_speaker else [])))
    names = [n for n in names if not is_narrator(n)]
    if shot.size in ("MCU", "CU", "ECU") and shot.speaker in names and not shot.dual_speaker:
        names = [shot.speaker]
    y = height * _HEAD_Y.get(shot.size, 0.4)
    return {name: (width * (i + 1) / (len(names) + 1), y) for i, name in enumerate(names)}


# ------------------------------------------------------------------------------------------------
# a tiny real pipeline, built from configs (tests and set-up checks; random weights, no download)
# ------------------------------------------------------------------------------------------------


def _byte_level_vocab() -> dict[str, int]:
    """CLIP's byte-level alphabet (each byte and its end-of-word form) plus the two special tokens."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = keep[:], 0
    for byte in range(256):
        if byte not in keep:
            keep.append(byte)
            codes.append(256 + extra)
            extra += 1
    chars = [chr(c) for c in codes]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars + [c + "</w>" for c in chars]:
        vocab[ch] = len(vocab)
    return vocab


def build_tiny_pipeline(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random Stable Diffusion pipeline (UNet, 4-block VAE, CLIP text encoder and tokenizer,
    Euler scheduler) into ``out_dir`` with ``save_pretrained``; load it back through :class:`DiffusersRenderer`.

    Its images are noise, but every step of the real path runs: local loading, prompts, seeds, batches,
    progress and cancel. Building and saving takes a few seconds on a CPU.
    """
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(out_dir)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=8, attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        latent_channels=4, norm_num_groups=2, layers_per_block=1)
    vocab = _byte_level_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                                                intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                                vocab_size=len(vocab), max_position_embeddings=77))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(out)
    return out


def options_with(options: DiffusersOptions, **changes: Any) -> DiffusersOptions:
    """A validated copy of ``options`` with ``changes``."""
    new = replace(options, **changes)
    new.validate()
    return new
