"""Whether an audio file is whole, before minutes of work are built on it.

libsndfile reads a WAV cut short (an interrupted copy or download) without a word: it trusts the bytes that are
there and returns fewer frames than the header promised. ``check_wav_complete`` compares the ``data`` chunk's
declared size with the bytes the file holds; ``read_complete_audio`` adds a full decode (``engines.audio.io``)
and, for formats that record their length (FLAC, Ogg), compares the frames decoded with the frames declared.
Special files (a FIFO, a device) are refused from their ``stat`` without being opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from lantern_studio.engines.audio.io import AudioFileError, read_audio

_UNKNOWN_SIZE = 0xFFFFFFFF       # streaming writers put this where they cannot know the size yet


def check_regular_file(path: str | os.PathLike, *, what: str = "audio file") -> Path:
    """``path`` when it is an existing regular file; AudioFileError (without opening it) otherwise."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise AudioFileError(f"{path} does not exist; check the path") from None
    except OSError as error:
        raise AudioFileError(f"{path} cannot be read ({error}); check the path and its permissions") from None
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "a special file"
        raise AudioFileError(f"{path} is {kind}, not an {what}; it is not opened. Give a WAV, FLAC or MP3 file")
    return path


def check_wav_complete(path: str | os.PathLike) -> None:
    """Raise AudioFileError when a RIFF/WAVE file holds fewer audio bytes than its ``data`` chunk declares.

    Files that are not RIFF/WAVE, RF64 files (their sizes live elsewhere) and streamed WAVs whose size field is
    unknown are left to the decoder.
    """
    path = check_regular_file(path)
    size = path.stat().st_size
    with open(path, "rb") as stream:
        head = stream.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        position = 12
        while position + 8 <= size:
            stream.seek(position)
            chunk = stream.read(8)
            chunk_id, chunk_bytes = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if chunk_id == b"data":
                available = size - position - 8
                if chunk_bytes != _UNKNOWN_SIZE and chunk_bytes > available:
                    share = available / chunk_bytes if chunk_bytes else 0.0
                    raise AudioFileError(
                        f"{path.name} is truncated: its header promises {chunk_bytes:,} bytes of audio but the file "
                        f"holds {available:,} ({share:.0%}); it was cut short (an interrupted copy, download or "
                        "export). Copy or export it again")
                return
            position += 8 + chunk_bytes + (chunk_bytes & 1)


def read_complete_audio(path: str | os.PathLike, *, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """``engines.audio.io.read_audio`` for a file that must be whole: refuses special files, truncated WAVs and
    FLAC/Ogg files that decode to fewer frames than they declare. Returns float32 ``(frames, channels)`` and the
    rate in Hz."""
    path = check_regular_file(path)
    check_wav_complete(path)
    audio, rate = read_audio(path)
    if path.suffix.lower() in (".flac", ".ogg", ".oga"):
        import soundfile as sf

        try:
            declared = int(sf.info(str(path)).frames)
        except Exception:  # soundfile raises LibsndfileError / RuntimeError; read_audio already decoded it
            declared = 0
        if 0 < declared < 2**62 and audio.shape[0] < declared:
            raise AudioFileError(f"{path.name} is truncated: it declares {declared:,} frames but only "
                                 f"{audio.shape[0]:,} decode; copy or export it again")
    if sample_rate is not None and sample_rate != rate:
        from lantern_studio.engines.audio.io import resample

        audio, rate = resample(audio, rate, int(sample_rate)), int(sample_rate)
    return audio, rate
