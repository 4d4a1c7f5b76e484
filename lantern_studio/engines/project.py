"""A project is a folder: ``project.json`` (schema-versioned manifest), ``takes/``, ``stems/``, ``story/``,
``renders/`` and ``.trash/``. Every write is atomic; deleting moves things to ``.trash/``.

Recovery
--------
Writers put their bytes in a ``.partial-*`` temporary beside the final name and rename it into place
(``engines.atomic``), and a take is finished exactly when its ``take.json`` sidecar exists (it is written
last). So after the studio is killed, a project can hold only two kinds of leftovers: ``.partial-*``
temporaries and take folders without a sidecar. ``Project.open`` finds them and, when no other process
has the project open, deletes the temporaries and moves unfinished take folders to ``.trash/`` (marked
"incomplete", so nothing that might still be useful is destroyed). What it did is in ``project.recovery``.

Recovery touches only what this studio names and writes: temporaries whose names match its writers' exact
pattern (``engines.atomic.OWN_PARTIAL_NAME``), looked for in the project folder itself and in the folders the
studio writes (``takes/``, ``stems/``, ``story/``, ``renders/``, ``.cache/``), never in a folder the user made,
never through a link and never inside a nested project; and take folders that hold nothing but a take's own files.
Anything else (a link in ``takes/``, a user's folder) is left alone and listed in ``recovery.left_alone``.
A folder that holds files but no ``project.json`` is never adopted as a project.

Whether another process has the project open is known from an advisory lock on ``.lantern.lock``: every
open project holds a shared lock for its lifetime and recovery needs the exclusive one. The kernel drops
the locks of a killed process, so a crash never blocks the next open.

Trash
-----
Each deleted item lives in its own entry ``.trash/<entry>/`` holding ``entry.json`` (where the item came
from, when, why) and the item itself under its original base name, so any item restores to where it was.
Nothing is deleted or moved through a link: a ``.trash`` that is a link turns the trash off (with a message),
links are never moved to the trash, and the trash is pruned on open to ``TrashPolicy`` (by default 30 days or
5 GB, whichever comes first, oldest first).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import stat
import threading
import time
import uuid
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from lantern_studio.engines.jobs import cancel_requested
from lantern_studio.engines.atomic import TEMP_PREFIX, atomic_output_path, atomic_write_json, is_own_partial
from lantern_studio.engines.bounded import load_json_file

SCHEMA_VERSION = 2
MANIFEST = "project.json"
SUBFOLDERS = ("takes", "stems", "story", "renders", ".trash")
# the folders the studio writes into (recovery looks for its temporaries here and in the project folder only)
WRITTEN_FOLDERS = ("takes", "stems", "story", "renders", ".cache")
# how deep below those folders recovery looks (the studio writes at most three levels down)
RECOVERY_DEPTH = 4
# the files a take folder holds while it is being saved (engines.music.takes writes these, the sidecar last)
TAKE_FILES = ("audio.wav", "take.mid")
TAKE_STEMS = "stems"
MAX_ENTRY_BYTES = 64 * 1024          # a trash entry.json is a few hundred bytes
LOCK_NAME = ".lantern.lock"
TRASH_ENTRY = "entry.json"
TAKE_SIDECAR = "take.json"          # a take folder is finished exactly when this file exists
RECENT_NAME = "recent.json"
REGENERABLE = (".cache",)          # top-level folders the studio can rebuild (waveform pictures); not exported
RECENT_MAX = 12
MAX_NAME_CHARS = 120
# a zip import is refused beyond these (a zip bomb must not fill the disk)
MAX_IMPORT_BYTES = 8 * 1024**3
MAX_IMPORT_MEMBERS = 100_000
MAX_IMPORT_RATIO = 200

try:  # POSIX advisory locks; on Windows recovery falls back to the age of the leftovers
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None

# without locks, only leftovers older than this are treated as abandoned
UNLOCKED_GRACE_S = 600.0
_DAY_S = 86_400.0


class ProjectError(RuntimeError):
    """A project folder that cannot be opened or changed as asked; the message says what to do."""


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# the project lock
# --------------------------------------------------------------------------------------------------


class _ProjectLock:
    """An advisory lock on ``<root>/.lantern.lock``: shared while a project is open, exclusive to recover.

    The file also holds the pid of the studio that opened the project last. Where ``flock`` is missing (Windows,
    some network mounts) a live pid there keeps recovery away from the leftovers, as the lock would."""

    def __init__(self, root: Path):
        self.path = root / LOCK_NAME
        self.fd: int | None = None
        self.supported = _fcntl is not None
        try:        # O_NOFOLLOW: a lock file that is a link must not create or lock a file outside the project
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as error:
            if self.path.is_symlink():
                raise ProjectError(f"{self.path} is a link; the studio does not follow it. Remove the link and open "
                                   "the project again") from None
            raise ProjectError(f"{self.path} cannot be opened ({error}); check the folder's permissions") from None
        self._finalizer = weakref.finalize(self, os.close, self.fd)

    def try_exclusive(self) -> bool:
        """True when no other open project (in any process) shares this folder."""
        if self.fd is None or not self.supported:
            return False
        try:
            _fcntl.flock(self.fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError:              # a filesystem without flock (some network mounts): judge leftovers by age
            self.supported = False
            return False

    def share(self) -> None:
        if self.fd is not None and self.supported:
            try:
                _fcntl.flock(self.fd, _fcntl.LOCK_SH)
            except OSError:
                self.supported = False

    def holder_pid(self) -> int | None:
        """The pid written by the studio that opened the project last (None when there is none)."""
        if self.fd is None:
            return None
        try:
            os.lseek(self.fd, 0, os.SEEK_SET)
            text = os.read(self.fd, 32).decode("ascii", errors="replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and 0 < int(text) < 2**31 else None

    def holder_alive(self) -> bool:
        pid = self.holder_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:          # alive, another user's
            return True
        except OSError:
            return False
        return True

    def record_pid(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, f"{os.getpid()}\n".encode("ascii"))
        except OSError:                  # a read-only lock file: the flock still works
            pass

    def close(self) -> None:
        if self.fd is not None:
            if self.holder_pid() == os.getpid():
                try:
                    os.ftruncate(self.fd, 0)
                except OSError:
                    pass
            self._finalizer()
            self.fd = None


# --------------------------------------------------------------------------------------------------
# reports
# --------------------------------------------------------------------------------------------------


@dataclass
class RecoveryReport:
    """What ``Project.open`` found left over from an interrupted run and what it did about it.

    ``removed``: ``.partial-*`` temporaries deleted (paths relative to the project).
    ``incomplete``: unfinished take folders moved to ``.trash/`` (their trash entries, relative).
    ``kept``: leftovers found but left alone because another process has the project open.
    ``left_alone``: things in ``takes/`` this studio did not make (links, folders with other files), untouched.
    ``pruned``: trash entries deleted for good because the trash passed its ``TrashPolicy``.
    ``migrated_from``: the schema version the manifest was migrated from, or None.
    """

    removed: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    migrated_from: int | None = None

    @property
    def clean(self) -> bool:
        return not (self.removed or self.incomplete or self.kept or self.left_alone or self.pruned)

    def summary(self) -> str:
        parts = []
        if self.migrated_from is not None:
            parts.append(f"upgraded from project format {self.migrated_from} to {SCHEMA_VERSION}")
        if self.removed:
            parts.append(f"removed {len(self.removed)} unfinished temporary file(s) from an interrupted run")
        if self.incomplete:
            parts.append(f"moved {len(self.incomplete)} unfinished take(s) to the trash (marked incomplete)")
        if self.kept:
            parts.append(f"left {len(self.kept)} unfinished file(s) alone: another studio has this project open")
        if self.left_alone:
            parts.append(f"left {len(self.left_alone)} item(s) in takes/ alone that this studio did not make "
                         f"(e.g. {self.left_alone[0]})")
        if self.pruned:
            parts.append(f"deleted {len(self.pruned)} old item(s) from the trash for good (past its age or size cap)")
        return "; ".join(parts) if parts else "nothing to recover"


@dataclass(frozen=True)
class TrashPolicy:
    """How long deleted items stay: entries older than ``max_age_days`` go, then the oldest until the trash holds
    at most ``max_bytes``, whichever limit comes first. Applied when a project opens with nobody else in it.

    ``from_environ`` reads ``LANTERN_TRASH_MAX_DAYS`` and ``LANTERN_TRASH_MAX_GB``.
    """

    max_age_days: float = 30.0
    max_bytes: int = 5 * 10**9

    def __post_init__(self) -> None:
        for name in ("max_age_days", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
                raise ValueError(f"trash {name} must be a positive number, not {value!r}")

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> "TrashPolicy":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable, name, scale in (("LANTERN_TRASH_MAX_DAYS", "max_age_days", 1.0),
                                      ("LANTERN_TRASH_MAX_GB", "max_bytes", 1e9)):
            text = env.get(variable, "")
            if text:
                try:
                    number = float(text)
                except ValueError:
                    raise ValueError(f"{variable}={text!r} is not a number; unset it or give e.g. "
                                     f"{variable}=30") from None
                values[name] = int(number * scale) if name == "max_bytes" else number
        return cls(**values)

    def describe(self) -> str:
        return f"{self.max_age_days:g} days or {self.max_bytes / 1e9:.1f} GB, whichever comes first"


@dataclass(frozen=True)
class TrashItem:
    """One deleted item. ``original``: its path relative to the project; ``path``: where it is now."""

    entry: str
    original: str
    deleted: str
    reason: str
    path: Path

    @property
    def name(self) -> str:
        return PurePosixPath(self.original).name


# --------------------------------------------------------------------------------------------------
# the project
# --------------------------------------------------------------------------------------------------


@dataclass
class Project:
    root: Path
    manifest: dict[str, Any]
    recovery: RecoveryReport = field(default_factory=RecoveryReport, repr=False, compare=False)
    trash_policy: TrashPolicy = field(default_factory=TrashPolicy, repr=False, compare=False)
    _lock: _ProjectLock | None = field(default=None, repr=False, compare=False)
    _write_lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    # ---- folders -------------------------------------------------------------------------
    @property
    def takes_dir(self) -> Path:
        return self.root / "takes"

    @property
    def stems_dir(self) -> Path:
        return self.root / "stems"

    @property
    def story_dir(self) -> Path:
        return self.root / "story"

    @property
    def renders_dir(self) -> Path:
        return self.root / "renders"

    @property
    def trash_dir(self) -> Path:
        return self.root / ".trash"

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.root.name)

    # ---- open / create / save ------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, *, create: bool = True, recover: bool = True,
             trash_policy: TrashPolicy | None = None) -> "Project":
        """Open the project in ``root``; create it (and its folders) when missing and ``create`` is True.

        Parameters
        ----------
        root : str or Path
            The project folder.
        create : bool
            Make a new project there when ``root`` has no ``project.json``. Only a missing or empty folder is
            made a project: a folder that already holds other files is refused, never adopted.
        recover : bool
            Clean up what an interrupted run left behind (see the module notes) and prune the trash to
            ``trash_policy``; the report is in ``project.recovery``.
        trash_policy : TrashPolicy, optional
            How long the trash keeps items; default ``TrashPolicy.from_environ()`` (30 days or 5 GB).

        Raises
        ------
        ProjectError
            The manifest cannot be read, is not a regular file, is not a manifest, or was written by a newer
            studio; or there is no project and ``create`` is False or the folder holds other files.
        """
        root = Path(root).expanduser().resolve()
        manifest_path = root / MANIFEST
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root} is a file, not a folder; choose a folder for the project")
        try:
            policy = trash_policy if trash_policy is not None else TrashPolicy.from_environ()
        except ValueError as error:
            raise ProjectError(str(error)) from None
        if os.path.lexists(manifest_path):
            manifest = _read_manifest(manifest_path)
        elif create:
            _refuse_foreign_folder(root)
            manifest = {"schema_version": SCHEMA_VERSION, "name": root.name, "created": _now(), "modified": _now()}
        else:
            raise ProjectError(f"{root} is not a Lantern Studio project (no {MANIFEST}); choose a project folder, or "
                               "create a new project in a new or empty folder ('Create and open' in the project bar, "
                               "or `python launch.py --project NEW_FOLDER`)")
        version = _schema_version(manifest, manifest_path)
        if version > SCHEMA_VERSION:
            raise ProjectError(f"{manifest_path} was written by a newer Lantern Studio (project format {version}, this "
                               f"studio reads up to {SCHEMA_VERSION}); update the studio to open it")
        for sub in SUBFOLDERS:
            folder = root / sub
            if folder.is_symlink():       # never created or written through; a linked .trash turns the trash off
                continue
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ProjectError(f"{folder} cannot be made a folder ({error}); move the file of that name "
                                   "out of the project and open it again") from None
        lock = _ProjectLock(root)
        exclusive = lock.try_exclusive()
        project = cls(root, manifest, trash_policy=policy, _lock=lock)
        try:
            if version < SCHEMA_VERSION:
                if not exclusive:
                    raise ProjectError(f"{root} uses the older project format {version} and another studio has it "
                                       "open; close that studio first so the project can be upgraded safely")
                project.manifest = migrate(root, manifest, version)
                project.recovery.migrated_from = version
            if not manifest_path.exists():
                project.save()
            if recover:
                project._recover(exclusive=exclusive)
                if exclusive and project.trash_problem() is None:
                    project.recovery.pruned.extend(project.prune_trash())
        finally:
            lock.share()
            lock.record_pid()
        return project

    @classmethod
    def create(cls, parent: str | Path, name: str) -> "Project":
        """Make a new project called ``name`` in a new folder under ``parent`` (the name made safe for a folder).

        Raises
        ------
        ValueError
            The name is empty after making it safe.
        ProjectError
            A folder of that name already exists.
        """
        from lantern_studio.engines.safety import sanitize_filename

        display = _clean_display_name(name)
        folder = sanitize_filename(display, default="")
        if not folder:
            raise ValueError(f"project name {name!r} has no usable characters; use letters or digits")
        root = Path(parent).expanduser().resolve() / folder
        if root.exists():
            raise ProjectError(f"{root} already exists; choose another name or open that project")
        project = cls.open(root, create=True)
        if project.manifest.get("name") != display:
            project.update_manifest(name=display)
        return project

    def save(self) -> None:
        """Write the manifest atomically (it is never half-written)."""
        with self._write_lock:
            self.manifest["schema_version"] = SCHEMA_VERSION
            self.manifest["modified"] = _now()
            atomic_write_json(self.root / MANIFEST, self.manifest)

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        """Change manifest keys and save at once (the studio autosaves after each change).

        A value of None removes the key. ``schema_version`` cannot be changed this way.
        """
        if "schema_version" in changes:
            raise ValueError("schema_version is managed by the studio; it cannot be set by hand")
        for key in changes:
            if not isinstance(key, str) or not key:
                raise ValueError(f"manifest key {key!r} must be a non-empty string")
        with self._write_lock:
            for key, value in changes.items():
                if value is None:
                    self.manifest.pop(key, None)
                else:
                    self.manifest[key] = value
            json.dumps(self.manifest, ensure_ascii=False)   # refuse values that cannot be saved before saving
            self.save()
            return dict(self.manifest)

    def close(self) -> None:
        """Release the project lock (also released when the object is garbage-collected or the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ---- rename --------------------------------------------------------------------------
    def rename(self, new_name: str, *, move_folder: bool = False) -> "Project":
        """Give the project a new display name; with ``move_folder`` also rename its folder (same parent).

        Returns the project (``root`` changes when the folder moves).

        Raises
        ------
        ValueError
            The new name is empty or unusable as a folder name.
        ProjectError
            A folder of that name already exists beside this one.
        """
        display = _clean_display_name(new_name)
        if move_folder:
            from lantern_studio.engines.safety import sanitize_filename

            folder = sanitize_filename(display, default="")
            if not folder:
                raise ValueError(f"project name {new_name!r} has no usable characters; use letters or digits")
            target = self.root.parent / folder
            if target != self.root:
                if target.exists():
                    raise ProjectError(f"{target} already exists; choose another name")
                with self._write_lock:
                    lock_was_held = self._lock is not None
                    self.close()
                    os.rename(self.root, target)
                    self.root = target
                    if lock_was_held:
                        self._lock = _ProjectLock(target)
                        self._lock.share()
                        self._lock.record_pid()
        self.update_manifest(name=display)
        return self

    # ---- safe paths ----------------------------------------------------------------------
    def path_for(self, relative: str | os.PathLike) -> Path:
        """The absolute path of ``relative`` inside the project; refuses anything that would leave it."""
        from lantern_studio.engines.safety import safe_join

        return safe_join(self.root, relative)

    def _inside(self, path: str | Path) -> Path:
        """``path`` inside the project with its folders resolved but its last part not followed, so a link is
        judged as the link it is (and refused), never as what it points to."""
        path = Path(path)
        if not path.is_absolute():
            path = self.root / path
        if path.name in ("", ".", ".."):
            path = path.resolve()
        item = path.parent.resolve() / path.name
        root = self.root.resolve()
        if item == root or root not in item.parents:
            raise ProjectError(f"{path} is not inside the project {self.root}")
        if item.is_symlink():
            raise ProjectError(f"{item} is a link; the studio neither moves nor deletes links or what they point "
                               "to. Remove the link yourself (its target is not touched)")
        return item

    # ---- trash ---------------------------------------------------------------------------
    def trash_problem(self) -> str | None:
        """Why the trash cannot be used (``.trash`` is a link or not a folder), or None when it can."""
        trash = self.trash_dir
        try:
            info = os.lstat(trash)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return (f"{trash} is a link, so the trash is off: the studio deletes and moves nothing through a link. "
                    "Remove the link (the folder it points to is not touched) and open the project again")
        if not stat.S_ISDIR(info.st_mode):
            return f"{trash} is not a folder, so the trash is off; move that file out of the project and open it again"
        return None

    def _trash_root(self) -> Path:
        problem = self.trash_problem()
        if problem is not None:
            raise ProjectError(problem)
        self.trash_dir.mkdir(exist_ok=True)
        return self.trash_dir.resolve()

    def move_to_trash(self, path: str | Path, *, reason: str = "deleted") -> Path:
        """Move a file or folder inside the project to ``.trash/`` (kept until the trash is emptied or pruned).

        Returns the item's path inside the trash; give it (or its entry folder) to ``restore_from_trash``.
        Links are refused (neither the link nor its target is moved), and so is everything when ``.trash``
        itself is a link.
        """
        path = self._inside(path)
        trash = self._trash_root()
        if path == trash or trash in path.parents:
            raise ProjectError(f"{path} is already in the trash; empty the trash to delete it for good")
        if not path.exists():
            raise ProjectError(f"{path} does not exist; nothing to move to the trash")
        relative = path.relative_to(self.root.resolve()).as_posix()
        entry_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f") + "-" + uuid.uuid4().hex[:6]
        entry_dir = trash / entry_id
        entry_dir.mkdir(parents=True)
        atomic_write_json(entry_dir / TRASH_ENTRY, {"original": relative, "deleted": _now(), "reason": reason})
        target = entry_dir / path.name
        os.replace(path, target)            # same filesystem: one atomic rename
        return target

    def trash_items(self) -> list[TrashItem]:
        """Everything in the trash, newest first (nothing when the trash is off, see ``trash_problem``)."""
        items = []
        if self.trash_problem() is not None or not self.trash_dir.is_dir():
            return items
        for entry_dir in self.trash_dir.iterdir():
            item = self._trash_item(entry_dir)
            if item is not None:
                items.append(item)
        items.sort(key=lambda item: item.entry, reverse=True)
        return items

    def _trash_item(self, entry_dir: Path) -> TrashItem | None:
        meta_path = entry_dir / TRASH_ENTRY
        if entry_dir.is_symlink() or not entry_dir.is_dir() or meta_path.is_symlink() or not meta_path.is_file():
            return None
        try:
            meta = load_json_file(meta_path, max_bytes=MAX_ENTRY_BYTES, what="trash entry")
            original = str(meta["original"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        payload = entry_dir / PurePosixPath(original).name
        if not os.path.lexists(payload):
            return None
        return TrashItem(entry=entry_dir.name, original=original, deleted=str(meta.get("deleted", "")),
                         reason=str(meta.get("reason", "deleted")), path=payload)

    def restore_from_trash(self, trashed: str | Path | TrashItem) -> Path:
        """Move an item from ``.trash/`` back to where it was; returns its restored path."""
        trash = self._trash_root()
        if isinstance(trashed, TrashItem):
            entry_dir = trash / trashed.entry
        else:
            trashed = Path(trashed)
            if not trashed.is_absolute():
                trashed = trash / trashed
            trashed = trashed.resolve()
            if trash not in trashed.parents:
                raise ProjectError(f"{trashed} is not in the project's trash")
            entry_dir = trash / trashed.relative_to(trash).parts[0]
        item = self._trash_item(entry_dir)
        if item is None:
            raise ProjectError(f"{entry_dir.name} is not a trash entry this studio can restore")
        try:
            target = self.path_for(item.original)
        except ValueError as error:
            raise ProjectError(f"{entry_dir.name} cannot be restored: {error}") from None
        if os.path.lexists(target):
            raise ProjectError(f"{target} exists again; rename or delete it before restoring")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(item.path, target)
        shutil.rmtree(entry_dir, ignore_errors=True)
        return target

    def empty_trash(self, *, older_than_s: float | None = None) -> int:
        """Delete trash entries for good (all, or those deleted more than ``older_than_s`` ago); returns how many.

        Raises ProjectError when ``.trash`` is a link (nothing is deleted through it).
        """
        if older_than_s is not None and older_than_s < 0:
            raise ValueError("older_than_s must be zero or more seconds")
        trash = self._trash_root()
        count = 0
        cutoff = None if older_than_s is None else time.time() - older_than_s
        for entry_dir in list(trash.iterdir()):
            if cutoff is not None and entry_dir.lstat().st_mtime > cutoff:
                continue
            _delete_entry(entry_dir)
            count += 1
        return count

    def prune_trash(self, policy: TrashPolicy | None = None, *, now: float | None = None) -> list[str]:
        """Delete for good the trash entries past ``policy`` (default the project's): first those deleted more than
        ``max_age_days`` ago, then the oldest until the trash holds at most ``max_bytes``. Returns their names."""
        policy = policy or self.trash_policy
        trash = self._trash_root()
        now = time.time() if now is None else now
        entries = []
        for entry_dir in trash.iterdir():
            entries.append((_entry_time(entry_dir), entry_dir, _tree_bytes(entry_dir)
                            if entry_dir.is_dir() and not entry_dir.is_symlink() else entry_dir.lstat().st_size))
        entries.sort(key=lambda entry: (entry[0], entry[1].name))
        total = sum(size for _, _, size in entries)
        pruned = []
        for when, entry_dir, size in entries:
            if now - when <= policy.max_age_days * _DAY_S and total <= policy.max_bytes:
                break                       # oldest first: everything after this one is newer and fits
            _delete_entry(entry_dir)
            total -= size
            pruned.append(entry_dir.name)
        return pruned

    def trash_bytes(self) -> int:
        if self.trash_problem() is not None:
            return 0
        return _tree_bytes(self.trash_dir)

    # ---- recovery ------------------------------------------------------------------------
    def _own_partials(self) -> Iterable[Path]:
        """This studio's temporaries (``engines.atomic.OWN_PARTIAL_NAME``, regular files only) in the project
        folder itself, in the folders the studio writes (at most ``RECOVERY_DEPTH`` levels down) and beside the
        ``entry.json`` of each trash entry; links are not followed and nested projects are not entered."""
        yield from _own_partials_in(self.root)
        if self.trash_problem() is None and self.trash_dir.is_dir():
            for entry in os.scandir(self.trash_dir):
                if entry.is_dir(follow_symlinks=False):
                    yield from _own_partials_in(Path(entry.path))
        for sub in WRITTEN_FOLDERS:
            top = self.root / sub
            if top.is_symlink() or not top.is_dir():
                continue
            for dirpath, dirnames, _ in os.walk(top):        # os.walk does not descend into links
                base = Path(dirpath)
                depth = len(base.relative_to(top).parts)
                yield from _own_partials_in(base)
                dirnames[:] = [] if depth >= RECOVERY_DEPTH else [
                    d for d in dirnames if not os.path.lexists(base / d / LOCK_NAME)
                    and not os.path.lexists(base / d / MANIFEST)]

    def _recover(self, *, exclusive: bool) -> RecoveryReport:
        report = self.recovery
        root = self.root
        now = time.time()

        locks_work = self._lock is not None and self._lock.supported
        holder_alive = self._lock is not None and self._lock.holder_alive()

        def abandoned(path: Path) -> bool:
            if exclusive:
                return True
            if locks_work or holder_alive:   # someone else has the project open: leave their files alone
                return False
            try:                     # no locks here: only leftovers untouched for a long while are abandoned
                return now - path.lstat().st_mtime > UNLOCKED_GRACE_S
            except OSError:
                return False

        for path in sorted(self._own_partials()):
            relative = path.relative_to(root).as_posix()
            if abandoned(path):
                path.unlink(missing_ok=True)
                report.removed.append(relative)
            else:
                report.kept.append(relative)
        # unfinished takes: a take folder without its sidecar, holding only what a take save writes
        trash_works = self.trash_problem() is None
        if self.takes_dir.is_dir() and not self.takes_dir.is_symlink():
            for folder in sorted(self.takes_dir.iterdir()):
                if folder.name.startswith("."):
                    continue
                relative = folder.relative_to(root).as_posix()
                if folder.is_symlink():
                    report.left_alone.append(relative)
                    continue
                if not folder.is_dir() or os.path.lexists(folder / TAKE_SIDECAR):
                    continue
                if not _is_unfinished_take(folder):
                    report.left_alone.append(relative)
                elif not abandoned(folder):
                    report.kept.append(relative)
                elif trash_works:
                    trashed = self.move_to_trash(folder, reason="incomplete: the studio stopped before this take "
                                                                "was finished")
                    report.incomplete.append(trashed.relative_to(root).as_posix())
                else:
                    report.left_alone.append(relative)
        # trash entries whose move never happened (killed between writing entry.json and the rename)
        if exclusive and trash_works and self.trash_dir.is_dir():
            for entry_dir in self.trash_dir.iterdir():
                if entry_dir.is_dir() and not entry_dir.is_symlink() and self._trash_item(entry_dir) is None:
                    children = [p for p in entry_dir.iterdir() if p.name != TRASH_ENTRY]
                    if not children:
                        shutil.rmtree(entry_dir, ignore_errors=True)
        return report

    # ---- export / import -----------------------------------------------------------------
    def export_zip(self, destination: str | Path, *, include_trash: bool = False,
                   progress: Callable[[float, str], None] | None = None,
                   cancel: Callable[[], bool] | None = None) -> Path:
        """Write the whole project as a zip file (atomically) and return its path.

        The archive holds one top-level folder named after the project folder. ``.partial-*`` leftovers and the
        lock file are never included; the trash only when ``include_trash``. Media files are stored, the rest
        deflated.

        Raises
        ------
        ValueError
            ``destination`` is inside the project (the zip would contain itself).
        ProjectError
            ``cancel()`` turned True; nothing was written.
        """
        destination = Path(destination).expanduser().resolve()
        if destination == self.root or self.root in destination.parents:
            raise ValueError(f"{destination} is inside the project; export the zip to another folder")
        files = list(self._export_files(include_trash=include_trash))
        total = sum(size for _, _, size in files) or 1
        done = 0
        top = self.root.name
        with atomic_output_path(destination, suffix=".zip") as temp:
            with zipfile.ZipFile(temp, "w", allowZip64=True) as archive:
                for path, relative, size in files:
                    if cancel_requested(cancel):
                        raise ProjectError("export cancelled; no zip was written")
                    compress = zipfile.ZIP_STORED if path.suffix.lower() in _STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                    archive.write(path, f"{top}/{relative}", compress_type=compress)
                    done += size
                    if progress is not None:
                        progress(done / total, f"exported {relative}")
        return destination

    def _export_files(self, *, include_trash: bool) -> Iterable[tuple[Path, str, int]]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            base = Path(dirpath)
            relative_dir = base.relative_to(self.root)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(TEMP_PREFIX)
                                 and not (relative_dir == Path(".") and d == ".trash" and not include_trash)
                                 and not (relative_dir == Path(".") and d in REGENERABLE)
                                 and not (base / d).is_symlink())
            for name in sorted(filenames):
                path = base / name
                if name.startswith(TEMP_PREFIX) or name == LOCK_NAME:
                    continue
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode):     # links, FIFOs and devices: never followed or read
                    continue
                yield path, (relative_dir / name).as_posix(), info.st_size

    # ---- sizes ---------------------------------------------------------------------------
    def size_bytes(self) -> int:
        return _tree_bytes(self.root)


_STORED_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".mp4", ".png", ".jpg", ".jpeg",
                              ".webp", ".zip", ".cbz", ".pdf"})


