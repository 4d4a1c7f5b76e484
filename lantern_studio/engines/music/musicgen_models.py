"""Finding and loading MusicGen checkpoints, offline.

A MusicGen checkpoint is a folder with audiocraft's two files: ``state_dict.bin`` (the language model, with its
training config as YAML under ``xp.cfg``) and ``compression_state_dict.bin`` (the EnCodec audio tokenizer, or
a reference to a pretrained one). Released models and a user's own fine-tunes use the same layout.

Where models are looked for, in order:

1. the studio's models folder (``--models-dir`` / ``LANTERN_MODELS_DIR``): the folder itself, any sub-folder up
   to two levels deep (``models/my-finetune/``, ``models/musicgen/small/``), and a Hugging Face cache layout
   inside it (``models/models--facebook--musicgen-small/snapshots/<rev>/``);
2. the Hugging Face cache (``HF_HUB_CACHE``, ``HF_HOME/hub`` or ``~/.cache/huggingface/hub``).

Nothing is downloaded unless the user asked (``LANTERN_ALLOW_DOWNLOADS=1``); a missing model raises
:class:`ModelNotFoundError` naming the model, the folders searched and the command that fetches it.
Before loading, each file is opened memory-mapped to check it is a readable checkpoint and to read its
config (window, frame rate, size, melody/stereo, text encoder) without loading the weights.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from lantern_studio.engines.devices import MemoryEstimate, bytes_per_parameter
from lantern_studio.engines.errors import ModelNotFoundError, UserInputError  # noqa: F401  (re-exported)

LM_FILE = "state_dict.bin"
COMPRESSION_FILE = "compression_state_dict.bin"

PUBLISHED = {
    # name: (parameters, melody, stereo) as published on the Hugging Face hub
    "facebook/musicgen-small": (300e6, False, False),
    "facebook/musicgen-medium": (1.5e9, False, False),
    "facebook/musicgen-large": (3.3e9, False, False),
    "facebook/musicgen-melody": (1.5e9, True, False),
    "facebook/musicgen-melody-large": (3.3e9, True, False),
    "facebook/musicgen-stereo-small": (300e6, False, True),
    "facebook/musicgen-stereo-medium": (1.5e9, False, True),
    "facebook/musicgen-stereo-large": (3.3e9, False, True),
    "facebook/musicgen-stereo-melody": (1.5e9, True, True),
    "facebook/musicgen-stereo-melody-large": (3.3e9, True, True),
}
SHORT_NAMES = {name.split("/musicgen-", 1)[1]: name for name in PUBLISHED}   # "small" -> "facebook/musicgen-small"
PRETRAINED_CODEC_FRAME_RATES = {"facebook/encodec_32khz": (32_000, 50), "facebook/encodec_24khz": (24_000, 75)}
HTDEMUCS_SIGNATURE_FILE = "955717e8-8726e21a.th"     # demucs's legacy download of htdemucs (torch hub cache)
HTDEMUCS_HF = ("adefossez/HTDemucs", "htdemucs.yaml")  # demucs >= 4.1 looks on the hub first


class CheckpointError(UserInputError):
    """A checkpoint file exists but cannot be used; the message names the file and what to do."""


def downloads_allowed(environ: dict | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("LANTERN_ALLOW_DOWNLOADS", "").strip().lower() in ("1", "true", "yes")


def default_hf_cache() -> Path:
    """The Hugging Face hub cache folder, honouring ``HF_HUB_CACHE`` and ``HF_HOME`` as huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def canonical_name(name: str) -> str:
    """``"small" -> "facebook/musicgen-small"``; any other name is returned unchanged."""
    return SHORT_NAMES.get(name, name)


def download_command(name: str) -> str:
    return ("python -c \"from huggingface_hub import snapshot_download; "
            f"snapshot_download('{name}', allow_patterns=['*.bin', '*.json'])\"")


@dataclass(frozen=True)
class ModelLocation:
    """A checkpoint folder found on disk. ``source`` is ``"models-dir"`` or ``"hf-cache"``."""

    name: str
    path: Path
    source: str

    @property
    def size_bytes(self) -> int:
        return sum((self.path / f).stat().st_size for f in (LM_FILE, COMPRESSION_FILE)
                   if (self.path / f).exists())

    def describe(self) -> str:
        return f"{self.name} ({self.source}: {self.path})"


