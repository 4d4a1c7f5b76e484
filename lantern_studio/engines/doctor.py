"""What the studio found on this machine: Python, torch devices, numba CUDA, ffmpeg, fonts, models."""

from __future__ import annotations

import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from lantern_studio.engines.settings import Settings


@dataclass(frozen=True)
class Finding:
    topic: str
    ok: bool
    detail: str


def _python() -> Finding:
    return Finding("Python", sys.version_info[:2] == (3, 11),
                   f"{platform.python_version()} at {sys.executable}")


def _torch() -> list[Finding]:
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any import failure is a finding
        return [Finding("torch", False, f"cannot import torch: {error}")]
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    cuda_build = torch.version.cuda or "none"
    return [Finding("torch", True, f"{torch.__version__} (CUDA build {cuda_build}); devices: {', '.join(devices)}")]


def _numba() -> Finding:
    try:
        import numba
        from numba import cuda
    except Exception as error:  # noqa: BLE001
        return Finding("numba", False, f"cannot import numba: {error}")
    try:
        gpu = cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken driver reads as "no GPU"
        gpu = False
    target = ("CUDA target sees a GPU (kernels still run on the CPU, which was faster end to end; "
              "backend='cuda' or bench --device cuda uses the GPU)" if gpu
              else "CUDA target sees no GPU (kernels run on the CPU)")
    return Finding("numba", True, f"{numba.__version__}; {target}")


def find_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001
        return shutil.which("ffmpeg")


def _ffmpeg() -> Finding:
    exe = find_ffmpeg()
    if exe is None:
        return Finding("ffmpeg", False, "not found; MP3 export needs it: pip install imageio-ffmpeg")
    return Finding("ffmpeg", True, exe)


def _font() -> Finding:
    from lantern_studio.engines.fonts import INSTALL_HINT, find_cjk_font

    font = find_cjk_font()
    if font is None:
        return Finding("CJK font", False, f"none found; {INSTALL_HINT}")
    return Finding("CJK font", True, str(font))


def model_search_dirs(settings: Settings) -> list[Path]:
    """Where model weights are looked for, in order."""
    from lantern_studio.engines.music.musicgen_models import default_hf_cache

    return [settings.models_dir, default_hf_cache()]


def how_to_add_models(directory: Path, settings: Settings) -> str:
    """What to do about a model folder that is missing or empty: where weights go, or the download command."""
    from lantern_studio.engines.music import musicgen_models as models

    if directory == settings.models_dir:
        return (f"no models yet: put a MusicGen checkpoint folder ({models.LM_FILE} and {models.COMPRESSION_FILE}) "
                "or a diffusers pipeline folder here; the built-in composer and previz need none")
    return (f"no models downloaded; with internet, run {models.download_command('facebook/musicgen-small')} "
            "(the built-in composer and previz need none)")


def _models(settings: Settings) -> list[Finding]:
    findings = []
    for directory in model_search_dirs(settings):
        names = [] if not directory.is_dir() else sorted(
            p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
        detail = ", ".join(names) if names else how_to_add_models(directory, settings)
        findings.append(Finding(f"models in {directory}", bool(names), detail))
    findings.extend(_musicgen_models(settings))
    return findings


def _musicgen_models(settings: Settings) -> list[Finding]:
    """Each MusicGen checkpoint found, with the parts it needs (T5, codec, htdemucs) found or missing."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("omegaconf") is None:
        return []
    from lantern_studio.engines.music import musicgen_models as models

    return [Finding(f"MusicGen {location.name}", *models.describe_model(location))
            for location in models.find_models(settings.models_dir)]


def _voices(settings: Settings) -> list[Finding]:
    """The speech engines: the eSpeak NG floor, and Kokoro with the files it needs found or missing."""
    from lantern_studio.engines.speech.status import engine_statuses

    return [Finding(topic, ready, detail) for topic, ready, detail in engine_statuses(settings.models_dir)]


def _language_models(settings: Settings) -> list[Finding]:
    """GGUF language models for refining prose into shots, and the backend that would run them."""
    from lantern_studio.engines.errors import UserInputError
    from lantern_studio.engines.story import prose_llm

    try:
        backend = prose_llm.backend_name()
    except UserInputError as error:
        return [Finding("prose LLM", False, str(error))]
    found = prose_llm.find_local_llms(settings.models_dir)
    if not found:
        return [Finding("prose LLM", False, f"no .gguf model in {settings.models_dir} (optional: "
                        "the rule-based prose reader needs none)")]
    names = ", ".join(str(path.relative_to(settings.models_dir)) for path in found)
    return [Finding("prose LLM", True, f"{names}; runs on {backend}")]


def collect(settings: Settings) -> list[Finding]:
    return [_python(), *_torch(), _numba(), _ffmpeg(), _font(), *_models(settings), *_voices(settings),
            *_language_models(settings),
            Finding("project", True, str(settings.project_dir)),
            Finding("device setting", True, settings.device)]


def format_report(findings: list[Finding]) -> str:
    width = max(len(f.topic) for f in findings)
    return "\n".join(f"{'ok ' if f.ok else '-- '} {f.topic:<{width}}  {f.detail}" for f in findings)


def print_report(settings: Settings) -> int:
    print(format_report(collect(settings)))
    return 0