# --------------------------------------------------------------------------------------------------
# migration from older project formats
# --------------------------------------------------------------------------------------------------
#
# Format 1 (the 0.1 prototype): ``project.json`` = {"version": 1, "title", "created": epoch seconds,
# "takes": [{"id", "file": "takes/<id>.wav", "engine", "seed", "prompt", "preset", "params", "favorite",
# "rating", "notes", "parent", "elapsed_s"}]}; audio lay flat in ``takes/<id>.wav`` and the take list lived in
# the manifest, so one bad manifest write lost every take's recipe.
# Format 2: one folder per take with a ``take.json`` sidecar (see engines.music.takes); the manifest keeps
# only project-level data.


def migrate(root: Path, manifest: dict[str, Any], version: int) -> dict[str, Any]:
    """Bring a manifest of format ``version`` and its folder up to ``SCHEMA_VERSION``; returns the new manifest.

    Crash-safe and idempotent: the old manifest is copied to ``project.v<version>.json`` first, each take is
    moved into its own folder and its sidecar written last, and the new manifest replaces the old one only when
    every take is done. Run again after an interruption, it finishes the job.
    """
    if version == SCHEMA_VERSION:
        return manifest
    if version != 1:
        raise ProjectError(f"{root / MANIFEST} uses project format {version}, which this studio cannot upgrade; "
                           "open it with the studio version that made it and export it again")
    backup = root / f"project.v{version}.json"
    if not backup.exists():
        atomic_write_json(backup, manifest)
    takes = manifest.get("takes") or []
    if not isinstance(takes, list):
        raise ProjectError(f"{root / MANIFEST}: 'takes' is not a list; restore the manifest from a backup")
    missing: list[str] = []
    damaged: list[str] = []
    for entry in takes:
        if not isinstance(entry, dict):
            continue
        take_id = str(entry.get("id", ""))
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", take_id):
            missing.append(repr(take_id))
            continue
        folder = root / "takes" / take_id
        if (folder / TAKE_SIDECAR).exists():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        audio = folder / "audio.wav"
        flat = root / "takes" / f"{take_id}.wav"
        if not audio.exists():
            if not flat.exists():
                missing.append(take_id)
                shutil.rmtree(folder, ignore_errors=True)
                continue
            os.replace(flat, audio)
        try:
            sidecar = _v1_take_sidecar(entry, audio)
        except (RuntimeError, OSError):   # unreadable audio: left without a sidecar, recovery trashes it marked
            damaged.append(take_id)
            continue
        atomic_write_json(folder / TAKE_SIDECAR, sidecar)
    created = _iso_time(manifest.get("created"))
    new = {key: value for key, value in manifest.items() if key not in ("version", "title", "takes", "created")}
    new.update({"schema_version": SCHEMA_VERSION, "name": str(manifest.get("title") or root.name),
                "created": str(created or _now()), "modified": _now(), "migrated_from": version})
    if missing:
        new["migration_missing_takes"] = missing
    if damaged:
        new["migration_damaged_takes"] = damaged
    atomic_write_json(root / MANIFEST, new)
    return new