def _snapshot_dirs(repo_dir: Path) -> list[Path]:
    """A hub cache repo's snapshots, the one ``refs/main`` names first."""
    snapshots = repo_dir / "snapshots"
    if not snapshots.is_dir():
        return []
    found = sorted((p for p in snapshots.iterdir() if (p / LM_FILE).exists()),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        main = snapshots / ref.read_text().strip()
        found.sort(key=lambda p: p != main)
    return found


def _scan_hub_cache(cache: Path, source: str) -> list[ModelLocation]:
    found = []
    if not cache.is_dir():
        return found
    for repo_dir in sorted(cache.glob("models--*")):
        snapshots = _snapshot_dirs(repo_dir)
        if snapshots:
            name = repo_dir.name[len("models--"):].replace("--", "/")
            location = ModelLocation(name, snapshots[0], source)
            if _looks_like_musicgen(location):
                found.append(location)
    return found


def find_models(models_dir: Path | None, *, hf_cache_dir: Path | None = None) -> list[ModelLocation]:
    """Every MusicGen checkpoint folder found, models folder first, then the Hugging Face cache.

    Parameters
    ----------
    models_dir : Path or None
        The studio's models folder (searched to two levels, plus a hub-cache layout inside it).
    hf_cache_dir : Path, optional
        The Hugging Face hub cache (default: :func:`default_hf_cache`).
    """
    found: list[ModelLocation] = []
    if models_dir is not None and Path(models_dir).is_dir():
        root = Path(models_dir)
        if (root / LM_FILE).exists():
            found.append(ModelLocation(root.name, root, "models-dir"))
        for child in sorted(root.iterdir()):
            if not child.is_dir() or child.name.startswith((".", "models--")):
                continue
            if (child / LM_FILE).exists():
                found.append(ModelLocation(child.name, child, "models-dir"))
            else:
                for grandchild in sorted(child.iterdir()) if child.is_dir() else []:
                    if grandchild.is_dir() and (grandchild / LM_FILE).exists():
                        found.append(ModelLocation(f"{child.name}/{grandchild.name}", grandchild, "models-dir"))
        found.extend(_scan_hub_cache(root, "models-dir"))
    cache = Path(hf_cache_dir) if hf_cache_dir is not None else default_hf_cache()
    found.extend(_scan_hub_cache(cache, "hf-cache"))
    return found


def _looks_like_musicgen(location: ModelLocation) -> bool:
    # A hub cache holds other models too (T5, EnCodec, diffusers): keep audiocraft checkpoints (both files) and
    # published MusicGen ids (so a half-downloaded one is reported as damaged rather than missing).
    return (location.path / COMPRESSION_FILE).exists() or "musicgen" in location.name.lower()


def resolve_model(name: str, models_dir: Path | None, *, hf_cache_dir: Path | None = None) -> ModelLocation:
    """The checkpoint folder for ``name`` (a published id, a short name like ``"small"``, a folder name in
    the models folder, or a path to a checkpoint folder).

    Raises
    ------
    ModelNotFoundError
        Naming the model, the folders searched and the command a user with internet would run.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("model name is empty: give a published id such as 'facebook/musicgen-small' or the "
                         "name of a folder in the models folder")
    wanted = canonical_name(name.strip())
    direct = Path(wanted).expanduser()
    if direct.is_dir() and (direct / LM_FILE).exists():
        return ModelLocation(direct.name, direct, "path")
    for location in find_models(models_dir, hf_cache_dir=hf_cache_dir):
        if location.name == wanted or location.name.split("/")[-1] == wanted:
            return location
    cache = Path(hf_cache_dir) if hf_cache_dir is not None else default_hf_cache()
    searched = [str(models_dir)] if models_dir is not None else []
    searched.append(str(cache))
    how = (f"With internet, run: {download_command(wanted)} (or set LANTERN_ALLOW_DOWNLOADS=1 and generate "
           "again)" if "/" in wanted else
           f"Put a folder named '{wanted}' holding {LM_FILE} and {COMPRESSION_FILE} in {models_dir}")
    raise ModelNotFoundError(
        f"MusicGen model '{wanted}' was not found in {', '.join(searched)}. {how}. A fine-tune goes in the "
        f"models folder as a sub-folder with {LM_FILE} and {COMPRESSION_FILE}. The built-in composer works "
        "without any model.")


def download_model(name: str, *, hf_cache_dir: Path | None = None) -> ModelLocation:
    """Fetch a published model into the Hugging Face cache. Only call this when the user asked for it."""
    from huggingface_hub import snapshot_download

    wanted = canonical_name(name)
    path = snapshot_download(wanted, allow_patterns=["*.bin", "*.json"],
                             cache_dir=None if hf_cache_dir is None else str(hf_cache_dir))
    return ModelLocation(wanted, Path(path), "hf-cache")


# ---------------------------------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint is, read from its config without loading the weights."""

    location: ModelLocation
    lm_parameters: int
    compression_parameters: int
    dim: int
    num_layers: int
    n_q: int
    card: int
    window_s: float
    sample_rate: int
    frame_rate: float
    channels: int
    melody: bool
    text_encoder: str | None        # e.g. "t5-base"; None for a lookup-table conditioner
    compression_pretrained: str | None
    codec_filters: int = 64         # EnCodec decoder channels at the full sample rate

    def estimate(self, *, device: str, duration_s: float, include_weights: bool = True) -> MemoryEstimate:
        """Peak memory to generate ``duration_s`` of one take on ``device``.

        Weights (LM + EnCodec + text encoder) in the device's precision; the LM's key/value cache for one
        window with classifier-free guidance (batch 2), per layer: 2 x dim values per token (x1.5 for the
        copies streaming attention makes); EnCodec decoding of the whole take at once in float32 (about three
        live tensors of ``codec_filters`` channels at the full sample rate); a fixed 256 MiB for the runtime
        (CUDA context, workspaces).
        """
        per = bytes_per_parameter(device)
        parts: dict[str, int] = {}
        if include_weights:
            text_params = {"t5-small": 60e6, "t5-base": 220e6, "t5-large": 770e6, "t5-3b": 3e9,
                           "t5-11b": 11e9}.get(self.text_encoder or "", 0)
            parts["weights"] = int((self.lm_parameters + text_params) * per + self.compression_parameters * 4)
        window_tokens = self.frame_rate * min(duration_s, self.window_s) + self.n_q
        parts["attention cache"] = int(2 * 2 * self.num_layers * self.dim * per * window_tokens * 1.5)
        parts["decoding"] = int(duration_s * self.sample_rate * self.channels * 3 * self.codec_filters * 4)
        if self.melody:   # htdemucs (~84M parameters) separating the melody, plus its activations
            parts["melody separation"] = int(84e6 * 4 + min(duration_s, self.window_s) * 44_100 * 2 * 4 * 64)
        parts["runtime"] = 256 * 2**20
        return MemoryEstimate(parts)


def _read_package(path: Path) -> dict[str, Any]:
    """Open a checkpoint file memory-mapped (cheap) and check it is an audiocraft export."""
    import torch

    if not path.exists():
        raise CheckpointError(f"{path} is missing: a MusicGen checkpoint folder needs both {LM_FILE} and "
                              f"{COMPRESSION_FILE}. Copy the missing file from the model's source again.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (an interrupted copy or download?). Delete it and copy or "
                              "download the model again.")
    try:
        package = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged zip or pickle
        raise CheckpointError(f"{path} could not be read as a MusicGen checkpoint ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else 'no detail'}). The file is damaged "
                              "or incomplete: delete it and copy or download the model again.") from error
    if not isinstance(package, dict) or not ("best_state" in package or "pretrained" in package):
        raise CheckpointError(f"{path} is not an audiocraft MusicGen export (expected a dict with 'best_state' "
                              "and 'xp.cfg', as audiocraft.utils.export writes). Export the training checkpoint "
                              "with audiocraft.utils.export.export_lm / export_encodec first.")
    return package


def _config(package: dict[str, Any], path: Path):
    from omegaconf import OmegaConf

    try:
        return OmegaConf.create(package["xp.cfg"])
    except Exception as error:
        raise CheckpointError(f"{path} has no readable training config ('xp.cfg'): {error}. Export it again "
                              "with audiocraft.utils.export.") from error


def inspect_model(location: ModelLocation) -> ModelInfo:
    """Read a checkpoint's config and size without loading its weights.

    Raises
    ------
    CheckpointError
        Naming the damaged or missing file.
    """
    import math

    lm_path = location.path / LM_FILE
    codec_path = location.path / COMPRESSION_FILE
    lm_package = _read_package(lm_path)
    codec_package = _read_package(codec_path)
    if "best_state" not in lm_package:
        raise CheckpointError(f"{lm_path} has no 'best_state': it is not a MusicGen language model export.")
    cfg = _config(lm_package, lm_path)
    try:
        lm_params = sum(t.numel() for t in lm_package["best_state"].values() if hasattr(t, "numel"))
        transformer = cfg.transformer_lm
        conditioners = cfg.get("conditioners") or {}
        text_encoder = None
        melody = False
        for cond in conditioners.values():
            if not hasattr(cond, "get"):
                continue
            if cond.get("model") == "t5":
                text_encoder = str(cond.t5.name)
            if cond.get("model") == "chroma_stem":
                melody = True
        window_s = float(cfg.dataset.segment_duration)
        stereo = bool(cfg.get("interleave_stereo_codebooks", {}).get("use", False))
    except Exception as error:
        raise CheckpointError(f"{lm_path} has a config this studio cannot read as MusicGen ({error}).") from error
    pretrained = codec_package.get("pretrained")
    codec_filters = 64
    if pretrained is not None:
        sample_rate, frame_rate = PRETRAINED_CODEC_FRAME_RATES.get(str(pretrained), (32_000, 50))
        codec_params = 60_000_000
    else:
        codec_cfg = _config(codec_package, codec_path)
        try:
            sample_rate = int(codec_cfg.encodec.sample_rate)
            frame_rate = sample_rate / math.prod(int(r) for r in codec_cfg.seanet.ratios)
            codec_filters = int(codec_cfg.seanet.n_filters)
            codec_params = sum(t.numel() for t in codec_package["best_state"].values() if hasattr(t, "numel"))
        except Exception as error:
            raise CheckpointError(f"{codec_path} has a config this studio cannot read as EnCodec "
                                  f"({error}).") from error
    return ModelInfo(location=location, lm_parameters=int(lm_params), compression_parameters=int(codec_params),
                     dim=int(transformer.dim), num_layers=int(transformer.num_layers), n_q=int(transformer.n_q),
                     card=int(transformer.card), window_s=window_s, sample_rate=sample_rate,
                     frame_rate=float(frame_rate), channels=2 if stereo else 1, melody=melody,
                     text_encoder=text_encoder, compression_pretrained=None if pretrained is None else str(pretrained),
                     codec_filters=codec_filters)


# ------------------------------------------------------------------------------------------------- loading

_DEMUCS_LOCK = threading.Lock()


@contextlib.contextmanager
def patched_demucs_loader(loader: Callable[[str], Any] | None) -> Iterator[None]:
    """While building a melody model, make demucs's ``pretrained.get_model`` call ``loader`` instead.

    audiocraft's ``ChromaStemConditioner`` loads ``htdemucs`` in its constructor with no way to pass a model
    in; this is the narrowest seam. With ``loader=None`` nothing is patched.
    """
    if loader is None:
        yield
        return
    from demucs import pretrained

    with _DEMUCS_LOCK:
        original = pretrained.get_model
        pretrained.get_model = lambda name, repo=None: loader(name)
        try:
            yield
        finally:
            pretrained.get_model = original


def htdemucs_cached(*, hf_cache_dir: Path | None = None) -> tuple[bool, list[str]]:
    """Whether demucs's ``htdemucs`` is on disk, and where it was looked for."""
    import torch

    cache = Path(hf_cache_dir) if hf_cache_dir is not None else default_hf_cache()
    repo, yaml_name = HTDEMUCS_HF
    hub_repo = cache / ("models--" + repo.replace("/", "--"))
    hub_hit = any((snap / yaml_name).exists() for snap in (hub_repo / "snapshots").glob("*")) \
        if (hub_repo / "snapshots").is_dir() else False
    torch_hub = Path(torch.hub.get_dir()) / "checkpoints" / HTDEMUCS_SIGNATURE_FILE
    return hub_hit or torch_hub.exists(), [str(hub_repo), str(torch_hub)]


def _hf_snapshot(name: str, cache: Path) -> Path | None:
    """The snapshot folder of a hub repo in ``cache`` (``refs/main``'s first), or None when it is not there."""
    candidates = [name] + ([f"google-t5/{name}"] if name.startswith("t5-") else [])
    for candidate in candidates:
        repo = cache / ("models--" + candidate.replace("/", "--"))
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
            return snapshots / ref.read_text().strip()
        found = sorted(p for p in snapshots.iterdir() if p.is_dir())
        if found:
            return found[0]
    return None


def _hf_repo_cached(name: str, cache: Path) -> bool:
    return _hf_snapshot(name, cache) is not None


# what from_pretrained reads for a T5 text encoder: the config, the weights (either format) and the tokenizer
T5_FILES = ("config.json", ("model.safetensors", "pytorch_model.bin"), "spiece.model")


def text_encoder_problem(name: str, cache: Path) -> str | None:
    """Why the text encoder ``name`` cannot load offline from ``cache`` (naming the files), or None if it can."""
    fetch = (f"With internet, run: python -c \"from transformers import T5EncoderModel, T5Tokenizer; "
             f"T5Tokenizer.from_pretrained('{name}'); T5EncoderModel.from_pretrained('{name}')\" "
             "(or set LANTERN_ALLOW_DOWNLOADS=1).")
    snapshot = _hf_snapshot(name, cache)
    if snapshot is None:
        return f"the text encoder '{name}' is not in the Hugging Face cache {cache}. {fetch}"
    missing = [" or ".join(f) if isinstance(f, tuple) else f for f in T5_FILES
               if not any((snapshot / part).is_file() for part in (f if isinstance(f, tuple) else (f,)))]
    if missing:
        return (f"the text encoder '{name}' in {snapshot} lacks {', '.join(missing)} (an interrupted download?). "
                f"Delete {snapshot.parent.parent} and fetch it again. {fetch}")
    return None


def parts_found(info: ModelInfo, *, demucs_loader: Callable[[str], Any] | None = None,
                hf_cache_dir: Path | None = None) -> list[tuple[str, str | None]]:
    """The parts a checkpoint needs besides its own two files, each with None (found) or why it is missing."""
    cache = Path(hf_cache_dir) if hf_cache_dir is not None else default_hf_cache()
    parts: list[tuple[str, str | None]] = []
    if info.text_encoder:
        parts.append((f"text encoder {info.text_encoder}", text_encoder_problem(info.text_encoder, cache)))
    if info.compression_pretrained and info.compression_pretrained.startswith("facebook/"):
        problem = None if _hf_repo_cached(info.compression_pretrained, cache) else (
            f"the audio codec '{info.compression_pretrained}' is not in the Hugging Face cache {cache}. With "
            f"internet, run: {download_command(info.compression_pretrained)} (or set LANTERN_ALLOW_DOWNLOADS=1).")
        parts.append((f"codec {info.compression_pretrained}", problem))
    if info.melody:
        cached, places = htdemucs_cached(hf_cache_dir=hf_cache_dir)
        problem = None if (cached or demucs_loader is not None) else (
            "demucs's 'htdemucs' source separator (used to pick the melody out of the conditioning audio) was not "
            f"found in {' or '.join(places)}. With internet, run: python -c \"from demucs.pretrained import "
            "get_model; get_model('htdemucs')\" (or set LANTERN_ALLOW_DOWNLOADS=1).")
        parts.append(("melody separator htdemucs", problem))
    return parts


def describe_model(location: ModelLocation, *, demucs_loader: Callable[[str], Any] | None = None,
                   hf_cache_dir: Path | None = None) -> tuple[bool, str]:
    """Whether a found checkpoint can load offline, and one line naming it, where it is and its parts."""
    try:
        info = inspect_model(location)
    except CheckpointError as error:
        return False, f"{location.describe()}: damaged: {error}"
    parts = parts_found(info, demucs_loader=demucs_loader, hf_cache_dir=hf_cache_dir)
    said = "; ".join(f"{part}: {'found' if problem is None else 'MISSING'}" for part, problem in parts)
    return all(problem is None for _, problem in parts), location.describe() + (f" [{said}]" if said else "")


def check_dependencies(info: ModelInfo, *, demucs_loader: Callable[[str], Any] | None,
                       hf_cache_dir: Path | None = None) -> None:
    """Refuse (with the fetch command) when a model needs a text encoder, codec or demucs that is not cached."""
    if downloads_allowed():
        return
    for part, problem in parts_found(info, demucs_loader=demucs_loader, hf_cache_dir=hf_cache_dir):
        if problem is not None:
            kind = "MusicGen melody model" if part.startswith("melody") else "MusicGen model"
            raise ModelNotFoundError(f"{kind} '{info.location.name}' cannot load offline: {problem}")


def load_musicgen(info: ModelInfo, *, device: str, demucs_loader: Callable[[str], Any] | None = None):
    """Load a checkpoint folder into an ``audiocraft.models.MusicGen`` on ``device``.

    Uses audiocraft's own ``loaders.load_lm_model`` / ``load_compression_model`` on the folder and sets up a
    melody model exactly as ``MusicGen.get_pretrained`` does, so the result generates what audiocraft would.
    """
    from audiocraft.models import MusicGen, loaders

    from lantern_studio.engines.music import audiocraft_api

    folder = info.location.path
    with patched_demucs_loader(demucs_loader):
        try:
            lm = loaders.load_lm_model(str(folder), device=device)
        except (RuntimeError, KeyError, ValueError) as error:
            raise CheckpointError(f"{folder / LM_FILE} does not match its own config ({error}). The file is "
                                  "damaged or was exported from a different model: copy it again.") from error
    try:
        compression = loaders.load_compression_model(str(folder), device=device)
    except (RuntimeError, KeyError, ValueError) as error:
        raise CheckpointError(f"{folder / COMPRESSION_FILE} does not match its own config ({error}). The file "
                              "is damaged or was exported from a different model: copy it again.") from error
    audiocraft_api.prepare_melody_conditioner(lm)
    return MusicGen(info.location.name, compression, lm)
