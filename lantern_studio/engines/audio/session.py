"""A stem session for the mixer: the stems of a take plus added audio, mixed, mastered, metered, exported.

A session holds an ordered list of stems (a composer take's parts, a MusicGen take's audio, uploaded
files, firecracker/SFX one-shots), each with gain, pan, mute, solo and a start offset, and an optional
ducking key (the stems under it are lowered while it plays). :meth:`StemSession.render` mixes with
``kernels.mix``, brings the bus to a loudness target under a true-peak ceiling with ``kernels.dsp`` and
measures it (integrated loudness, short-term maximum, true peak). :func:`export_session` writes the mix
and the stems as WAV (24-bit), FLAC or MP3, the MIDI the engine made, a JSON recipe and a zip of all of it.

Added audio is checked before it is decoded: a file that is not audio, one longer than
``MAX_UPLOAD_S`` or with more than two channels is refused with a message; a mono file is accepted as a
mono stem (panned like any other); a file at another sample rate is **resampled** to the session's rate
(polyphase, ``scipy.signal.resample_poly``) and the returned note says so. ``resample=False`` refuses
instead.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import soundfile as sf

from lantern_studio.engines.atomic import atomic_output_path, atomic_write_bytes, atomic_write_json
from lantern_studio.engines.audio.io import resample as resample_audio   # `resample` is a keyword option here
from lantern_studio.engines.audio.mastering import SILENCE_LUFS, master_to_loudness
from lantern_studio.engines.errors import UserInputError, first_line
from lantern_studio.engines.safety import check_upload
from lantern_studio.kernels import dsp
from lantern_studio.kernels.mix import Ducking, mix

#: longest audio file the mixer accepts (seconds); longer files are refused before decoding
MAX_UPLOAD_S = 15 * 60.0
#: largest file the mixer reads (bytes)
MAX_UPLOAD_BYTES = 1 << 30
MAX_STEMS = 32
EXPORT_FORMATS = ("wav", "flac", "mp3")
MP3_BITRATE_KBPS = 320
SESSION_FILE = "session.json"

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]


class AudioInputError(UserInputError):
    """An audio file the mixer will not use as it is; the message says why and what to do."""


@dataclass
class Stem:
    """One source in the session.

    ``audio``: float32, (n,) mono or (n, 2) stereo, at the session's sample rate.
    ``gain_db`` static gain in dB; ``pan`` in [-1, 1]; ``offset_s`` where it starts on the timeline.
    ``source``: "take" (made by an engine), "file" (added audio) or "sfx" (a one-shot).
    """

    name: str
    audio: np.ndarray = field(repr=False)
    source: str = "take"
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    offset_s: float = 0.0
    origin: str = ""            # file name or take id it came from

    @property
    def channels(self) -> int:
        return 1 if self.audio.ndim == 1 else int(self.audio.shape[1])

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "gain_db": self.gain_db, "pan": self.pan,
                "mute": self.mute, "solo": self.solo, "offset_s": self.offset_s, "origin": self.origin,
                "channels": self.channels}


@dataclass(frozen=True)
class MasterSettings:
    """Master bus: loudness target (LUFS) and true-peak ceiling (dBTP); ducking under a key stem.

    ``duck_key`` names the key stem (None: no ducking); ``duck_targets`` the stems it lowers (None: all
    others); ``duck_depth_db`` <= 0. ``normalize`` False leaves the bus at its mixed level (only the
    ceiling is applied). ``crossfeed_strength`` > 0 adds headphone crossfeed to the render (off by default:
    exports get it only when asked).
    """

    target_lufs: float = -14.0
    ceiling_dbtp: float = -1.0
    duck_key: str | None = None
    duck_targets: tuple[str, ...] | None = None
    duck_depth_db: float = -9.0
    normalize: bool = True
    crossfeed_strength: float = 0.0

    def validate(self) -> None:
        if not math.isfinite(self.target_lufs) or not -40.0 <= self.target_lufs <= -5.0:
            raise ValueError(f"master loudness target {self.target_lufs} LUFS is outside -40 to -5 LUFS; "
                             "-14 LUFS suits streaming, -16 LUFS podcasts and headphones")
        if not math.isfinite(self.ceiling_dbtp) or not -20.0 <= self.ceiling_dbtp <= 0.0:
            raise ValueError(f"true-peak ceiling {self.ceiling_dbtp} dBTP is outside -20 to 0 dBTP; -1 dBTP "
                             "is the usual choice")
        if not math.isfinite(self.duck_depth_db) or not -60.0 <= self.duck_depth_db <= 0.0:
            raise ValueError(f"ducking depth {self.duck_depth_db} dB is outside -60 to 0 dB")
        if not 0.0 <= self.crossfeed_strength <= 1.0:
            raise ValueError(f"crossfeed strength {self.crossfeed_strength} is outside 0-1; 0 turns it off")


@dataclass(frozen=True)
class MixResult:
    """A rendered mix: ``audio`` float32 (n, 2) at ``sample_rate``; meter readings; the master gain used."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    integrated_lufs: float
    short_term_max_lufs: float
    true_peak_dbtp: float
    master_gain_db: float
    settings: MasterSettings

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def meter(self) -> dict[str, float]:
        return {"integrated_lufs": self.integrated_lufs, "short_term_max_lufs": self.short_term_max_lufs,
                "true_peak_dbtp": self.true_peak_dbtp}


