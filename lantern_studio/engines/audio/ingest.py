"""Audio a user adds to the mixer: checked before it is decoded, decoded, brought to the session's rate.

A file that is not audio, one longer than ``MAX_UPLOAD_S`` or with more than two channels is refused with a
message; a mono file is accepted as a mono stem; a file at another sample rate is **resampled** to the session's
rate (``engines.audio.io.resample``) and the returned note says so. ``resample=False`` refuses instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from lantern_studio.engines.audio.io import resample as resample_audio   # `resample` is a keyword option here
from lantern_studio.engines.errors import UserInputError, first_line
from lantern_studio.engines.safety import check_upload

#: longest audio file the mixer accepts (seconds); longer files are refused before decoding
MAX_UPLOAD_S = 15 * 60.0
#: largest file the mixer reads (bytes)
MAX_UPLOAD_BYTES = 1 << 30


class AudioInputError(UserInputError):
    """An audio file the mixer will not use as it is; the message says why and what to do."""


def probe_audio_file(path: str | os.PathLike, *, max_duration_s: float = MAX_UPLOAD_S,
                     display_name: str | None = None) -> Any:
    """Check that ``path`` is an audio file the mixer can use, without decoding it.

    The content is sniffed (``engines.safety.check_upload``: WAV, FLAC, MP3 or Ogg whatever the extension
    says), then the header is read with soundfile. ``display_name`` is the name the user knows (uploads
    arrive under temporary names). Returns soundfile's info (frames, samplerate, channels).

    Raises
    ------
    AudioInputError
        when it is missing, empty, too big, not audio (or a format soundfile cannot read), longer than
        ``max_duration_s`` or has more than two channels.
    """
    path = Path(path)
    label = display_name or path.name
    if not path.is_file():
        raise AudioInputError(f"{label}: the file does not exist (was the upload interrupted?); add it again")
    size = path.stat().st_size
    if size == 0:
        raise AudioInputError(f"{label}: the file is empty; add a WAV, FLAC, MP3 or OGG file with sound in it")
    if size > MAX_UPLOAD_BYTES:
        raise AudioInputError(f"{label}: the file is {size / 2**20:.0f} MiB, more than the "
                              f"{MAX_UPLOAD_BYTES / 2**20:.0f} MiB the mixer reads; trim it first")
    try:   # judge by content first: a renamed PDF is refused before any decoder sees it
        check_upload(path, kind="audio", name=display_name or label)
    except ValueError as error:
        raise AudioInputError(str(error)) from None
    try:
        info = sf.info(str(path))
    except Exception as error:  # soundfile raises LibsndfileError/RuntimeError for anything it cannot parse
        raise AudioInputError(f"{label} is not an audio file the mixer can read ({first_line(error)}); "
                              "add a WAV, FLAC, MP3 or OGG file") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise AudioInputError(f"{label}: the file holds no audio frames; add a file with sound in it")
    duration_s = info.frames / info.samplerate
    if duration_s > max_duration_s:
        raise AudioInputError(f"{label} is {_clock(duration_s)} long; the mixer takes files up to "
                              f"{_clock(max_duration_s)}. Trim it to the part you need and add it again")
    if info.channels not in (1, 2):
        raise AudioInputError(f"{label} has {info.channels} channels; the mixer takes mono or stereo files. "
                              "Mix it down to stereo (or split it into mono stems) and add it again")
    return info


def read_audio_file(path: str | os.PathLike, *, sample_rate: int, max_duration_s: float = MAX_UPLOAD_S,
                    resample: bool = True, display_name: str | None = None) -> tuple[np.ndarray, str]:
    """Read an added audio file for a session at ``sample_rate``.

    Returns
    -------
    (audio, note) : tuple
        ``audio`` float32 (n,) for mono files, (n, 2) for stereo, at ``sample_rate``; ``note`` says what
        was done to it ("" when nothing).

    Raises
    ------
    AudioInputError
        see :func:`probe_audio_file`; also for a sample-rate mismatch when ``resample`` is False, and for
        files with NaN/inf samples.
    """
    info = probe_audio_file(path, max_duration_s=max_duration_s, display_name=display_name)
    label = display_name or Path(path).name
    try:
        audio, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioInputError(f"{label} could not be decoded ({first_line(error)}); the file may be damaged. "
                              "Export it again from the program that made it") from None
    if not np.isfinite(audio).all():
        raise AudioInputError(f"{label} contains invalid (NaN or infinite) samples; export it again as "
                              "PCM WAV or FLAC")
    notes = []
    if info.channels == 1:
        audio = audio[:, 0]
        notes.append("mono file: kept as a mono stem (pan places it)")
    if file_rate != sample_rate:
        if not resample:
            raise AudioInputError(f"{label} is at {file_rate} Hz but the session runs at {sample_rate} Hz; "
                                  f"resample it to {sample_rate} Hz, or allow resampling when adding it")
        audio = resample_audio(audio, file_rate, sample_rate)
        notes.append(f"resampled from {file_rate} Hz to {sample_rate} Hz")
    return np.ascontiguousarray(audio, dtype=np.float32), "; ".join(notes)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
