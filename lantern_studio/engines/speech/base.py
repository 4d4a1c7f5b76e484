"""The interface every speech engine answers, the voice it is asked for and the clip it returns.

An engine is an object with ``name``, ``available()`` and ``speak(text, *, voice, language)``. A clip is
mono float32 audio with its sample rate and the span in which the line is audible, so shots, subtitles
and the soundtrack can be timed from the speech itself rather than from a reading-speed guess.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from lantern_studio.engines.music.base import EngineStatus

#: Languages every engine is asked for: Mandarin and English.
LANGUAGES = ("zh", "en")
#: The longest line an engine is asked to speak at once, in characters; a longer line is refused so the
#: user splits it where the drama wants a pause rather than where a counter says.
MAX_LINE_CHARS = 1000
#: Range of the pitch setting: 0 lowest, 50 the voice's own, 100 highest (eSpeak NG's scale).
PITCH_RANGE = (0, 100)
#: Range of the speed setting, relative to the voice's normal rate.
SPEED_RANGE = (0.5, 2.0)
#: Level below the clip's peak under which a 10 ms window counts as silence, for the audible span.
SILENCE_BELOW_PEAK_DB = -35.0

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u309f\u30a1-\u30fa]")     # not ・ or ー, which Chinese text uses too
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]")


@dataclass(frozen=True)
class VoiceSpec:
    """Which voice speaks a line: the engine's name, its voice, and two adjustments.

    ``voice`` is the engine's own name for a voice (eSpeak NG: a variant such as ``f2`` or ``grandma``;
    Kokoro: a voice such as ``zf_xiaobei``). ``pitch`` is 0..100 with 50 the voice's own; ``speed`` is
    relative to the voice's normal rate (0.5..2.0).
    """

    engine: str = "espeak"
    voice: str = "m1"
    pitch: int = 50
    speed: float = 1.0

    def validate(self) -> None:
        """Raise ValueError naming the bad field and its allowed range."""
        if not str(self.voice).strip():
            raise ValueError("the voice has no name; pick one from the engine's list")
        if not (isinstance(self.pitch, (int, np.integer)) and PITCH_RANGE[0] <= self.pitch <= PITCH_RANGE[1]):
            raise ValueError(f"voice pitch must be a whole number from {PITCH_RANGE[0]} to {PITCH_RANGE[1]} "
                             f"(50 is the voice's own), got {self.pitch!r}")
        if not (math.isfinite(float(self.speed)) and SPEED_RANGE[0] <= float(self.speed) <= SPEED_RANGE[1]):
            raise ValueError(f"voice speed must be from {SPEED_RANGE[0]} to {SPEED_RANGE[1]} times the normal "
                             f"rate, got {self.speed!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SpeechClip:
    """A spoken line: ``audio`` float32 ``(n,)`` at ``sample_rate`` Hz, audible from ``speech_start_s`` to
    ``speech_end_s`` (seconds from the clip's first sample)."""

    audio: np.ndarray
    sample_rate: int
    speech_start_s: float
    speech_end_s: float

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    @property
    def spoken_s(self) -> float:
        return self.speech_end_s - self.speech_start_s


class SpeechEngine(Protocol):
    name: str

    def available(self) -> EngineStatus:
        """Ready, or why not and how to fix it."""

    def voices(self, language: str) -> tuple[str, ...]:
        """The voice names this engine offers for ``language``."""

    def speak(self, text: str, *, voice: VoiceSpec, language: str) -> SpeechClip:
        """Speak one line; raise ValueError for bad input (see :func:`check_line`)."""


def detect_language(text: str, default: str = "zh") -> str:
    """``"ja"`` for kana, ``"ko"`` for hangul (so they are refused by name rather than read as Mandarin),
    ``"zh"`` for Chinese characters, ``"en"`` for latin letters only, else ``default``."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _CJK.search(text):
        return "zh"
    if re.search(r"[A-Za-z]", text):
        return "en"
    return default


def check_line(text: str, language: str) -> str:
    """The line with its whitespace collapsed; ValueError for an empty, too long or unsupported line."""
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} cannot be spoken; use one of {', '.join(LANGUAGES)}")
    line = " ".join(str(text).split())
    if not line or not re.search(r"\w", line):
        raise ValueError("the line is empty (or only punctuation); write what the character says, or clear the "
                         "speaker so the shot has no dialogue")
    if len(line) > MAX_LINE_CHARS:
        raise ValueError(f"the line has {len(line)} characters; a spoken line may have at most {MAX_LINE_CHARS}: "
                         "split it into several shots")
    return line


def audible_span(audio: np.ndarray, sample_rate: int, *, below_peak_db: float = SILENCE_BELOW_PEAK_DB,
                 window_s: float = 0.01) -> tuple[float, float]:
    """``(start_s, end_s)`` of the part of mono ``audio`` louder than ``below_peak_db`` under its peak.

    Energy is measured in windows of ``window_s``; the span runs from the first loud window's start to the
    last loud window's end. Silent audio gives ``(0.0, 0.0)``.
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = max(1, int(round(window_s * sample_rate)))
    frames = audio.shape[0] // hop
    if frames == 0:
        return 0.0, 0.0
    rms = np.sqrt(np.mean(audio[:frames * hop].reshape(frames, hop) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 1e-6:
        return 0.0, 0.0
    loud = np.flatnonzero(rms >= peak * 10 ** (below_peak_db / 20))
    return loud[0] * hop / sample_rate, (loud[-1] + 1) * hop / sample_rate


def make_clip(audio: np.ndarray, sample_rate: int, *, lead_s: float = 0.05, tail_s: float = 0.1) -> SpeechClip:
    """A clip from an engine's raw output: trimmed to its audible span with ``lead_s``/``tail_s`` of room,
    so every engine's clips start and end alike whatever silence it pads with."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(audio)):
        raise ValueError("the speech engine returned NaN or infinite samples; try another voice")
    start_s, end_s = audible_span(audio, sample_rate)
    if end_s <= start_s:
        raise ValueError("the speech engine returned silence for this line; try another voice or rephrase it")
    a = max(0, int(round((start_s - lead_s) * sample_rate)))
    b = min(audio.shape[0], int(round((end_s + tail_s) * sample_rate)))
    trimmed = np.ascontiguousarray(audio[a:b])
    return SpeechClip(audio=trimmed, sample_rate=int(sample_rate), speech_start_s=start_s - a / sample_rate,
                      speech_end_s=end_s - a / sample_rate)
