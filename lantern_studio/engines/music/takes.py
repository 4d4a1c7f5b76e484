"""The persistent take store: every take lives in its own folder in the project and survives a crash.

Layout of one take::

    takes/<id>/audio.wav          float32 (or 24-bit) WAV, (n, channels)
    takes/<id>/stems/<part>.wav   one WAV per stem, when the engine made stems
    takes/<id>/take.mid           Standard MIDI File, when the engine wrote notes
    takes/<id>/take.json          the sidecar: ``Take.metadata()`` plus frames, channels and file checksums

Every file is written atomically (``engines.atomic``), media first and the sidecar **last**, so a take is
finished exactly when its ``take.json`` exists. Folders without a sidecar are ignored here and cleaned up by
``Project.open`` (moved to the trash, marked incomplete). Deleting moves the folder to the project's trash;
``restore`` brings it back.

Reading is bounded (``engines.bounded``): a sidecar that is a FIFO or a device, too large or nested too deep is
refused without hanging, and one damaged take never breaks the list: ``list`` leaves it out, ``damaged`` names
it and why, and ``delete`` still moves it to the trash.

Example
-------
>>> store = TakeStore(Project.open("~/LanternStudio/projects/default"))
>>> store.save(take)                       # doctest: +SKIP
>>> [t.id for t in store.list(starred=True, sort="rating")]   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import soundfile as sf

from lantern_studio.engines.atomic import atomic_output_path, atomic_write_bytes, atomic_write_json
from lantern_studio.engines.bounded import MAX_JSON_BYTES, check_json_depth, load_json_file
from lantern_studio.engines.music.base import Take
from lantern_studio.engines.project import TAKE_SIDECAR, Project, ProjectError

AUDIO_NAME = "audio.wav"
MIDI_NAME = "take.mid"
STEMS_DIR = "stems"
STORE_FORMAT = 1
SUBTYPES = ("FLOAT", "PCM_24")
SORT_KEYS = ("created", "name", "rating", "duration_s", "loudness_lufs", "seed", "generation_s", "starred")
MAX_RATING = 5
MAX_NAME_CHARS = 200
MAX_NOTES_CHARS = 20_000
MAX_SIDECAR_BYTES = MAX_JSON_BYTES

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PART_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# keys of the sidecar that are not constructor fields of Take
_DERIVED_KEYS = {"audio", "midi", "duration_s", "stems", "has_midi", "frames", "channels", "files", "store_format",
                 "subtype"}


class TakeNotFound(KeyError):
    """No finished take with this id in the store (or in its trash)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one is for people
        return str(self.args[0])


