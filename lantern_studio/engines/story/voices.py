"""Every dialogue line of a storyboard spoken in its character's voice, cached, and the shots timed to it.

- :func:`line_voice` is the voice of a speaker: the bible's entry, the narrator's voice for 旁白/VO, or a
  default for a speaker the bible does not know.
- :func:`speak_lines` speaks the lines (all checked before any is spoken), through a cache keyed by text,
  language, voice and engine so a re-render speaks only the lines that changed; progress counts lines and
  a cancel keeps every finished line in the cache.
- :func:`fit_shots_to_speech` makes each dialogue shot last at least its spoken line plus a breath.
- :func:`write_line_files` writes one WAV per line, named by shot number and speaker.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from lantern_studio.engines.jobs import Cancel, Progress, check_cancel, no_progress
from lantern_studio.engines.speech.base import SpeechClip, VoiceSpec, check_line, detect_language
from lantern_studio.engines.speech.casting import NARRATOR_VOICE, default_voices
from lantern_studio.engines.story.bible import voice_of
from lantern_studio.engines.story.model import Storyboard
from lantern_studio.engines.story.shots import is_narrator

#: Where speech starts after its shot does (the soundtrack places clips so), in seconds.
SPEECH_LEAD_S = 0.15
#: Room after a line before its shot ends, in seconds.
BREATH_S = 0.35
#: Bumped when the way a clip is made changes, so old cache entries are not reused.
CACHE_VERSION = 1

@dataclass(frozen=True)
class SpokenLines:
    """The clips by shot number, and the shot numbers of the lines spoken now or taken from the cache (a dual
    dialogue's shot once per line)."""

    clips: dict[int, SpeechClip]
    spoken: tuple[int, ...]
    cached: tuple[int, ...]


def is_narration(speaker: str) -> bool:
    """旁白, 画外音, NARRATOR... or a bare VO/V.O. cue."""
    return is_narrator(speaker) or speaker.strip().upper().replace(".", "") == "VO"


def line_voice(board: Storyboard, speaker: str) -> VoiceSpec:
    """The voice ``speaker`` speaks with in ``board``."""
    if is_narration(speaker):
        return NARRATOR_VOICE
    character = board.characters.get(speaker.strip())
    if character is not None and character.voice_name:
        return voice_of(character)
    taken = [voice_of(c) for c in board.characters.values() if c.voice_name]
    return default_voices([(speaker.strip(), "")], taken=taken)[speaker.strip()]


def make_engine(engine: str, *, models_dir: str | os.PathLike | None = None):
    """The speech engine called ``engine`` (``"espeak"`` or ``"kokoro"``); ValueError when it cannot run."""
    if engine == "espeak":
        from lantern_studio.engines.speech.espeak import EspeakEngine

        made = EspeakEngine()
    elif engine == "kokoro":
        from lantern_studio.engines.speech.kokoro import shared_engine

        made = shared_engine(models_dir)
    else:
        raise ValueError(f"there is no speech engine {engine!r}; use espeak (no weights) or kokoro (local weights)")
    status = made.available()
    if not status.ready:
        raise ValueError(status.message)
    return made


@dataclass(frozen=True)
class _Line:
    shot_number: int
    speaker: str
    text: str
    language: str
    voice: VoiceSpec

    def key(self) -> str:
        blob = json.dumps([CACHE_VERSION, self.text, self.language, self.voice.to_dict()], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def plan_lines(board: Storyboard, *, skip: Iterable[int] = ()) -> list[_Line]:
    """The lines to speak (dialogue shots not in ``skip``; a dual dialogue's second voice too), each checked;
    ValueError names the shot."""
    skipped = set(skip)
    default = board.language if board.language in ("zh", "en") else "zh"
    lines = []
    for shot in board.shots:
        if shot.number in skipped:
            continue
        for speaker, dialogue in ((shot.speaker, shot.dialogue), (shot.dual_speaker, shot.dual_dialogue)):
            if not dialogue.strip() or not speaker.strip():
                continue
            language = detect_language(dialogue, default=default)
            try:
                text = check_line(dialogue, language)
                voice = line_voice(board, speaker)
                voice.validate()
            except ValueError as error:
                raise ValueError(f"shot {shot.number} ({speaker}): {error}") from None
            lines.append(_Line(shot.number, speaker.strip(), text, language, voice))
    return lines


def overlay(first: SpeechClip, second: SpeechClip) -> SpeechClip:
    """Two lines spoken at once (dual dialogue): summed from the same start, at the first clip's rate, scaled
    down only if the sum would clip; audible from the earlier start to the later end."""
    other = np.asarray(second.audio, np.float32)
    if second.sample_rate != first.sample_rate:
        from lantern_studio.engines.audio.io import resample

        other = resample(other[:, None], second.sample_rate, first.sample_rate)[:, 0]
    audio = np.zeros(max(first.audio.shape[0], other.shape[0]), np.float32)
    audio[:first.audio.shape[0]] += first.audio
    audio[:other.shape[0]] += other
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        audio /= np.float32(peak)
    return SpeechClip(audio=audio, sample_rate=first.sample_rate,
                      speech_start_s=min(first.speech_start_s, second.speech_start_s),
                      speech_end_s=max(first.speech_end_s, second.speech_end_s))


def _read_cached(path: Path) -> SpeechClip | None:
    try:
        with np.load(path) as data:
            return SpeechClip(audio=np.asarray(data["audio"], np.float32), sample_rate=int(data["sample_rate"]),
                              speech_start_s=float(data["span"][0]), speech_end_s=float(data["span"][1]))
    except (OSError, KeyError, ValueError):
        return None


def _write_cached(path: Path, clip: SpeechClip) -> None:
    from lantern_studio.engines.atomic import atomic_output_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, audio=clip.audio, sample_rate=np.int64(clip.sample_rate),
                     span=np.array([clip.speech_start_s, clip.speech_end_s]))


def speak_lines(board: Storyboard, *, cache_dir: str | os.PathLike | None = None,
                models_dir: str | os.PathLike | None = None, skip: Iterable[int] = (),
                progress: Progress | None = None, cancel: Cancel | None = None) -> SpokenLines:
    """Speak every dialogue line of ``board`` not in ``skip`` (shot numbers with a recorded file).

    Every line and voice is checked first, so bad input fails before anything is spoken or written.
    With ``cache_dir``, a line whose text, language and voice are unchanged is read back, not spoken.

    Raises
    ------
    ValueError
        An empty or too long line, an unsupported language, an unknown voice, or an engine that cannot run
        (the message names the shot and what to do).
    engines.jobs.Cancelled
        ``cancel()`` turned True; the finished lines are in the exception and the cache.
    """
    lines = plan_lines(board, skip=skip)
    engines = {name: make_engine(name, models_dir=models_dir) for name in {line.voice.engine for line in lines}}
    for line in lines:
        known = engines[line.voice.engine].voices(line.language)
        if line.voice.voice not in known:
            raise ValueError(f"shot {line.shot_number} ({line.speaker}): the {line.voice.engine} engine has no voice "
                             f"{line.voice.voice!r}; pick one of {', '.join(known[:20])} in the voice table")
    report = progress or no_progress
    cache = Path(cache_dir) if cache_dir is not None else None
    clips: dict[int, SpeechClip] = {}
    spoken, cached = [], []
    for index, line in enumerate(lines):
        check_cancel(cancel, f"speaking stopped after {index} of {len(lines)} lines", clips)
        report(index / max(1, len(lines)), f"voice {index + 1}/{len(lines)}: shot {line.shot_number} {line.speaker}")
        path = cache / f"{line.key()}.npz" if cache is not None else None
        clip = _read_cached(path) if path is not None and path.is_file() else None
        if clip is None:
            clip = engines[line.voice.engine].speak(line.text, voice=line.voice, language=line.language)
            if path is not None:
                _write_cached(path, clip)
            spoken.append(line.shot_number)
        else:
            cached.append(line.shot_number)
        # a dual dialogue's second line joins the first, both starting with the shot's speech
        clips[line.shot_number] = overlay(clips[line.shot_number], clip) if line.shot_number in clips else clip
    report(1.0, f"{len(lines)} lines voiced ({len(spoken)} spoken, {len(cached)} from the cache)")
    return SpokenLines(clips=clips, spoken=tuple(spoken), cached=tuple(cached))


def fit_shots_to_speech(board: Storyboard, clips: Mapping[int, SpeechClip], *, lead_s: float = SPEECH_LEAD_S,
                        breath_s: float = BREATH_S) -> Storyboard:
    """A copy of ``board`` in which each voiced shot lasts at least ``lead_s + spoken + breath_s`` seconds
    (rounded up to 0.1 s); shots already long enough keep their duration."""
    shots = []
    for shot in board.shots:
        clip = clips.get(shot.number)
        if clip is not None:
            needed = math.ceil((lead_s + clip.speech_end_s - clip.speech_start_s + breath_s) * 10 - 1e-6) / 10
            shot = replace(shot, duration_s=max(float(shot.duration_s), needed))
        shots.append(shot)
    return replace(board, shots=shots)


#: Peak level of a spoken line on the dialogue track (dBFS), so every voice enters the mix alike.
VOICE_PEAK_DB = -6.0


def voice_track(clip: SpeechClip, *, sample_rate: int) -> tuple[np.ndarray, float]:
    """A spoken line as float32 ``(n, 2)`` at ``sample_rate`` peaking at VOICE_PEAK_DB, and the seconds of
    lead-in before its speech starts."""
    mono = np.asarray(clip.audio, np.float32)[:, None]
    if int(clip.sample_rate) != int(sample_rate):
        from lantern_studio.engines.audio.io import resample

        mono = resample(mono, int(clip.sample_rate), int(sample_rate))
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak > 0:
        mono = mono * np.float32(10 ** (VOICE_PEAK_DB / 20) / peak)
    return np.repeat(mono, 2, axis=1), float(clip.speech_start_s)


def line_file_name(shot_number: int, speaker: str) -> str:
    """``shot-03_小雨.wav``: the shot number, then the speaker with characters unsafe in file names replaced."""
    safe = re.sub(r"[\\/:*?\"<>|\s]+", "-", speaker.strip()).strip("-.") or "line"
    return f"shot-{shot_number:02d}_{safe}.wav"


def write_line_files(board: Storyboard, clips: Mapping[int, SpeechClip], folder: str | os.PathLike) -> list[Path]:
    """One 24-bit WAV per voiced shot in ``folder`` (atomic writes; a dual dialogue's two voices in one file
    named after both speakers); returns the paths in shot order."""
    from lantern_studio.engines.audio.io import write_audio

    folder = Path(folder)
    speakers = {shot.number: "+".join(s for s in (shot.speaker, shot.dual_speaker) if s.strip())
                for shot in board.shots}
    written = []
    for number in sorted(clips):
        clip = clips[number]
        peak = float(np.max(np.abs(clip.audio))) if clip.audio.size else 0.0
        audio = clip.audio / peak * 0.98 if peak > 0.98 else clip.audio
        written.append(write_audio(folder / line_file_name(number, speakers.get(number, "")), audio,
                                   clip.sample_rate))
    return written
