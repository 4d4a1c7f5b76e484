"""A stem session for the mixer: the stems of a take plus added audio, mixed, mastered and metered.

A session holds an ordered list of stems (a composer take's parts, a MusicGen take's audio, added files
(``engines.audio.ingest``), firecracker/SFX one-shots (``engines.audio.sfx``)), each with gain, pan, mute, solo
and a start offset, and an optional ducking key (the stems under it are lowered while it plays).
:meth:`StemSession.render` mixes with ``kernels.mix``, masters the bus to a loudness target under a true-peak
ceiling (``engines.audio.mastering``) and measures it (integrated loudness, short-term maximum, true peak).
``engines.audio.stem_export`` writes it out.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import soundfile as sf

from lantern_studio.engines.jobs import Cancel, Progress, check_cancel
from lantern_studio.engines.atomic import atomic_output_path, atomic_write_bytes, atomic_write_json
from lantern_studio.engines.audio.ingest import MAX_UPLOAD_S, AudioInputError, read_audio_file
from lantern_studio.engines.audio.io import resample as resample_audio   # `resample` is a keyword option here
from lantern_studio.engines.audio.mastering import SILENCE_LUFS, master_to_loudness
from lantern_studio.engines.safety import sanitize_filename
from lantern_studio.kernels import dsp
from lantern_studio.kernels.mix import Ducking, Stem as MixStem, mix

MAX_STEMS = 32
SESSION_FILE = "session.json"



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

    def mix_bus(self, *, backend: str = "auto", only: str | None = None, ignore_solo: bool = False) -> np.ndarray:
        """The summed stems before the master stage: float32 (n, 2). ``only`` renders one stem alone
        (with its gain, pan and the ducking it receives; mute/solo ignored); ``ignore_solo`` renders the full
        mix (mutes kept) whatever is soloed."""
        if not self.stems:
            raise ValueError("the session has no stems; load a take or add an audio file first")
        master = self.master
        mute = [stem.mute for stem in self.stems]
        solo = [False if ignore_solo else stem.solo for stem in self.stems]
        if only is not None:
            index = self.names().index(self.stem(only).name)
            mute = [False] * len(self.stems)
            solo = [i == index for i in range(len(self.stems))]
        ducking = self._ducking(master)
        if only is not None and ducking is not None:
            if index in ducking.targets:
                # the key must stay audible for ducking to happen: render key + target, then silence the key
                return self._target_with_ducking(index, ducking, mute, backend=backend)
            ducking = None   # a stem the key does not lower plays alone as it is
        return mix(self._mix_stems(mute, solo), sample_rate=self.sample_rate, ducking=ducking,
                   length_s=self.duration_s, backend=backend)

    def _mix_stems(self, mute: list[bool], solo: list[bool]) -> list[MixStem]:
        """The session's stems as the mix kernel takes them, with the given mute and solo flags."""
        return [MixStem(stem.audio, gain_db=stem.gain_db, pan=stem.pan, offset_s=stem.offset_s, mute=m, solo=s)
                for stem, m, s in zip(self.stems, mute, solo)]

    def _target_with_ducking(self, index: int, ducking: Ducking, mute: list[bool], *, backend: str) -> np.ndarray:
        """Stem ``index`` (a ducking target) alone as the key lowers it: the key drives the envelope, so
        the pair key + target is rendered and the key alone subtracted."""
        count = len(self.stems)
        pair = [i == index or i == ducking.key for i in range(count)]
        both = mix(self._mix_stems(mute, pair), sample_rate=self.sample_rate, ducking=ducking,
                   length_s=self.duration_s, backend=backend)
        key_alone = [i == ducking.key for i in range(count)]
        key = mix(self._mix_stems(mute, key_alone), sample_rate=self.sample_rate, length_s=self.duration_s,
                  backend=backend)
        return np.ascontiguousarray(both - key, dtype=np.float32)

    def render(self, *, master: MasterSettings | None = None, backend: str = "auto",
               progress: Progress | None = None, cancel: Cancel | None = None) -> MixResult:
        """Mix, master and meter the session.

        The bus from ``kernels.mix`` is (optionally) crossfed, brought to ``master.target_lufs`` with its
        true peak under ``master.ceiling_dbtp`` (``kernels.dsp.normalize_loudness``; with ``normalize``
        False only the ceiling is enforced), then measured with ``kernels.dsp.loudness_stats``.

        With a stem soloed, the render is a preview of part of the mix: it gets the master gain of the full
        mix (the same stems without the solo), so a soloed stem plays at its level in the mix instead of
        being raised to the target on its own; only the ceiling may lower it further.
        """
        master = master or self.master
        master.validate()
        if progress is not None:
            progress(0.05, "mixing stems")
        bus = self.mix_bus(backend=backend)
        check_cancel(cancel, "render stopped")
        if master.crossfeed_strength > 0:
            bus = np.ascontiguousarray(dsp.crossfeed(bus, self.sample_rate, strength=master.crossfeed_strength),
                                       dtype=np.float32)
        if progress is not None:
            progress(0.5, "mastering")
        before = float(dsp.integrated_loudness(bus, self.sample_rate))
        if not math.isfinite(before) or before < SILENCE_LUFS:
            raise ValueError("the mix is silent (every stem muted, or only silence soloed); unmute a stem")
        full_gain_db = self._full_mix_gain_db(master, backend=backend) if master.normalize else None
        if full_gain_db is not None:
            # a solo louder than the whole mix (stems cancelling) still stays under 0 LUFS
            solo_target = min(before + full_gain_db, 0.0)
            out = np.asarray(dsp.normalize_loudness(bus, self.sample_rate, target_lufs=solo_target,
                                                    ceiling_dbtp=master.ceiling_dbtp), dtype=np.float32)
            gain_db = full_gain_db
        elif master.normalize:
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

    def _full_mix_gain_db(self, master: MasterSettings, *, backend: str) -> float | None:
        """The master gain the full mix gets when a stem is soloed (None: nothing soloed, or the full mix
        is silent, so the solo is mastered on its own)."""
        if not any(stem.solo for stem in self.stems):
            return None
        full = self.mix_bus(backend=backend, ignore_solo=True)
        if master.crossfeed_strength > 0:
            full = np.ascontiguousarray(dsp.crossfeed(full, self.sample_rate, strength=master.crossfeed_strength),
                                        dtype=np.float32)
        level = float(dsp.integrated_loudness(full, self.sample_rate))
        if not math.isfinite(level) or level < SILENCE_LUFS:
            return None
        return master.target_lufs - level

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
            filename = f"stem-{index:02d}-{sanitize_filename(stem.name, separator='-')}.wav"
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
