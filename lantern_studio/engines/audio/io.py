"""Audio files in and out for the whole studio: WAV and FLAC through soundfile (libsndfile), MP3 through
pydub with imageio-ffmpeg's bundled ``ffmpeg``.

Writes are atomic (a temporary file beside the target, renamed on success), so a crash never leaves a
half-written file under a final name. Reads return float32 ``(frames, channels)`` and fail with a message
that says what is wrong with the file and what to do.

imageio-ffmpeg ships ``ffmpeg`` but no ``ffprobe``, so pydub is always told the format explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from math import gcd

import numpy as np
import soundfile as sf

from lantern_studio.engines.atomic import atomic_output_path
from lantern_studio.engines.children import adopt_pydub
from lantern_studio.engines.errors import UserInputError, first_line

AUDIO_FORMATS = ("wav", "flac", "mp3")
BIT_DEPTHS = {"wav": (16, 24, 32), "flac": (16, 24), "mp3": (16,)}
_SUBTYPES = {("wav", 16): "PCM_16", ("wav", 24): "PCM_24", ("wav", 32): "FLOAT",
             ("flac", 16): "PCM_16", ("flac", 24): "PCM_24"}
#: formats read through soundfile (everything libsndfile decodes); anything else goes through ffmpeg
_SOUNDFILE_SUFFIXES = {".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc"}
#: suffix -> (ffmpeg demuxer, decoder); naming the decoder keeps pydub from calling ffprobe
_FFMPEG_FORMATS = {".mp3": ("mp3", "mp3"), ".m4a": ("mp4", "aac"), ".aac": ("aac", "aac"), ".opus": ("ogg", "opus")}
CLIP_TOLERANCE = 1e-6


class AudioFileError(UserInputError):
    """An audio file that cannot be read or written; the message says what to do."""


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _pydub():
    import warnings

    with warnings.catch_warnings():  # pydub warns at import that ffmpeg is not on PATH; we set it below
        warnings.simplefilter("ignore", RuntimeWarning)
        from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()
    adopt_pydub()                      # its ffmpeg children die with the studio, even on SIGKILL
    return AudioSegment


def _as_frames(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or not 1 <= audio.shape[1] <= 8:
        raise ValueError(f"audio must have shape (frames,) or (frames, channels) with 1-8 channels, got "
                         f"{audio.shape}; pass samples along axis 0")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"audio must be floating point in [-1, 1], got {audio.dtype}; divide integer PCM by "
                         "its full scale first")
    if audio.shape[0] == 0:
        raise ValueError("audio has no frames; there is nothing to write")
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or infinite samples; fix the signal before writing it")
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0 + CLIP_TOLERANCE:
        raise ValueError(f"audio peaks at {20 * np.log10(peak):+.2f} dBFS and would clip; lower its gain or "
                         "run it through a limiter (kernels.dsp) before writing")
    return np.clip(audio, -1.0, 1.0)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, *, format: str | None = None,
                bit_depth: int = 24, mp3_bitrate_kbps: int = 192) -> Path:
    """Write audio to ``path`` atomically and return the path.

    Parameters
    ----------
    path : str or PathLike
        Target file. Its folder is created if missing.
    audio : ndarray
        float (frames,) or (frames, channels), samples in [-1, 1].
    sample_rate : int
        Hz (8000-192000).
    format : {"wav", "flac", "mp3"}, optional
        Default: from the file suffix.
    bit_depth : int
        WAV 16, 24 or 32 (float); FLAC 16 or 24. MP3 is encoded from 16-bit PCM (pass 16 or leave 24).
    mp3_bitrate_kbps : int
        MP3 bitrate (32-320).

    Raises
    ------
    ValueError
        For a malformed signal (shape, dtype, NaN, a peak above full scale), an unknown format or bit depth.
    AudioFileError
        When the encoder fails.
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in AUDIO_FORMATS:
        raise ValueError(f"audio format {fmt or '(none)'!r} is not one of {', '.join(AUDIO_FORMATS)}; "
                         "pass format= or use a .wav, .flac or .mp3 file name")
    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= int(sample_rate) <= 192_000:
        raise ValueError(f"sample rate {sample_rate!r} is not an integer between 8000 and 192000 Hz")
    if fmt != "mp3" and bit_depth not in BIT_DEPTHS[fmt]:
        raise ValueError(f"{fmt.upper()} bit depth {bit_depth} is not one of {BIT_DEPTHS[fmt]}")
    if not 32 <= int(mp3_bitrate_kbps) <= 320:
        raise ValueError(f"MP3 bitrate {mp3_bitrate_kbps} kbps is outside 32-320")
    frames = _as_frames(audio)
    with atomic_output_path(path, suffix=path.suffix or f".{fmt}") as temp:
        if fmt == "mp3":
            pcm = np.round(frames * 32767.0).astype("<i2")
            segment = _pydub()(pcm.tobytes(), frame_rate=int(sample_rate), sample_width=2,
                               channels=frames.shape[1])
            try:
                segment.export(str(temp), format="mp3", bitrate=f"{int(mp3_bitrate_kbps)}k").close()
            except Exception as error:  # pydub raises CouldntEncodeError with ffmpeg's output
                raise AudioFileError(f"the MP3 encoder failed for {path.name} ({first_line(error)}); "
                                     "write WAV or FLAC instead, or check that imageio-ffmpeg is installed") from None
        else:
            sf.write(str(temp), frames, int(sample_rate), subtype=_SUBTYPES[(fmt, bit_depth)],
                     format=fmt.upper())
    return path