# ---------------------------------------------------------------------------------------------------
# reading added audio
# ---------------------------------------------------------------------------------------------------

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


def _check_stem_audio(name: str, audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 2 and audio.shape[1] == 1:
        audio = audio[:, 0]
    if audio.ndim not in (1, 2) or (audio.ndim == 2 and audio.shape[1] != 2):
        raise ValueError(f"stem {name!r}: audio must have shape (n,) mono or (n, 2) stereo, got {audio.shape}; "
                         "mix it down to stereo first")
    if audio.shape[0] == 0:
        raise ValueError(f"stem {name!r}: the audio is empty")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"stem {name!r}: audio must be floating point samples in [-1, 1], got {audio.dtype}")
    if not np.isfinite(audio).all():
        raise ValueError(f"stem {name!r}: the audio contains NaN or infinite samples; re-render or replace it")
    return np.ascontiguousarray(audio, dtype=np.float32)


# ---------------------------------------------------------------------------------------------------
# the session
# ---------------------------------------------------------------------------------------------------

class StemSession:
    """Stems of one take (and added audio) with mixer settings.

    Parameters
    ----------
    sample_rate : int
        Hz; every stem is kept at this rate.
    take_id, take_name, seed : optional
        where the session came from; they name the exported files.
    """

    def __init__(self, *, sample_rate: int, take_id: str | None = None, take_name: str = "",
                 seed: int | None = None, recipe: Mapping[str, Any] | None = None, midi: bytes | None = None):
        if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= sample_rate <= 384_000:
            raise ValueError(f"sample_rate must be an integer between 8000 and 384000 Hz, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self.take_id = take_id
        self.take_name = take_name
        self.seed = seed
        self.recipe = dict(recipe or {})
        self.midi = midi
        self.stems: list[Stem] = []
        self.master = MasterSettings()

    # ---- building -------------------------------------------------------------------------------
    @classmethod
    def from_take(cls, take: Any) -> "StemSession":
        """A session from an ``engines.music.base.Take``: its stems, or its audio as one stem."""
        session = cls(sample_rate=int(take.sample_rate), take_id=take.id, take_name=take.name or take.id,
                      seed=take.seed, recipe=take.recipe(), midi=take.midi)
        stems = dict(getattr(take, "stems", {}) or {})
        if stems:
            for name, audio in stems.items():
                session.add_stem(str(name), audio, source="take", origin=take.id)
        else:
            session.add_stem(take.engine or "take", take.audio, source="take", origin=take.id)
        return session

    def names(self) -> list[str]:
        return [stem.name for stem in self.stems]

    def stem(self, name: str) -> Stem:
        for stem in self.stems:
            if stem.name == name:
                return stem
        raise ValueError(f"there is no stem named {name!r}; stems: {', '.join(self.names()) or '(none)'}")

    def _unique_name(self, name: str) -> str:
        base = (name or "stem").strip() or "stem"
        candidate, counter = base, 2
        while candidate in self.names():
            candidate = f"{base} {counter}"
            counter += 1
        return candidate

    def add_stem(self, name: str, audio: np.ndarray, *, source: str = "file", sample_rate: int | None = None,
                 offset_s: float = 0.0, gain_db: float = 0.0, pan: float = 0.0, origin: str = "",
                 resample: bool = True) -> Stem:
        """Add audio as a stem (a name already used gets " 2", " 3"...). Returns the new stem.

        ``sample_rate`` (Hz) is the audio's rate when it differs from the session's; it is resampled, or
        refused when ``resample`` is False.
        """
        if len(self.stems) >= MAX_STEMS:
            raise ValueError(f"a session holds at most {MAX_STEMS} stems; remove one first")
        audio = _check_stem_audio(name, audio)
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            if not resample:
                raise AudioInputError(f"stem {name!r} is at {sample_rate} Hz but the session runs at "
                                      f"{self.sample_rate} Hz; resample it first or allow resampling")
            audio = resample_audio(audio, int(sample_rate), self.sample_rate)
        stem = Stem(name=self._unique_name(name), audio=audio, source=source, origin=origin)
        self.stems.append(stem)
        try:
            self.set_stem(stem.name, offset_s=offset_s, gain_db=gain_db, pan=pan)
        except ValueError:
            self.stems.pop()
            raise
        return stem

    def add_file(self, path: str | os.PathLike, *, name: str | None = None, source: str = "file",
                 offset_s: float = 0.0, resample: bool = True, max_duration_s: float = MAX_UPLOAD_S,
                 display_name: str | None = None) -> tuple[Stem, str]:
        """Add an audio file as a stem. Returns the stem and a note ("resampled from 44100 Hz...").

        ``display_name`` is the file name the user knows (uploads arrive under temporary names). Nothing in
        the session changes when the file is refused (:class:`AudioInputError`).
        """
        audio, note = read_audio_file(path, sample_rate=self.sample_rate, max_duration_s=max_duration_s,
                                      resample=resample, display_name=display_name)
        shown = display_name or Path(path).name
        label = name or Path(shown).stem
        stem = self.add_stem(label, audio, source=source, offset_s=offset_s, origin=shown)
        return stem, note

    def remove_stem(self, name: str) -> Stem:
        stem = self.stem(name)
        self.stems.remove(stem)
        if self.master.duck_key == name:
            self.master = replace(self.master, duck_key=None)
        return stem

    def set_stem(self, name: str, *, gain_db: float | None = None, pan: float | None = None,
                 mute: bool | None = None, solo: bool | None = None, offset_s: float | None = None) -> Stem:
        """Change one stem's settings (only the ones given)."""
        stem = self.stem(name)
        if gain_db is not None:
            if not math.isfinite(gain_db) or not -60.0 <= gain_db <= 24.0:
                raise ValueError(f"stem {name!r}: gain {gain_db} dB is outside -60 to +24 dB")
            stem.gain_db = float(gain_db)
        if pan is not None:
            if not math.isfinite(pan) or not -1.0 <= pan <= 1.0:
                raise ValueError(f"stem {name!r}: pan {pan} is outside -1 (left) to 1 (right)")
            stem.pan = float(pan)
        if offset_s is not None:
            if not math.isfinite(offset_s) or not 0.0 <= offset_s <= MAX_UPLOAD_S:
                raise ValueError(f"stem {name!r}: start offset {offset_s} s is outside 0-{MAX_UPLOAD_S:g} s")
            stem.offset_s = float(offset_s)
        if mute is not None:
            stem.mute = bool(mute)
        if solo is not None:
            stem.solo = bool(solo)
        return stem

    def set_master(self, **changes: Any) -> MasterSettings:
        master = replace(self.master, **changes)
        master.validate()
        if master.duck_key is not None:
            self.stem(master.duck_key)
            for target in master.duck_targets or ():
                self.stem(target)
            if master.duck_targets and master.duck_key in master.duck_targets:
                raise ValueError(f"the ducking key {master.duck_key!r} cannot also be one of the stems it lowers")
        self.master = master
        return master

    # ---- rendering ------------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        if not self.stems:
            return 0.0
        return max(stem.offset_s + stem.audio.shape[0] / self.sample_rate for stem in self.stems)

    def _ducking(self, master: MasterSettings) -> Ducking | None:
        if master.duck_key is None:
            return None
        names = self.names()
        key = names.index(master.duck_key)
        targets = master.duck_targets if master.duck_targets else tuple(n for n in names if n != master.duck_key)
        indices = tuple(names.index(t) for t in targets if t != master.duck_key)
        if not indices:
            return None
        return Ducking(key=key, targets=indices, depth_db=float(master.duck_depth_db))

    def mix_bus(self, *, backend: str = "auto", only: str | None = None) -> np.ndarray:
        """The summed stems before the master stage: float32 (n, 2). ``only`` renders one stem alone
        (with its gain, pan and the ducking it receives; mute/solo ignored)."""
        if not self.stems:
            raise ValueError("the session has no stems; load a take or add an audio file first")
        master = self.master
        mute = [stem.mute for stem in self.stems]
        solo = [stem.solo for stem in self.stems]
        if only is not None:
            index = self.names().index(self.stem(only).name)
            mute = [False] * len(self.stems)
            solo = [i == index for i in range(len(self.stems))]
        ducking = self._ducking(master)
        if only is not None and ducking is not None:
            # the key must stay audible for ducking to happen: render key + target, then silence the key
            return self._stem_with_ducking(index, ducking, backend=backend)
        return mix([stem.audio for stem in self.stems], sample_rate=self.sample_rate,
                   gain_db=[stem.gain_db for stem in self.stems], pan=[stem.pan for stem in self.stems],
                   offsets_s=[stem.offset_s for stem in self.stems], mute=mute, solo=solo, ducking=ducking,
                   length_s=self.duration_s, backend=backend)

    def _stem_with_ducking(self, index: int, ducking: Ducking, *, backend: str) -> np.ndarray:
        stems = [stem.audio for stem in self.stems]
        gains = [stem.gain_db for stem in self.stems]
        if index in ducking.targets:
            # the key drives the envelope; render the key alone and the pair, and subtract the key
            pair = [i == index or i == ducking.key for i in range(len(stems))]
            both = mix(stems, sample_rate=self.sample_rate, gain_db=gains, pan=[s.pan for s in self.stems],
                       offsets_s=[s.offset_s for s in self.stems], solo=pair, ducking=ducking,
                       length_s=self.duration_s, backend=backend)
            key_alone = [i == ducking.key for i in range(len(stems))]
            key = mix(stems, sample_rate=self.sample_rate, gain_db=gains, pan=[s.pan for s in self.stems],
                      offsets_s=[s.offset_s for s in self.stems], solo=key_alone, length_s=self.duration_s,
                      backend=backend)
            return np.ascontiguousarray(both - key, dtype=np.float32)
        alone = [i == index for i in range(len(stems))]
        return mix(stems, sample_rate=self.sample_rate, gain_db=gains, pan=[s.pan for s in self.stems],
                   offsets_s=[s.offset_s for s in self.stems], solo=alone, length_s=self.duration_s,
                   backend=backend)

    def render(self, *, master: MasterSettings | None = None, backend: str = "auto",
               progress: Progress | None = None, cancel: Cancel | None = None) -> MixResult:
        """Mix, master and meter the session.

        The bus from ``kernels.mix`` is (optionally) crossfed, brought to ``master.target_lufs`` with its
        true peak under ``master.ceiling_dbtp`` (``kernels.dsp.normalize_loudness``; with ``normalize``
        False only the ceiling is enforced), then measured with ``kernels.dsp.loudness_stats``.
        """
        master = master or self.master
        master.validate()
        if progress is not None:
            progress(0.05, "mixing stems")
        bus = self.mix_bus(backend=backend)
        if cancel is not None and cancel():
            raise InterruptedError("render stopped")
        if master.crossfeed_strength > 0:
            bus = np.ascontiguousarray(dsp.crossfeed(bus, self.sample_rate, strength=master.crossfeed_strength),
                                       dtype=np.float32)
        if progress is not None:
            progress(0.5, "mastering")
        before = float(dsp.integrated_loudness(bus, self.sample_rate))
        if not math.isfinite(before) or before < SILENCE_LUFS:
            raise ValueError("the mix is silent (every stem muted, or only silence soloed); unmute a stem")
        if master.normalize:
            out = master_to_loudness(bus, self.sample_rate, target_lufs=master.target_lufs,
                                     ceiling_dbtp=master.ceiling_dbtp).audio
            gain_db = master.target_lufs - before
        else:
            out = np.asarray(dsp.normalize_loudness(bus, self.sample_rate, target_lufs=before,
                                                    ceiling_dbtp=master.ceiling_dbtp), dtype=np.float32)
            gain_db = 0.0
        if progress is not None:
            progress(0.9, "metering")
        stats = dsp.loudness_stats(out, self.sample_rate)
        if progress is not None:
            progress(1.0, "mix ready")
        return MixResult(audio=out, sample_rate=self.sample_rate, integrated_lufs=float(stats["integrated_lufs"]),
                         short_term_max_lufs=float(stats["short_term_max_lufs"]),
                         true_peak_dbtp=float(stats["true_peak_dbtp"]), master_gain_db=float(gain_db),
                         settings=master)

    # ---- persistence ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Settings and provenance (no audio), for the JSON recipe and for saving."""
        return {"sample_rate": self.sample_rate, "take_id": self.take_id, "take_name": self.take_name,
                "seed": self.seed, "take_recipe": self.recipe, "master": asdict(self.master),
                "stems": [stem.settings() for stem in self.stems], "duration_s": round(self.duration_s, 6)}

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the session (settings JSON + every stem as a float WAV) into ``folder``; return the JSON path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        for index, stem in enumerate(self.stems):
            filename = f"stem-{index:02d}-{safe_filename(stem.name)}.wav"
            with atomic_output_path(folder / filename, suffix=".wav") as temp:
                sf.write(temp, stem.audio, self.sample_rate, subtype="FLOAT", format="WAV")
            data["stems"][index]["file"] = filename
        if self.midi is not None:
            atomic_write_bytes(folder / "take.mid", self.midi)
            data["midi_file"] = "take.mid"
        return atomic_write_json(folder / SESSION_FILE, data)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "StemSession":
        """Read a session written by :meth:`save`."""
        folder = Path(folder)
        try:
            data = json.loads((folder / SESSION_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{folder / SESSION_FILE} cannot be read ({error}); render the take into the mixer "
                             "again") from error
        midi = (folder / data["midi_file"]).read_bytes() if data.get("midi_file") else None
        session = cls(sample_rate=int(data["sample_rate"]), take_id=data.get("take_id"),
                      take_name=data.get("take_name", ""), seed=data.get("seed"), recipe=data.get("take_recipe"),
                      midi=midi)
        for item in data["stems"]:
            audio, rate = sf.read(str(folder / item["file"]), dtype="float32", always_2d=False)
            stem = session.add_stem(item["name"], audio, source=item.get("source", "file"), sample_rate=rate,
                                    origin=item.get("origin", ""))
            session.set_stem(stem.name, gain_db=item["gain_db"], pan=item["pan"], mute=item["mute"],
                             solo=item["solo"], offset_s=item["offset_s"])
        master = dict(data.get("master") or {})
        if master.get("duck_targets") is not None:
            master["duck_targets"] = tuple(master["duck_targets"])
        session.set_master(**master)
        return session


# ---------------------------------------------------------------------------------------------------
# one-shots
# ---------------------------------------------------------------------------------------------------

def firecrackers(*, sample_rate: int, seed: int, duration_s: float = 2.5, pops_per_s: float = 28.0,
                 peak: float = 0.8) -> np.ndarray:
    """A string of firecrackers as a stereo one-shot: many short cracks, a few louder bangs, spread in space.

    Each crack is a few milliseconds of noise with an exponential decay and its own brightness (a one-pole
    low-pass) and position; the rate thins out towards the end like a real string burning down.

    Parameters
    ----------
    sample_rate : int
        Hz.
    seed : int
        the same seed gives the same one-shot.
    duration_s : float
        length in seconds (0.1-30).
    pops_per_s : float
        average cracks per second at the start (1-200).
    peak : float
        peak sample value of the result (0-1].

    Returns
    -------
    np.ndarray
        float32 (n, 2).
    """
    from scipy.signal import lfilter

    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= sample_rate <= 384_000:
        raise ValueError(f"sample_rate must be 8000-384000 Hz, got {sample_rate!r}")
    if not 0.1 <= duration_s <= 30.0:
        raise ValueError(f"duration_s must be 0.1-30 s, got {duration_s}")
    if not 1.0 <= pops_per_s <= 200.0:
        raise ValueError(f"pops_per_s must be 1-200, got {pops_per_s}")
    if not 0.0 < peak <= 1.0:
        raise ValueError(f"peak must be in (0, 1], got {peak}")
    rng = np.random.default_rng(int(seed))
    n = int(round(duration_s * sample_rate))
    out = np.zeros((n, 2), dtype=np.float64)
    t = 0.0
    while True:
        rate = pops_per_s * max(0.15, 1.0 - 0.8 * t / duration_s)
        t += rng.exponential(1.0 / rate)
        if t >= duration_s - 0.02:
            break
        bang = rng.random() < 0.08
        length = int(sample_rate * (rng.uniform(0.02, 0.06) if bang else rng.uniform(0.003, 0.012)))
        decay = np.exp(-np.arange(length) / (length / 5.0))
        burst = rng.standard_normal(length) * decay * (1.0 if bang else rng.uniform(0.25, 0.7))
        alpha = rng.uniform(0.3, 0.95)            # brightness: one-pole low-pass coefficient
        burst = lfilter([1.0 - alpha * 0.5], [1.0, -alpha * 0.5], burst)
        pan = rng.uniform(-0.8, 0.8)
        theta = (pan + 1.0) * np.pi / 4.0
        start = int(t * sample_rate)
        end = min(n, start + length)
        out[start:end, 0] += burst[: end - start] * np.cos(theta)
        out[start:end, 1] += burst[: end - start] * np.sin(theta)
    top = float(np.max(np.abs(out)))
    if top > 0:
        out *= peak / top
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------------

def safe_filename(text: str, *, limit: int = 60) -> str:
    """A file-name-safe version of ``text`` (letters of any script, digits, ``-``, ``_``)."""
    cleaned = re.sub(r"[^\w\-]+", "-", str(text), flags=re.UNICODE).strip("-_")
    return cleaned[:limit] or "untitled"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_session` wrote: every file (mix first), the zip, and the recipe path."""

    folder: Path
    files: tuple[Path, ...]
    zip_path: Path | None
    recipe_path: Path
    mix: MixResult

    def by_kind(self) -> dict[str, list[Path]]:
        kinds: dict[str, list[Path]] = {}
        for path in self.files:
            kinds.setdefault(path.suffix.lstrip(".").lower(), []).append(path)
        return kinds


def export_session(session: StemSession, folder: str | os.PathLike, *, formats: Sequence[str] = ("wav",),
                   stems: bool = True, midi: bool = True, make_zip: bool = True, backend: str = "auto",
                   master: MasterSettings | None = None, progress: Progress | None = None,
                   cancel: Cancel | None = None) -> ExportResult:
    """Render and write a session: the mix and (optionally) each stem in every format, the MIDI, a recipe.

    File names carry the take name and seed: ``<take>_seed<seed>_mix.wav``,
    ``<take>_seed<seed>_stem-<name>.flac``, ``<take>_seed<seed>.mid``, ``<take>_seed<seed>_recipe.json``
    and ``<take>_seed<seed>.zip`` holding all of them. WAV and FLAC are 24-bit; MP3 is 320 kbit/s (all
    written by ``engines.audio.io.write_audio``). Stems are written as the mixer hears them (gain, pan,
    ducking) at the master gain, without the master limiter, so they sum back to the unlimited mix (a
    stem louder than full scale at that gain is clipped: lower the master target if that happens).

    Returns
    -------
    ExportResult
    """
    formats = tuple(dict.fromkeys(f.lower().lstrip(".") for f in formats))
    if not formats:
        raise ValueError("pick at least one export format (wav, flac or mp3)")
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {', '.join(unknown)}; use {', '.join(EXPORT_FORMATS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = session.render(master=master, backend=backend)
    base = safe_filename(session.take_name or session.take_id or "mix")
    if session.seed is not None:
        base += f"_seed{int(session.seed)}"
    steps = len(formats) * (1 + (len(session.stems) if stems else 0)) + 2
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        if cancel is not None and cancel():
            raise InterruptedError("export stopped; files written so far are complete")
        if progress is not None:
            progress(min(done / steps, 1.0), message)

    written: list[Path] = []
    for fmt in formats:
        step(f"writing the mix as {fmt.upper()}")
        written.append(write_audio_file(folder / f"{base}_mix.{fmt}", result.audio, session.sample_rate, fmt))
    if stems:
        gain = 10.0 ** (result.master_gain_db / 20.0) if result.settings.normalize else 1.0
        for stem in session.stems:
            if stem.mute:
                continue
            audio = session.mix_bus(backend=backend, only=stem.name) * np.float32(gain)
            for fmt in formats:
                step(f"writing stem {stem.name} as {fmt.upper()}")
                written.append(write_audio_file(folder / f"{base}_stem-{safe_filename(stem.name)}.{fmt}", audio,
                                                session.sample_rate, fmt))
    if midi and session.midi is not None:
        written.append(atomic_write_bytes(folder / f"{base}.mid", session.midi))
    recipe = {**session.to_dict(), "exported": _dt.datetime.now().isoformat(timespec="seconds"),
              "meter": result.meter(), "master_gain_db": result.master_gain_db,
              "files": [p.name for p in written]}
    recipe_path = atomic_write_json(folder / f"{base}_recipe.json", recipe)
    written.append(recipe_path)
    step("recipe written")
    zip_path = None
    if make_zip:
        zip_path = folder / f"{base}.zip"
        with atomic_output_path(zip_path, suffix=".zip") as temp:
            with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for path in written:
                    archive.write(path, arcname=path.name)
        step("zip written")
    return ExportResult(folder=folder, files=tuple(written), zip_path=zip_path, recipe_path=recipe_path, mix=result)


def write_audio_file(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, fmt: str) -> Path:
    """Write float audio as WAV (24-bit PCM), FLAC (24-bit) or MP3 through ``engines.audio.io.write_audio``
    (atomic). Samples beyond full scale are clipped first. Returns the path."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; use {', '.join(EXPORT_FORMATS)}")
    from lantern_studio.engines.audio.io import write_audio

    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return write_audio(path, clipped, int(sample_rate), format=fmt, bit_depth=16 if fmt == "mp3" else 24,
                       mp3_bitrate_kbps=MP3_BITRATE_KBPS)