def check_take_id(take_id: str) -> str:
    """Return ``take_id`` when it is safe as a folder name, else raise ValueError saying why."""
    if not isinstance(take_id, str) or not _ID_PATTERN.match(take_id):
        raise ValueError(f"take id {take_id!r} is not valid: use 1-100 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return take_id


def _check_part(part: str) -> str:
    if not isinstance(part, str) or not _PART_PATTERN.match(part):
        raise ValueError(f"stem name {part!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return part


def _check_audio(audio: Any, what: str) -> np.ndarray:
    if not isinstance(audio, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, not {type(audio).__name__}")
    if audio.ndim not in (1, 2) or (audio.ndim == 2 and not 1 <= audio.shape[1] <= 8):
        raise ValueError(f"{what} has shape {audio.shape}; expected (n,) or (n, channels) with 1-8 channels")
    if audio.shape[0] == 0:
        raise ValueError(f"{what} is empty; a take needs at least one sample")
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(f"{what} has dtype {audio.dtype}; expected float32 samples in [-1, 1]")
    if audio.ndim == 2 and audio.shape[0] > 1 and audio.strides[0] == 0:
        raise ValueError(f"{what} is a placeholder from a take loaded without audio; load it with "
                         "with_audio=True before saving it")
    if not np.isfinite(audio).all():
        raise ValueError(f"{what} contains NaN or infinite samples; fix the engine output before saving")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _placeholder(frames: int, channels: int) -> np.ndarray:
    """A read-only zero array of the right shape that costs no memory (for takes loaded without audio)."""
    shape = (frames, channels) if channels > 1 else (frames,)
    view = np.broadcast_to(np.zeros((1,) * len(shape), dtype=np.float32), shape)
    return view


class TakeStore:
    """Takes of one project, saved as they finish and never lost.

    Parameters
    ----------
    project : Project
        The open project; takes live in ``project.takes_dir``.
    subtype : {"FLOAT", "PCM_24"}
        How audio is stored: 32-bit float (lossless for the engines' float32 output, default) or 24-bit PCM.

    Notes
    -----
    Safe to use from several threads (the studio's queue): saves of different takes run in parallel and
    metadata updates are serialised.
    """

    def __init__(self, project: Project, *, subtype: str = "FLOAT"):
        if not isinstance(project, Project):
            raise ValueError(f"TakeStore needs an open Project, not {type(project).__name__}")
        if subtype not in SUBTYPES:
            raise ValueError(f"subtype {subtype!r} is not one of {', '.join(SUBTYPES)}")
        self.project = project
        self.subtype = subtype
        self._lock = threading.RLock()
        self.skipped: list[tuple[str, str]] = []     # (take id, why) for unreadable sidecars met while listing

    # ---- paths ---------------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.project.takes_dir

    def folder(self, take_id: str) -> Path:
        return self.root / check_take_id(take_id)

    def sidecar_path(self, take_id: str) -> Path:
        return self.folder(take_id) / TAKE_SIDECAR

    def audio_path(self, take_id: str) -> Path:
        """Path of the take's WAV (give it to ``gr.Audio`` as a file path)."""
        self._require(take_id)
        return self.folder(take_id) / AUDIO_NAME

    def midi_path(self, take_id: str) -> Path | None:
        self._require(take_id)
        path = self.folder(take_id) / MIDI_NAME
        return path if path.is_file() else None

    def stem_paths(self, take_id: str) -> dict[str, Path]:
        meta = self._require(take_id)
        folder = self.folder(take_id) / STEMS_DIR
        return {part: folder / f"{part}.wav" for part in meta.get("stems", [])}

    def __contains__(self, take_id: object) -> bool:
        return (isinstance(take_id, str) and bool(_ID_PATTERN.match(take_id))
                and not self.folder(take_id).is_symlink() and self.sidecar_path(take_id).is_file())

    def __len__(self) -> int:
        return len(self.ids())

    def ids(self) -> list[str]:
        """Ids of the finished takes (those with a sidecar), in folder order."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{TAKE_SIDECAR}")
                      if _ID_PATTERN.match(p.parent.name) and not p.parent.is_symlink())

    def signature(self) -> str:
        """A short text that changes whenever a take is added, removed, restored or edited, by this process or
        another: the number of take folders and the newest modification time among the takes folder and
        its take folders (every save writes into a take's folder, whose time then changes; an add or a
        delete changes the takes folder's). One directory scan, no file reads: cheap enough for a timer."""
        try:
            newest, count = self.root.stat().st_mtime_ns, 0
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        count += 1
                        newest = max(newest, entry.stat(follow_symlinks=False).st_mtime_ns)
        except FileNotFoundError:
            return "none"
        return f"{count}:{newest}"

    # ---- save ----------------------------------------------------------------------------
    def save(self, take: Take, *, overwrite: bool = False) -> Path:
        """Write ``take`` to ``takes/<id>/`` and return that folder; the take is finished when this returns.

        Audio, stems and MIDI are written first, each atomically; the ``take.json`` sidecar last.

        Parameters
        ----------
        take : Take
            ``audio`` float (n,) or (n, channels) finite samples; ``stems`` part -> float array; ``midi`` bytes.
        overwrite : bool
            Replace a finished take with the same id (default: refuse).

        Raises
        ------
        ValueError
            Bad id, audio, stem name, sample rate or MIDI; or the take exists and ``overwrite`` is False.
        """
        if not isinstance(take, Take):
            raise ValueError(f"save() needs a Take, not {type(take).__name__}")
        folder = self.folder(take.id)
        if not isinstance(take.sample_rate, (int, np.integer)) or not 1_000 <= int(take.sample_rate) <= 384_000:
            raise ValueError(f"sample rate {take.sample_rate!r} is not an integer between 1000 and 384000 Hz")
        audio = _check_audio(take.audio, "take audio")
        stems = {_check_part(part): _check_audio(data, f"stem {part!r}") for part, data in take.stems.items()}
        if take.midi is not None and (not isinstance(take.midi, (bytes, bytearray)) or take.midi[:4] != b"MThd"):
            raise ValueError("take midi must be the bytes of a Standard MIDI File (starting with 'MThd')")
        metadata = take.metadata()
        json.dumps(metadata, ensure_ascii=False)    # refuse unsaveable params before writing anything
        check_json_depth(metadata, what="take's settings")    # what could not be read back is refused now
        if (folder / TAKE_SIDECAR).exists() and not overwrite:
            raise ValueError(f"a take with id {take.id!r} is already saved; pass overwrite=True to replace it "
                             "or give the new take a new id")
        files: dict[str, dict[str, Any]] = {}
        sample_rate = int(take.sample_rate)
        files[AUDIO_NAME] = self._write_wav(folder / AUDIO_NAME, audio, sample_rate)
        for part, data in stems.items():
            files[f"{STEMS_DIR}/{part}.wav"] = self._write_wav(folder / STEMS_DIR / f"{part}.wav", data, sample_rate)
        midi_path = folder / MIDI_NAME
        if take.midi is not None:
            atomic_write_bytes(midi_path, bytes(take.midi))
            files[MIDI_NAME] = {"bytes": len(take.midi), "sha256": hashlib.sha256(take.midi).hexdigest()}
        elif overwrite and midi_path.exists():
            midi_path.unlink()
        sidecar = {**metadata, "frames": int(audio.shape[0]), "channels": int(audio.shape[1]) if audio.ndim == 2 else 1,
                   "subtype": self.subtype, "files": files, "store_format": STORE_FORMAT}
        atomic_write_json(folder / TAKE_SIDECAR, sidecar)        # last: now the take is finished
        return folder

    def _write_wav(self, path: Path, audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
        with atomic_output_path(path) as temp:
            sf.write(str(temp), audio, sample_rate, subtype=self.subtype, format="WAV")
            info = {"bytes": temp.stat().st_size, "sha256": _sha256(temp)}
        return info

    # ---- read ----------------------------------------------------------------------------
    def metadata(self, take_id: str) -> dict[str, Any]:
        """The take's sidecar as a dict (raises TakeNotFound)."""
        return self._require(take_id)

    def _require(self, take_id: str) -> dict[str, Any]:
        path = self.sidecar_path(take_id)
        try:
            meta = load_json_file(path, max_bytes=MAX_SIDECAR_BYTES, what="take sidecar")
        except FileNotFoundError:
            raise TakeNotFound(f"no finished take {take_id!r} in {self.root}; it may be in the trash "
                               "(see trashed())") from None
        except (OSError, ValueError) as error:
            raise ProjectError(f"{path} is damaged ({error}); move the take to the trash or restore it from a "
                               "backup") from error
        return _checked_sidecar(meta, take_id, path)

    def load(self, take_id: str, *, with_audio: bool = True) -> Take:
        """Read a finished take.

        Parameters
        ----------
        take_id : str
        with_audio : bool
            Read the audio and stems (float32, as saved). When False, ``audio`` and each stem are read-only
            zero placeholders of the right shape (so ``duration_s`` is right) that cost no memory, and ``midi``
            is None; use ``audio_path``/``stem_paths``/``midi_path`` to hand the files to a player.

        Raises
        ------
        TakeNotFound
            No finished take with this id.
        ProjectError
            The sidecar or audio is damaged.
        """
        meta = self._require(take_id)
        return self._take_from(meta, self.folder(take_id), with_audio=with_audio)

    def _take_from(self, meta: dict[str, Any], folder: Path, *, with_audio: bool) -> Take:
        meta = _checked_sidecar(meta, folder.name, folder / TAKE_SIDECAR)
        fields = {k: v for k, v in meta.items() if k not in _DERIVED_KEYS and k in _TAKE_FIELDS}
        fields["params"] = dict(fields["params"])
        frames = meta["frames"]
        if frames is None:
            frames = int(round(float(meta["duration_s"] or 0.0) * fields["sample_rate"]))
        channels = meta["channels"]
        stems: dict[str, np.ndarray] = {}
        midi = None
        if with_audio:
            audio = self._read_wav(folder / AUDIO_NAME)
            for part in meta.get("stems", []):
                stems[part] = self._read_wav(folder / STEMS_DIR / f"{_check_part(part)}.wav")
            midi_path = folder / MIDI_NAME
            if meta.get("has_midi") and midi_path.is_file():
                midi = midi_path.read_bytes()
        else:
            audio = _placeholder(frames, channels)
            for part in meta.get("stems", []):
                stems[part] = _placeholder(frames, channels)
        return Take(audio=audio, stems=stems, midi=midi, **fields)

    @staticmethod
    def _read_wav(path: Path) -> np.ndarray:
        try:
            mode = os.stat(path).st_mode
        except OSError as error:
            raise ProjectError(f"{path} cannot be read ({error}); the take is damaged: move it to the trash") from error
        if not stat.S_ISREG(mode):      # a FIFO or device would block or never end
            raise ProjectError(f"{path} is not a regular file; the take is damaged: move it to the trash")
        try:
            data, _ = sf.read(str(path), dtype="float32", always_2d=False)
        except (OSError, RuntimeError, sf.LibsndfileError) as error:
            raise ProjectError(f"{path} cannot be read ({error}); the take is damaged: move it to the trash") from error
        return data

    def verify(self, take_id: str) -> list[str]:
        """Check every file of a take against the sizes and SHA-256 sums in its sidecar; returns the problems."""
        meta = self._require(take_id)
        folder = self.folder(take_id)
        problems = []
        for relative, expected in (meta.get("files") or {}).items():
            path = folder / relative
            if not path.is_file():
                problems.append(f"{relative} is missing")
                continue
            if path.stat().st_size != expected.get("bytes"):
                problems.append(f"{relative} has {path.stat().st_size} bytes, expected {expected.get('bytes')}")
            elif _sha256(path) != expected.get("sha256"):
                problems.append(f"{relative} does not match its checksum")
        return problems

    # ---- list ----------------------------------------------------------------------------
    def damaged(self) -> list[tuple[str, str]]:
        """Takes whose sidecar cannot be read, as ``(take id, why)``: show them as damaged, offer ``delete``."""
        for _ in self.iter_metadata():
            pass
        return list(self.skipped)

    def iter_metadata(self) -> Iterator[dict[str, Any]]:
        self.skipped = []
        for take_id in self.ids():
            try:
                yield self._require(take_id)
            except (ProjectError, TakeNotFound) as error:
                self.skipped.append((take_id, str(error)))

    def list(self, *, starred: bool | None = None, min_rating: int = 0, engine: str | None = None,
             text: str | None = None, parent_id: str | None = None, sort: str = "created",
             descending: bool = True, with_audio: bool = False) -> list[Take]:
        """Finished takes, filtered and sorted (audio not read unless ``with_audio``; see ``load``).

        Parameters
        ----------
        starred : bool, optional
            Only starred (True) or unstarred (False) takes.
        min_rating : int
            Only takes rated at least this (0-5).
        engine : str, optional
            Only takes from this engine (e.g. ``"composer"``).
        text : str, optional
            Case-insensitive search in name, prompt, preset, notes and summary.
        parent_id : str, optional
            Only variations/continuations of this take.
        sort : str
            One of ``SORT_KEYS``; ties are broken by id.
        descending : bool
            Newest/highest first (default).
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"sort {sort!r} is not one of {', '.join(SORT_KEYS)}")
        if not isinstance(min_rating, int) or not 0 <= min_rating <= MAX_RATING:
            raise ValueError(f"min_rating must be an integer 0-{MAX_RATING}")
        needle = text.casefold() if text else None
        chosen = []
        for meta in self.iter_metadata():
            if starred is not None and bool(meta.get("starred")) != starred:
                continue
            if int(meta.get("rating") or 0) < min_rating:
                continue
            if engine is not None and meta.get("engine") != engine:
                continue
            if parent_id is not None and meta.get("parent_id") != parent_id:
                continue
            if needle is not None:
                haystack = " ".join(str(meta.get(k) or "") for k in ("name", "prompt", "preset", "notes", "summary"))
                if needle not in haystack.casefold():
                    continue
            chosen.append(meta)

        def key(meta: dict[str, Any]) -> tuple:
            value = meta.get(sort)
            if value is None:   # missing values sort last either way
                return (0 if descending else 1, 0, meta.get("id", ""))
            if isinstance(value, str):
                value = value.casefold()
            return (1 if descending else 0, value, meta.get("id", ""))

        chosen.sort(key=key, reverse=descending)
        return [self._take_from(meta, self.folder(meta["id"]), with_audio=with_audio) for meta in chosen]

    # ---- edit ----------------------------------------------------------------------------
    def update(self, take_id: str, *, starred: bool | None = None, rating: int | None = None,
               name: str | None = None, notes: str | None = None, loudness_lufs: float | None = None) -> Take:
        """Change a take's star, rating (0-5), name, notes or measured loudness; saved at once (atomically).

        Returns the updated take without audio.
        """
        changes: dict[str, Any] = {}
        if starred is not None:
            if not isinstance(starred, (bool, np.bool_)):
                raise ValueError("starred must be True or False")
            changes["starred"] = bool(starred)
        if rating is not None:
            if isinstance(rating, bool) or not isinstance(rating, (int, np.integer)) or not 0 <= rating <= MAX_RATING:
                raise ValueError(f"rating {rating!r} must be a whole number of stars from 0 to {MAX_RATING}")
            changes["rating"] = int(rating)
        if name is not None:
            if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or "\x00" in name:
                raise ValueError(f"take name must be text of at most {MAX_NAME_CHARS} characters without NUL")
            changes["name"] = name.strip()
        if notes is not None:
            if not isinstance(notes, str) or len(notes) > MAX_NOTES_CHARS or "\x00" in notes:
                raise ValueError(f"notes must be text of at most {MAX_NOTES_CHARS} characters without NUL")
            changes["notes"] = notes
        if loudness_lufs is not None:
            if not isinstance(loudness_lufs, (int, float, np.floating)) or not np.isfinite(loudness_lufs):
                raise ValueError("loudness_lufs must be a finite number of LUFS")
            changes["loudness_lufs"] = float(loudness_lufs)
        with self._lock:
            meta = self._require(take_id)
            meta.update(changes)
            atomic_write_json(self.sidecar_path(take_id), meta)
        return self._take_from(meta, self.folder(take_id), with_audio=False)

    # ---- trash ---------------------------------------------------------------------------
    def delete(self, take_id: str) -> Path:
        """Move the take to the project's trash (restore it with ``restore``); returns its path in the trash.

        A damaged take (see ``damaged``) is moved too, so it can always be cleared out of the list.
        """
        with self._lock:
            folder = self.folder(take_id)
            if folder.is_symlink() or not os.path.lexists(folder / TAKE_SIDECAR):
                raise TakeNotFound(f"no finished take {take_id!r} in {self.root}; it may be in the trash "
                                   "(see trashed())")
            try:
                self._require(take_id)
                reason = "take deleted"
            except ProjectError:
                reason = "damaged take deleted"
            return self.project.move_to_trash(folder, reason=reason)

    def trashed(self) -> list[Take]:
        """Deleted takes still in the trash (newest deletion first), without audio."""
        result = []
        for item in self.project.trash_items():
            parts = item.original.split("/")
            if len(parts) != 2 or parts[0] != "takes" or not item.path.is_dir():
                continue
            sidecar = item.path / TAKE_SIDECAR
            try:
                meta = load_json_file(sidecar, max_bytes=MAX_SIDECAR_BYTES, what="take sidecar")
                result.append(self._take_from(meta, item.path, with_audio=False))
            except (OSError, ValueError, ProjectError):
                continue
        return result

    def restore(self, take_id: str) -> Path:
        """Bring a deleted take back from the trash (the most recently deleted copy); returns its folder."""
        check_take_id(take_id)
        with self._lock:
            for item in self.project.trash_items():
                if item.original == f"takes/{take_id}" and (item.path / TAKE_SIDECAR).is_file():
                    return self.project.restore_from_trash(item)
        raise TakeNotFound(f"take {take_id!r} is not in the trash; it may have been emptied")


_TAKE_FIELDS = set(Take.__dataclass_fields__)

_STR, _OPT_STR = (str,), (str, type(None))
_NUMBER = (int, float)
# sidecar key -> (accepted types, default when missing); anything else present with a wrong type is damage
_SIDECAR_SCHEMA: dict[str, tuple[tuple[type, ...], Any]] = {
    "engine": (_STR, "unknown"), "model": (_OPT_STR, None), "prompt": (_STR, ""), "preset": (_OPT_STR, None),
    "seed": ((int,), 0), "params": ((dict,), {}), "parent_id": (_OPT_STR, None), "relation": (_OPT_STR, None),
    "name": (_STR, ""), "created": (_STR, ""), "sample_rate": ((int,), 48_000), "device": (_STR, "cpu"),
    "generation_s": (_NUMBER, 0.0), "summary": (_STR, ""), "starred": ((bool,), False), "rating": ((int,), 0),
    "notes": (_STR, ""), "loudness_lufs": (_NUMBER + (type(None),), None), "stems": ((list,), []),
    "has_midi": ((bool,), False), "frames": ((int, type(None)), None), "channels": ((int,), 2),
    "duration_s": (_NUMBER + (type(None),), None), "files": ((dict,), {}),
}


def _checked_sidecar(meta: Any, take_id: str, path: Path) -> dict[str, Any]:
    """The sidecar with every known key of the right type (defaults filled in); ProjectError when damaged."""

    def damaged(why: str) -> ProjectError:
        return ProjectError(f"{path} is damaged ({why}); move the take folder to the trash or restore it from a "
                            "backup")

    if not isinstance(meta, dict):
        raise damaged("not a JSON object")
    checked = dict(meta)
    for key, (types, default) in _SIDECAR_SCHEMA.items():
        value = meta.get(key, default)
        # JSON has no int/bool distinction problem in Python except bool being an int: refuse bools as numbers
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise damaged(f"{key!r} is {type(value).__name__}")
        checked[key] = value
    checked["id"] = take_id                      # the folder name is the id
    if not 1_000 <= checked["sample_rate"] <= 384_000:
        raise damaged(f"sample rate {checked['sample_rate']} Hz")
    if not 1 <= checked["channels"] <= 8 or (checked["frames"] is not None and not 0 <= checked["frames"] < 2**40):
        raise damaged("impossible frames or channels")
    if checked["duration_s"] is not None and not 0 <= checked["duration_s"] < 1e7:
        raise damaged("impossible duration")
    if not all(isinstance(part, str) and _PART_PATTERN.match(part) for part in checked["stems"]):
        raise damaged("a stem name is not valid")
    if not all(isinstance(v, dict) for v in checked["files"].values()):
        raise damaged("the file list is not valid")
    return checked
