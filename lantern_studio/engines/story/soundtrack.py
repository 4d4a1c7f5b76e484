"""The animatic's soundtrack: music under the dialogue, ducked, loudness-normalised.

Steps, each a small function:

1. :func:`load_music` reads a music take or file (``(audio, sample_rate)`` or a path) at the output rate.
2. :func:`fit_music` loops it (with a short equal-power crossfade at each seam) or trims it to the
   video's length.
3. :func:`dialogue_bus` places one clip per dialogue line at its shot's time: an audio file the user gave
   for that shot, else the line spoken in its character's voice (:mod:`engines.story.voices`), else a
   voice-like placeholder tone (a buzz at a per-speaker pitch with syllable-rate modulation) so timing and
   ducking can be judged before anyone records a line.
4. :func:`build_soundtrack` mixes music and dialogue with the mix kernel (:func:`kernels.mix.mix`), the
   music faded in and out and ducked by the dialogue (:class:`kernels.mix.Ducking`), then normalises the
   loudness of the whole (:func:`engines.audio.mastering.master_to_loudness`).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Union

import numpy as np

from lantern_studio.engines.audio.io import resample
from lantern_studio.engines.audio.mastering import MIN_DURATION_S, master_to_loudness
from lantern_studio.engines.story.timeline import Timeline

SAMPLE_RATE = 48_000
#: Music level before mixing (LUFS), so dialogue sits on top whatever the take's own loudness.
MUSIC_BED_LUFS = -22.0
#: Peak level of placeholder dialogue (dBFS).
PLACEHOLDER_PEAK_DB = -9.0
#: Seam crossfade when a music take is looped (seconds).
LOOP_CROSSFADE_S = 0.05

AudioInput = Union[str, os.PathLike, tuple]


@dataclass(frozen=True)
class Soundtrack:
    """The finished mix and the parts a test or UI may want to look at.

    ``audio``: float32 ``(n, 2)`` at ``sample_rate``, ``n = round(duration_s * sample_rate)``.
    ``music``: float32 ``(n, 2)``, the music's contribution to ``audio`` (ducked and normalised the same
    way), or None without music. ``dialogue_spans_s``: ``(start_s, end_s)`` of each dialogue clip.
    ``gain_db``: the loudness normalisation applied to the whole mix. ``speech_spans_s``: shot number ->
    ``(start_s, end_s)`` in which its recorded or spoken line is audible. ``dialogue``: float32 ``(n, 2)``,
    the dialogue track as it went into the mix (the dialogue stem).
    """

    audio: np.ndarray
    sample_rate: int
    music: np.ndarray | None
    dialogue_spans_s: tuple[tuple[float, float], ...]
    gain_db: float
    loudness_lufs: float | None
    speech_spans_s: Mapping[int, tuple[float, float]] = field(default_factory=dict)
    dialogue: np.ndarray | None = None


def _read_audio_file(path: Path, sample_rate: int) -> np.ndarray:
    """Decode an audio file to float32 ``(n, channels)`` at ``sample_rate`` (engines.audio.io)."""
    from lantern_studio.engines.audio.io import read_audio

    audio, _ = read_audio(path, sample_rate=sample_rate)
    return np.asarray(audio, dtype=np.float32)


def load_music(music: AudioInput, *, sample_rate: int = SAMPLE_RATE, what: str = "music") -> np.ndarray:
    """Music (or any clip) as float32 ``(n, 2)`` at ``sample_rate``.

    Parameters
    ----------
    music : path or (audio, sample_rate)
        A file (WAV, FLAC, MP3, OGG...) or an array ``(n,)``/``(n, c)`` with its rate in Hz.
    what : str
        Name used in error messages (``"music"``, ``"dialogue for shot 3"``).

    Raises
    ------
    ValueError
        A missing or undecodable file, an empty clip, non-finite samples, or a rate mismatch.
    """
    if isinstance(music, tuple):
        if len(music) != 2:
            raise ValueError(f"{what} must be a file path or an (audio, sample_rate) pair")
        audio, rate = music
        audio = np.asarray(audio, dtype=np.float32)
        if int(rate) != sample_rate:
            audio = resample(audio, int(rate), sample_rate)
    elif isinstance(music, (str, os.PathLike)):
        path = Path(music)
        if not path.is_file():
            raise ValueError(f"{what} file {str(path)!r} does not exist; choose another file or a take")
        try:
            audio = _read_audio_file(path, sample_rate)
        except Exception as error:  # every decoder failure becomes one message that says what to do
            raise ValueError(f"{what} file {path.name!r} could not be decoded as audio ({error}); "
                             "use a WAV, FLAC, OGG or MP3 file, or pick a take from the Music tab") from error
    else:
        raise ValueError(f"{what} must be a file path or an (audio, sample_rate) pair, got {type(music).__name__}")
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or audio.shape[0] == 0 or audio.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {audio.shape}); choose a clip that has sound in it")
    if not np.all(np.isfinite(audio)):
        raise ValueError(f"{what} contains NaN or infinite samples; export it again from its source")
    if audio.shape[1] == 1:
        audio = np.repeat(audio, 2, axis=1)
    elif audio.shape[1] > 2:
        audio = audio[:, :2]
    return np.ascontiguousarray(audio, dtype=np.float32)


def fit_music(audio: np.ndarray, n_samples: int, *, sample_rate: int = SAMPLE_RATE,
              crossfade_s: float = LOOP_CROSSFADE_S) -> np.ndarray:
    """Loop (equal-power crossfade at each seam) or trim ``audio`` ``(m, 2)`` to ``(n_samples, 2)``."""
    if n_samples <= audio.shape[0]:
        return np.ascontiguousarray(audio[:n_samples])
    fade = int(round(crossfade_s * sample_rate))
    fade = min(fade, audio.shape[0] // 4)
    out = np.zeros((n_samples, audio.shape[1]), np.float32)
    if fade > 0:
        theta = np.linspace(0.0, math.pi / 2, fade, dtype=np.float32)[:, None]
        fade_in, fade_out = np.sin(theta), np.cos(theta)
    step = audio.shape[0] - fade
    pos = 0
    first = True
    while pos < n_samples:
        piece = audio.copy()
        if fade > 0:
            if not first:
                piece[:fade] *= fade_in
            piece[-fade:] *= fade_out
        end = min(pos + piece.shape[0], n_samples)
        out[pos:end] += piece[:end - pos]
        pos += step
        first = False
    return out


def placeholder_voice(duration_s: float, *, speaker: str = "", sample_rate: int = SAMPLE_RATE,
                      peak_db: float = PLACEHOLDER_PEAK_DB) -> np.ndarray:
    """A voice-like stand-in for a dialogue line: float32 ``(n, 2)``.

    A buzz (harmonics 1..6 at 1/k amplitude) at a pitch fixed per speaker (110-260 Hz), with a
    syllable-rate (4.5 Hz) amplitude modulation between 35% and 100% and 20 ms edges.
    """
    n = max(1, int(round(duration_s * sample_rate)))
    digest = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest()[:8], 16)
    pitch_hz = 110.0 + (digest % 150)
    t = np.arange(n, dtype=np.float64) / sample_rate
    wave = sum(np.sin(2 * math.pi * pitch_hz * k * t) / k for k in range(1, 7))
    syllables = 0.675 + 0.325 * np.sin(2 * math.pi * 4.5 * t - math.pi / 2)
    edge = min(n // 2, int(0.02 * sample_rate))
    envelope = np.ones(n)
    if edge > 0:
        ramp = np.linspace(0.0, 1.0, edge)
        envelope[:edge] = ramp
        envelope[n - edge:] = ramp[::-1]
    voice = wave * syllables * envelope
    voice *= 10 ** (peak_db / 20) / max(np.max(np.abs(voice)), 1e-9)
    return np.repeat(voice.astype(np.float32)[:, None], 2, axis=1)


_SHOT_IN_NAME = re.compile(r"shot[\s_.-]*0*(\d+)", re.IGNORECASE)
_NUMBER_IN_NAME = re.compile(r"0*(\d+)")


def dialogue_files_by_shot(paths: Iterable[str | os.PathLike]) -> dict[int, Path]:
    """Recorded lines named after their shots, keyed by shot number (for ``dialogue_audio``).

    ``shot-3.wav``, ``Shot 03 grandma.flac`` and ``3.mp3`` are shot 3: the number after "shot" when the
    name has one, else the first number in it.

    Raises
    ------
    ValueError
        A file whose name has no number, or two files for one shot (naming both, with the fix).
    """
    found: dict[int, Path] = {}
    for raw in paths:
        path = Path(raw)
        match = _SHOT_IN_NAME.search(path.stem) or _NUMBER_IN_NAME.search(path.stem)
        if match is None:
            raise ValueError(f"the dialogue file {path.name!r} does not say which shot it is for; name it after "
                             f"the shot number, e.g. shot-3{path.suffix or '.wav'}")
        number = int(match.group(1))
        if number in found:
            raise ValueError(f"two dialogue files are for shot {number}: {found[number].name!r} and {path.name!r}; "
                             f"keep one (a shot has one recorded line)")
        found[number] = path
    return found


@dataclass(frozen=True)
class DialogueClip:
    """One dialogue line placed on the timeline: float32 ``(n, 2)`` audio starting at ``start_sample``."""

    shot_number: int
    start_sample: int
    audio: np.ndarray
    recorded: bool              # a file the user gave, not a placeholder
    placeholder: bool = False   # a stand-in tone, neither recorded nor spoken


def dialogue_clips(timeline: Timeline, n_samples: int, *, sample_rate: int = SAMPLE_RATE,
                   dialogue_audio: Mapping[int, AudioInput] | None = None, placeholders: bool = True,
                   language: str = "zh", voices: Mapping | None = None) -> list[DialogueClip]:
    """Every dialogue line as its own clip, in timeline order, each ending by ``n_samples``.

    A shot's clip starts 0.15 s into the shot. A file from ``dialogue_audio`` (keyed by shot number) is
    used as recorded and cut at the shot's end; else a spoken line from ``voices`` (shot number ->
    ``engines.speech.base.SpeechClip``) is placed so its speech starts there; otherwise, with
    ``placeholders``, a placeholder lasts as long as the line takes to read (about 5 characters/s for
    Chinese, 15 for other languages), at least 0.6 s, and ends 0.15 s before the shot does.
    """
    from lantern_studio.engines.story.voices import voice_track

    voices = dict(voices or {})
    clips: list[DialogueClip] = []
    given = dict(dialogue_audio or {})
    known = {segment.shot.number for segment in timeline.segments if segment.shot is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"dialogue audio was given for shot(s) {unknown}, which are not in the storyboard "
                         f"(shots: {sorted(known)})")
    chars_per_s = 5.0 if language == "zh" else 15.0
    for segment in timeline.segments:
        shot = segment.shot
        if shot is None:
            continue
        start_s = segment.start_s + 0.15
        room_s = segment.end_s - start_s - 0.15
        if room_s <= 0.05:
            continue
        recorded = shot.number in given
        if recorded:
            clip = load_music(given[shot.number], sample_rate=sample_rate, what=f"dialogue for shot {shot.number}")
            clip = clip[:int(round((segment.end_s - start_s) * sample_rate))]
        elif shot.number in voices:
            clip, lead_s = voice_track(voices[shot.number], sample_rate=sample_rate)
            start_s -= lead_s           # the clip's own lead-in goes before the line's start
            clip = clip[:int(round((segment.end_s - start_s) * sample_rate))]
        elif placeholders and shot.dialogue.strip():
            spoken_s = max(0.6, len("".join(shot.dialogue.split())) / chars_per_s)
            clip = placeholder_voice(min(room_s, spoken_s), speaker=shot.speaker, sample_rate=sample_rate)
        else:
            continue
        a = int(round(start_s * sample_rate))
        b = min(a + clip.shape[0], n_samples)
        if b <= a:
            continue
        clips.append(DialogueClip(shot_number=shot.number, start_sample=a, audio=clip[:b - a], recorded=recorded,
                                  placeholder=not recorded and shot.number not in voices))
    return clips


def dialogue_bus(timeline: Timeline, n_samples: int, *, sample_rate: int = SAMPLE_RATE,
                 dialogue_audio: Mapping[int, AudioInput] | None = None, placeholders: bool = True,
                 language: str = "zh", voices: Mapping | None = None) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """All dialogue on one float32 ``(n_samples, 2)`` track, and each clip's ``(start_s, end_s)``.

    The clips are those of :func:`dialogue_clips`, summed.
    """
    return sum_clips(dialogue_clips(timeline, n_samples, sample_rate=sample_rate, dialogue_audio=dialogue_audio,
                                    placeholders=placeholders, language=language, voices=voices),
                     n_samples, sample_rate=sample_rate)


def speech_spans(clips: Iterable[DialogueClip], *, sample_rate: int = SAMPLE_RATE,
                 ) -> dict[int, tuple[float, float]]:
    """Shot number -> ``(start_s, end_s)`` in which each recorded or spoken clip is audible (energy above a
    threshold under the clip's peak, :func:`engines.speech.base.audible_span`); placeholders are left out."""
    from lantern_studio.engines.speech.base import audible_span

    spans: dict[int, tuple[float, float]] = {}
    for clip in clips:
        if clip.placeholder:
            continue
        start_s, end_s = audible_span(clip.audio.mean(axis=1), sample_rate)
        if end_s > start_s:
            spans[clip.shot_number] = (clip.start_sample / sample_rate + start_s, clip.start_sample / sample_rate + end_s)
    return spans


def sum_clips(clips: Iterable[DialogueClip], n_samples: int, *, sample_rate: int = SAMPLE_RATE,
              ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The clips summed on one float32 ``(n_samples, 2)`` track, and each clip's ``(start_s, end_s)``."""
    bus = np.zeros((n_samples, 2), np.float32)
    spans: list[tuple[float, float]] = []
    for clip in clips:
        a, b = clip.start_sample, clip.start_sample + clip.audio.shape[0]
        bus[a:b] += clip.audio
        spans.append((a / sample_rate, b / sample_rate))
    return bus, spans


def build_soundtrack(timeline: Timeline, *, music: AudioInput | None = None, sample_rate: int = SAMPLE_RATE,
                     ducking_db: float = -12.0, music_fade_in_s: float = 1.0, music_fade_out_s: float = 2.0,
                     dialogue_audio: Mapping[int, AudioInput] | None = None, placeholders: bool = True,
                     target_lufs: float = -16.0, language: str = "zh", voices: Mapping | None = None) -> Soundtrack:
    """Music under the dialogue for a timeline: looped/trimmed, faded, ducked, normalised.

    Parameters
    ----------
    timeline : Timeline
        The video's timing; the soundtrack lasts ``timeline.duration_s``.
    music : path or (audio, sample_rate), optional
        The music take or file; None for dialogue only.
    ducking_db : float
        How far the music drops while someone speaks, in dB (<= 0; 0 turns ducking off).
    music_fade_in_s, music_fade_out_s : float
        Linear fades of the music at the start and end of the video, in seconds.
    dialogue_audio : mapping of shot number to path or (audio, sample_rate), optional
        Recorded lines; shots without one get their spoken line from ``voices``, else a placeholder when
        ``placeholders`` is True.
    voices : mapping of shot number to engines.speech.base.SpeechClip, optional
        Lines spoken in the characters' voices (:func:`engines.story.voices.speak_lines`).
    target_lufs : float
        Integrated loudness of the finished mix (-16 LUFS suits phones and web players).

    Returns
    -------
    Soundtrack

    Raises
    ------
    ValueError
        Undecodable music or dialogue files, or options out of range.
    """
    from lantern_studio.kernels.mix import Ducking, Stem, mix

    if not (math.isfinite(ducking_db) and -60.0 <= ducking_db <= 0.0):
        raise ValueError(f"ducking_db must be between -60 and 0 dB, got {ducking_db!r}")
    for name, value in (("music_fade_in_s", music_fade_in_s), ("music_fade_out_s", music_fade_out_s)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be 0 or more seconds, got {value!r}")
    if not (math.isfinite(target_lufs) and -40.0 <= target_lufs <= -5.0):
        raise ValueError(f"target_lufs must be between -40 and -5 LUFS, got {target_lufs!r}")
    n = int(round(timeline.duration_s * sample_rate))
    clips = dialogue_clips(timeline, n, sample_rate=sample_rate, dialogue_audio=dialogue_audio,
                           placeholders=placeholders, language=language, voices=voices)
    dialogue, spans = sum_clips(clips, n, sample_rate=sample_rate)
    music_part = None
    if music is not None:
        bed = fit_music(load_music(music, sample_rate=sample_rate), n, sample_rate=sample_rate)
        bed = _level(bed, sample_rate, MUSIC_BED_LUFS)
        fade_in = min(music_fade_in_s, timeline.duration_s / 2)
        fade_out = min(music_fade_out_s, timeline.duration_s / 2)
        options = dict(sample_rate=sample_rate, length_s=n / sample_rate)
        ducking = Ducking(key=1, targets=(0,), depth_db=float(ducking_db)) if ducking_db < 0 else None
        full = mix([Stem(bed, fade_in_s=fade_in, fade_out_s=fade_out), Stem(dialogue)], ducking=ducking, **options)
        # the mix is linear in the stems for fixed gains, so the music's share is the mix less the dialogue
        alone = mix([Stem(np.zeros_like(bed)), Stem(dialogue)], **options)
        music_part = full - alone
    else:
        full = mix([Stem(dialogue)], sample_rate=sample_rate, length_s=n / sample_rate)
    full = _fit_length(full, n)
    mastered = master_to_loudness(full, sample_rate, target_lufs=target_lufs)
    audio, gain_db, lufs = mastered.audio, mastered.gain_db, mastered.lufs
    if music_part is not None:
        music_part = (_fit_length(music_part, n) * np.float32(10 ** (gain_db / 20))).astype(np.float32)
    return Soundtrack(audio=np.ascontiguousarray(audio, dtype=np.float32), sample_rate=sample_rate, music=music_part,
                      dialogue_spans_s=tuple(spans), gain_db=float(gain_db), loudness_lufs=lufs,
                      speech_spans_s=speech_spans(clips, sample_rate=sample_rate), dialogue=dialogue)


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    if audio.shape[0] == n:
        return audio
    if audio.shape[0] > n:
        return audio[:n]
    return np.vstack([audio, np.zeros((n - audio.shape[0], audio.shape[1]), audio.dtype)])


def _level(audio: np.ndarray, sample_rate: int, target_lufs: float) -> np.ndarray:
    """Scale a clip to an integrated loudness (a plain gain, no limiting: the bed sits low)."""
    from lantern_studio.kernels.dsp import integrated_loudness

    if audio.shape[0] < MIN_DURATION_S * sample_rate:
        return audio
    lufs = float(integrated_loudness(audio, sample_rate))
    if not math.isfinite(lufs):
        return audio
    return (audio * np.float32(10 ** ((target_lufs - lufs) / 20))).astype(np.float32)