def _iso_time(value: Any) -> str | None:
    """Format 1 stored times as epoch seconds (or text); None when the value is missing or impossible."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return _dt.datetime.fromtimestamp(value).isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):   # out of the platform's range (found by fuzzing)
            return None
    return None


def _v1_take_sidecar(entry: dict[str, Any], audio: Path) -> dict[str, Any]:
    """The format-2 sidecar of a format-1 take entry. Values of the wrong type (format 1 was written by hand-rolled
    code) fall back to the defaults; the audio decides frames, rate and channels. Raises RuntimeError/OSError when
    the audio cannot be read."""
    import hashlib

    import soundfile as sf

    info = sf.info(str(audio))
    digest = hashlib.sha256(audio.read_bytes()).hexdigest()

    def pick(key: str, types: tuple[type, ...], default: Any) -> Any:
        value = entry.get(key, default)
        if isinstance(value, bool) and bool not in types:
            return default
        return value if isinstance(value, types) else default

    parent = pick("parent", (str,), None)
    rating = pick("rating", (int,), 0)
    elapsed = pick("elapsed_s", (int, float), 0.0)
    return {
        "id": str(entry["id"]), "engine": pick("engine", (str,), "") or "composer",
        "model": pick("model", (str,), None),
        "prompt": pick("prompt", (str,), ""), "preset": pick("preset", (str,), None), "seed": pick("seed", (int,), 0),
        "duration_s": round(info.frames / info.samplerate, 6), "params": pick("params", (dict,), {}),
        "parent_id": parent, "relation": "vary" if parent else None, "name": pick("name", (str,), ""),
        "created": _iso_time(entry.get("created")) or _now(), "sample_rate": int(info.samplerate), "device": "cpu",
        "generation_s": float(elapsed) if elapsed == elapsed and abs(elapsed) < 1e9 else 0.0, "stems": [],
        "has_midi": False, "summary": "", "starred": pick("favorite", (bool,), False),
        "rating": rating if 0 <= rating <= 5 else 0, "notes": pick("notes", (str,), ""), "loudness_lufs": None,
        "frames": int(info.frames), "channels": int(info.channels), "subtype": str(info.subtype),
        "files": {"audio.wav": {"bytes": audio.stat().st_size, "sha256": digest}}, "store_format": 1,
    }


# --------------------------------------------------------------------------------------------------
# import a zip
# --------------------------------------------------------------------------------------------------


def import_zip(archive_path: str | Path, parent: str | Path, *, name: str | None = None,
               max_bytes: int = MAX_IMPORT_BYTES,
               progress: Callable[[float, str], None] | None = None) -> Project:
    """Unpack a project zip (as written by ``Project.export_zip``) into a new folder under ``parent``.

    Every member name is checked before anything is written: absolute paths, ``..``, drive letters, NUL bytes,
    backslashes, symbolic links and over-long names are refused (zip-slip), as are archives whose unpacked size
    passes ``max_bytes`` or whose compression ratio looks like a zip bomb. The files are unpacked into a
    ``.partial-`` folder and renamed into place only when all of them are written, so an interrupted import
    leaves no half project.

    Parameters
    ----------
    archive_path : str or Path
        The zip file.
    parent : str or Path
        Folder the new project folder is made in.
    name : str, optional
        Folder name for the imported project; default the archive's top-level folder (made unique).
    max_bytes : int
        Largest total unpacked size accepted, bytes.

    Raises
    ------
    ValueError
        The archive is not a zip, holds no ``project.json``, or has a member that could write outside the
        project or is too large.
    """
    from lantern_studio.engines.safety import sanitize_filename

    archive_path = Path(archive_path)
    parent = Path(parent).expanduser().resolve()
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    if not zipfile.is_zipfile(archive_path):
        raise ValueError(f"{archive_path.name} is not a zip file; choose a project zip exported by Lantern Studio")
    with zipfile.ZipFile(archive_path) as archive:
        members, total = _checked_members(archive, max_bytes=max_bytes)
        prefix = _project_prefix(members)
        folder = sanitize_filename(name if name else (prefix[0] if prefix else archive_path.stem), default="imported")
        target = _unused_folder(parent, folder)
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_imports(parent)
        staging = parent / f"{TEMP_PREFIX}import-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            _unpack_members(archive, members, prefix, staging, total=total, progress=progress)
            _check_unpacked_manifest(staging)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return Project.open(target, create=False)


def _checked_members(archive: zipfile.ZipFile, *,
                     max_bytes: int) -> tuple[list[tuple[zipfile.ZipInfo, PurePosixPath]], int]:
    """Every member with its checked relative path, and the total unpacked size in bytes, read from the
    archive's directory before anything is written.

    Refuses too many entries, symbolic links, names that could escape the folder (checked on the name as
    stored too, since zipfile cuts a name at a NUL byte), a total over ``max_bytes``, and any member over
    1 MiB that expands more than ``MAX_IMPORT_RATIO`` times (a zip bomb).
    """
    from lantern_studio.engines.safety import check_relative_path

    infos = archive.infolist()
    if len(infos) > MAX_IMPORT_MEMBERS:
        raise ValueError(f"the zip holds {len(infos)} entries (at most {MAX_IMPORT_MEMBERS}); it is not a project")
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    total = 0
    for info in infos:
        if _is_symlink(info):
            raise ValueError(f"the zip entry {info.filename!r} is a symbolic link; links are refused")
        check_relative_path(info.orig_filename)           # before zipfile cut it at a NUL byte
        relative = check_relative_path(info.filename)
        total += info.file_size
        if total > max_bytes:
            raise ValueError(f"the zip unpacks to more than {max_bytes / 1e9:.1f} GB; it is refused")
        if info.compress_size and info.file_size / info.compress_size > MAX_IMPORT_RATIO and info.file_size > 2**20:
            raise ValueError(f"the zip entry {info.filename!r} expands {info.file_size // info.compress_size}x; "
                             "it looks like a zip bomb and is refused")
        members.append((info, relative))
    return members, total


def _project_prefix(members: list[tuple[zipfile.ZipInfo, PurePosixPath]]) -> tuple[str, ...]:
    """The folder inside the archive that holds the project: where its shallowest ``project.json`` is, at the
    top or one folder down (an exported zip wraps the project in a folder named after it)."""
    manifests = [rel for info, rel in members if rel.name == MANIFEST and not info.is_dir()]
    manifests.sort(key=lambda rel: len(rel.parts))
    if not manifests or len(manifests[0].parts) > 2:
        raise ValueError("the zip holds no project.json at its top; choose a project zip exported by "
                         "Lantern Studio")
    return manifests[0].parts[:-1]


def _unused_folder(parent: Path, folder: str) -> Path:
    """``parent / folder``, or with ``-2``, ``-3``, ... appended when that exists: an import never merges into
    an existing project."""
    target = parent / folder
    counter = 2
    while target.exists():
        target = parent / f"{folder}-{counter}"
        counter += 1
    return target


def _unpack_members(archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, PurePosixPath]],
                    prefix: tuple[str, ...], staging: Path, *, total: int,
                    progress: Callable[[float, str], None] | None) -> None:
    """Write the members under ``prefix`` into ``staging``, without the prefix.

    Members outside the project's folder, leftover temporary files and the lock file are skipped. Each file
    is copied in 1 MiB chunks and refused as soon as it outgrows the size its header declared, so a forged
    header cannot slip a bomb past the size checks.
    """
    done = 0
    for info, relative in members:
        if relative.parts[:len(prefix)] != prefix or len(relative.parts) == len(prefix):
            continue   # outside the project's folder in the archive
        inner = PurePosixPath(*relative.parts[len(prefix):])
        if inner.name.startswith(TEMP_PREFIX) or inner.as_posix() == LOCK_NAME:
            continue
        out = staging.joinpath(*inner.parts)
        if info.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with archive.open(info) as source, open(out, "wb") as sink:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > info.file_size:
                    raise ValueError(f"the zip entry {info.filename!r} is larger than it says; refused")
                sink.write(chunk)
        done += info.file_size
        if progress is not None:
            progress(done / max(total, 1), f"unpacked {inner}")


def _check_unpacked_manifest(staging: Path) -> None:
    """The unpacked project has a readable ``project.json`` of a format this studio can open."""
    if not (staging / MANIFEST).is_file():
        raise ValueError("the zip holds no project.json at its top; choose a project zip exported by "
                         "Lantern Studio")
    version = _schema_version(_read_manifest(staging / MANIFEST), staging / MANIFEST)
    if version > SCHEMA_VERSION:
        raise ProjectError(f"the zip holds a project of format {version}, made by a newer Lantern Studio; "
                           "update the studio to import it")


def _remove_stale_imports(parent: Path, *, older_than_s: float = 3600.0) -> None:
    """Delete unpacking folders of imports that were interrupted (killed) more than an hour ago."""
    cutoff = time.time() - older_than_s
    for leftover in parent.glob(f"{TEMP_PREFIX}import-*"):
        try:
            if leftover.is_dir() and not leftover.is_symlink() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = (info.external_attr >> 16) & 0o170000
    return mode == 0o120000


# --------------------------------------------------------------------------------------------------
# recent projects (<home>/recent.json)
# --------------------------------------------------------------------------------------------------

_recent_lock = threading.Lock()


def recent_projects(home: str | Path) -> list[dict[str, Any]]:
    """The recently opened projects, newest first: ``{"path", "name", "opened", "exists"}`` per project.

    A missing or unreadable ``recent.json`` reads as an empty list (it is a convenience, never a reason to fail).
    """
    path = Path(home).expanduser() / RECENT_NAME
    try:
        data = load_json_file(path, max_bytes=MAX_ENTRY_BYTES * 16, what="recent projects list")
    except (OSError, ValueError):
        return []
    entries = data.get("projects", []) if isinstance(data, dict) else []
    result = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        project_path = Path(entry["path"])
        result.append({"path": str(project_path), "name": str(entry.get("name") or project_path.name),
                       "opened": str(entry.get("opened", "")), "exists": (project_path / MANIFEST).is_file()})
    return result


def remember_project(home: str | Path, project: Project) -> list[dict[str, Any]]:
    """Put ``project`` at the top of the recent list (at most ``RECENT_MAX`` kept) and return the list."""
    home = Path(home).expanduser()
    with _recent_lock:
        entries = [e for e in recent_projects(home) if Path(e["path"]) != project.root]
        entries.insert(0, {"path": str(project.root), "name": project.name, "opened": _now()})
        entries = [{k: e[k] for k in ("path", "name", "opened")} for e in entries[:RECENT_MAX]]
        home.mkdir(parents=True, exist_ok=True)
        atomic_write_json(home / RECENT_NAME, {"version": 1, "projects": entries})
    return recent_projects(home)


def forget_project(home: str | Path, root: str | Path) -> list[dict[str, Any]]:
    """Remove a project from the recent list (its folder is not touched)."""
    home = Path(home).expanduser()
    root = Path(root).expanduser().resolve()
    with _recent_lock:
        entries = [{k: e[k] for k in ("path", "name", "opened")} for e in recent_projects(home)
                   if Path(e["path"]) != root]
        home.mkdir(parents=True, exist_ok=True)
        atomic_write_json(home / RECENT_NAME, {"version": 1, "projects": entries})
    return recent_projects(home)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = load_json_file(path, what="project manifest")
    except (OSError, ValueError) as error:
        raise ProjectError(f"{path} cannot be read ({error}); restore it from a backup or open another project "
                           "folder") from error
    if not isinstance(manifest, dict):
        raise ProjectError(f"{path} is not a project manifest; open another project folder")
    return manifest


def _schema_version(manifest: dict[str, Any], path: Path) -> int:
    version = manifest.get("schema_version", manifest.get("version"))
    if version is None:        # another program's project.json: refuse rather than rewrite it
        raise ProjectError(f"{path} has no schema_version, so it is not a Lantern Studio project (another program "
                           "may use this folder); choose or create another folder")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectError(f"{path} has an unreadable project format version {version!r}; restore it from a "
                           "backup or open another project folder")
    return version


def _clean_display_name(name: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"project name must be text, not {type(name).__name__}")
    cleaned = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    if not cleaned:
        raise ValueError("project name is empty; type a name")
    if len(cleaned) > MAX_NAME_CHARS:
        raise ValueError(f"project name is {len(cleaned)} characters; keep it to {MAX_NAME_CHARS} or fewer")
    return cleaned


def _own_partials_in(folder: Path) -> Iterable[Path]:
    """This studio's temporaries directly in ``folder``: regular files with its writers' exact names."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if is_own_partial(entry.name) and entry.is_file(follow_symlinks=False):
                yield Path(entry.path)
        except OSError:
            continue


