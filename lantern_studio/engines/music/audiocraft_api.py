"""The one place the studio reaches into audiocraft's non-public API.

The engine generates window by window with its own progress, cancellation, continuation and melody handling,
which audiocraft's public ``generate*`` methods do not expose: they are thin wrappers over
``MusicGen._prepare_tokens_and_attributes`` and ``MusicGen._generate_tokens``, which this module calls instead.
A melody model is set up as ``MusicGen.get_pretrained`` sets it up, through two attributes of its chroma
conditioner. These names belong to one audiocraft release, so the version is checked when this module is
imported, and a mismatch says what to do rather than failing deep inside a generation.
"""

from __future__ import annotations

from typing import Any

#: the audiocraft release whose private API this module was written against (the locks pin it)
SUPPORTED_VERSION = "1.3.0"


class AudiocraftVersionError(ImportError):
    """The installed audiocraft is not the release the studio drives; the message says how to fix it."""


def check_version(version: str | None = None) -> None:
    """Refuse an audiocraft other than :data:`SUPPORTED_VERSION` (``version`` defaults to the installed one)."""
    if version is None:
        import audiocraft

        version = getattr(audiocraft, "__version__", "unknown")
    if version != SUPPORTED_VERSION:
        raise AudiocraftVersionError(
            f"audiocraft {version} is installed, but the studio drives MusicGen through parts of audiocraft "
            f"{SUPPORTED_VERSION} that are not public API. Run `python launch.py` once to reinstall the locked "
            f"version (it installs audiocraft=={SUPPORTED_VERSION} without its stale pins); the built-in composer "
            "works meanwhile.")
    from audiocraft.models import MusicGen

    missing = [name for name in ("_prepare_tokens_and_attributes", "_generate_tokens") if not hasattr(MusicGen, name)]
    if missing:
        raise AudiocraftVersionError(f"audiocraft {version} lacks MusicGen.{', MusicGen.'.join(missing)}: the "
                                     "installation is damaged. Run `python launch.py` once to reinstall it.")


check_version()


def conditioning(model: Any, text: str | None, melody: Any = None) -> list:
    """The condition attributes for one take: its text, and its melody waveform ``(channels, n)`` if any."""
    if melody is None:
        attributes, _ = model._prepare_tokens_and_attributes([text], None)
    else:
        attributes, _ = model._prepare_tokens_and_attributes([text], None, melody_wavs=[melody])
    return attributes


def generate_tokens(model: Any, attributes: list, prompt_tokens: Any, *, progress: bool) -> Any:
    """Sample codebook tokens with audiocraft's windowed loop (``extend_stride`` past the model's window)."""
    return model._generate_tokens(attributes, prompt_tokens, progress=progress)


def prepare_melody_conditioner(lm: Any) -> None:
    """Set a melody LM's chroma conditioner up for generation as ``MusicGen.get_pretrained`` does: the chroma
    follows the generated length, and the melody is never masked out."""
    conditioners = lm.condition_provider.conditioners       # a torch ModuleDict
    if "self_wav" in conditioners:
        conditioner = conditioners["self_wav"]
        conditioner.match_len_on_eval = True
        conditioner._use_masking = False