def read_audio(path: str | os.PathLike, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 ``(frames, channels)``.

    Parameters
    ----------
    path : str or PathLike
        WAV, FLAC, OGG, AIFF (soundfile) or MP3/M4A/AAC/Opus (ffmpeg through pydub).
    sample_rate : int, optional
        Resample to this rate (polyphase, scipy) when the file's rate differs.

    Returns
    -------
    (audio, sample_rate) : tuple
        ``audio`` float32 (frames, channels) in [-1, 1]; the rate it is at.

    Raises
    ------
    AudioFileError
        When the file is missing, empty, damaged or in a format that cannot be decoded; the message names
        the file and what to do.
    """
    path = Path(path)
    if sample_rate is not None and (not isinstance(sample_rate, (int, np.integer)) or not 8000 <= sample_rate <= 192_000):
        raise ValueError(f"sample rate {sample_rate!r} is not an integer between 8000 and 192000 Hz")
    if not path.is_file():
        raise AudioFileError(f"{path} does not exist or is not a file; check the path")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path.name} is empty (0 bytes); export it again from the program that made it")
    suffix = path.suffix.lower()
    if suffix in _FFMPEG_FORMATS:
        audio, rate = _read_ffmpeg(path, *_FFMPEG_FORMATS[suffix])
    else:
        from lantern_studio.engines.audio.integrity import check_wav_complete

        check_wav_complete(path)        # libsndfile would read a cut-short WAV without a word
        try:
            audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as error:  # soundfile raises LibsndfileError / RuntimeError for undecodable data
            hint = ("the file may be damaged or truncated; export it again" if suffix in _SOUNDFILE_SUFFIXES
                    else "convert it to WAV, FLAC or MP3")
            raise AudioFileError(f"{path.name} could not be decoded as audio ({first_line(error)}); {hint}") from None
    if audio.shape[0] == 0:
        raise AudioFileError(f"{path.name} holds no audio frames; use a file with sound in it")
    if not np.isfinite(audio).all():
        raise AudioFileError(f"{path.name} contains NaN or infinite samples; export it again as PCM WAV or FLAC")
    if sample_rate is not None and int(sample_rate) != rate:
        audio = resample(audio, rate, int(sample_rate))
        rate = int(sample_rate)
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def _read_ffmpeg(path: Path, fmt: str, codec: str) -> tuple[np.ndarray, int]:
    try:
        segment = _pydub().from_file(str(path), format=fmt, codec=codec)
    except Exception as error:  # pydub raises CouldntDecodeError with ffmpeg's log
        raise AudioFileError(f"{path.name} could not be decoded as {codec.upper()} ({first_line(error)}); the "
                             "file may be damaged or truncated: export it again, or convert it to WAV") from None
    width = segment.sample_width
    dtype = {1: np.int8, 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:
        raise AudioFileError(f"{path.name} decodes to {8 * width}-bit samples, which are not supported; "
                             "convert it to 16-bit WAV")
    data = np.frombuffer(segment.raw_data, dtype=dtype).astype(np.float32)
    data /= float(2 ** (8 * width - 1))
    return data.reshape(-1, segment.channels), int(segment.frame_rate)


def resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling (``scipy.signal.resample_poly``, Kaiser window) along the time axis.

    Parameters
    ----------
    audio : np.ndarray
        float (n,) or (n, channels).
    from_rate, to_rate : int
        sample rates in Hz.

    Returns
    -------
    np.ndarray
        float32, C-contiguous, ``round(n * to_rate / from_rate)`` frames, same channels; the input itself (as
        float32) when the rates are equal.
    """
    from scipy.signal import resample_poly

    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} and {to_rate}")
    if from_rate == to_rate:
        return np.asarray(audio, dtype=np.float32)
    g = gcd(int(from_rate), int(to_rate))
    out = resample_poly(np.asarray(audio, dtype=np.float64), int(to_rate) // g, int(from_rate) // g, axis=0)
    want = int(round(audio.shape[0] * to_rate / from_rate))
    return np.ascontiguousarray(out[:want], dtype=np.float32)