_TAKE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _is_unfinished_take(folder: Path) -> bool:
    """True when ``folder`` holds nothing but what saving a take writes before its sidecar (audio, MIDI, stem
    WAVs and the studio's temporaries): only such a folder is the studio's to move to the trash."""
    if not _TAKE_ID.match(folder.name):
        return False

    def only(path: Path, allowed: Callable[[os.DirEntry], bool]) -> bool:
        try:
            return all(allowed(entry) for entry in os.scandir(path))
        except OSError:
            return False

    def regular(entry: os.DirEntry) -> bool:
        return entry.is_file(follow_symlinks=False)

    def stem_file(entry: os.DirEntry) -> bool:
        return regular(entry) and (entry.name.endswith(".wav") or is_own_partial(entry.name))

    def take_entry(entry: os.DirEntry) -> bool:
        if entry.name == TAKE_STEMS and entry.is_dir(follow_symlinks=False):
            return only(Path(entry.path), stem_file)
        return regular(entry) and (entry.name in TAKE_FILES or is_own_partial(entry.name))

    return only(folder, take_entry)


def _refuse_foreign_folder(root: Path) -> None:
    """Refuse to make a project of a folder that already holds something the studio did not put there.

    Accepted: a missing or empty folder, or what an interrupted creation leaves (the empty project folders, the
    lock file, a temporary of the manifest).
    """
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return
    except OSError as error:
        raise ProjectError(f"{root} cannot be read ({error}); choose another folder for the project") from None

    def ours(entry: os.DirEntry) -> bool:
        if entry.name in SUBFOLDERS and entry.is_dir(follow_symlinks=False):
            try:
                return not any(os.scandir(entry.path))
            except OSError:
                return False
        if entry.name == LOCK_NAME or is_own_partial(entry.name):
            return entry.is_file(follow_symlinks=False)
        return False

    foreign = sorted(entry.name for entry in entries if not ours(entry))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ProjectError(f"{root} already holds files ({shown}) and is not a Lantern Studio project (no "
                           f"{MANIFEST}); the studio does not take over a folder it did not make. Create a new "
                           "project in a new or empty folder instead: `python launch.py --project NEW_FOLDER`, or "
                           "'Create and open' in the project bar")


def _entry_time(entry_dir: Path) -> float:
    """When a trash entry was made: from its name (``YYYYmmdd-HHMMSS-ffffff-...``), else its folder's time."""
    try:
        return _dt.datetime.strptime(entry_dir.name[:22], "%Y%m%d-%H%M%S-%f").timestamp()
    except ValueError:
        try:
            return entry_dir.lstat().st_mtime
        except OSError:
            return 0.0


def _delete_entry(entry_dir: Path) -> None:
    """Delete one trash entry for good; a link is removed as a link (its target is never touched)."""
    if entry_dir.is_dir() and not entry_dir.is_symlink():
        shutil.rmtree(entry_dir)      # rmtree removes links inside as links, it does not follow them
    else:
        entry_dir.unlink(missing_ok=True)


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                total += (Path(dirpath) / name).lstat().st_size
            except OSError:
                pass
    return total
