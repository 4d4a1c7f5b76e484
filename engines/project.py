"""A project is a folder: ``project.json`` (schema-versioned manifest), ``takes/``, ``stems/``, ``story/``,
``renders/`` and ``.trash/``. Every write is atomic; deleting moves things to ``.trash/``.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.atomic import atomic_write_json

SCHEMA_VERSION = 2
MANIFEST = "project.json"
SUBFOLDERS = ("takes", "stems", "story", "renders", ".trash")


class ProjectError(RuntimeError):
    """A project folder that cannot be opened as it is; the message says what to do."""


@dataclass
class Project:
    root: Path
    manifest: dict[str, Any]

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

    # ---- open / save ---------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, *, create: bool = True) -> "Project":
        """Open the project in ``root``; create it (and its folders) when missing and ``create`` is True."""
        root = Path(root).expanduser().resolve()
        manifest_path = root / MANIFEST
        if manifest_path.exists():
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ProjectError(f"{manifest_path} cannot be read ({error}); restore it from a backup or open "
                                   "another project folder") from error
            if not isinstance(manifest, dict):
                raise ProjectError(f"{manifest_path} is not a project manifest; open another project folder")
        elif create:
            now = _dt.datetime.now().isoformat(timespec="seconds")
            manifest = {"schema_version": SCHEMA_VERSION, "name": root.name, "created": now, "modified": now}
        else:
            raise ProjectError(f"{root} is not a Lantern Studio project (no {MANIFEST}); create one there first")
        project = cls(root, manifest)
        for sub in SUBFOLDERS:
            (root / sub).mkdir(parents=True, exist_ok=True)
        if not manifest_path.exists():
            project.save()
        return project

    def save(self) -> None:
        self.manifest["modified"] = _dt.datetime.now().isoformat(timespec="seconds")
        atomic_write_json(self.root / MANIFEST, self.manifest)

    # ---- trash ---------------------------------------------------------------------------
    def move_to_trash(self, path: str | Path) -> Path:
        """Move a file or folder inside the project to ``.trash/`` (kept until the trash is emptied)."""
        path = Path(path).resolve()
        if self.root not in path.parents:
            raise ProjectError(f"{path} is not inside the project {self.root}")
        relative = path.relative_to(self.root)
        target = self.trash_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            target = target.with_name(f"{target.stem}.{stamp}{target.suffix}")
        shutil.move(str(path), str(target))
        return target

    def restore_from_trash(self, trashed: str | Path) -> Path:
        """Move an item from ``.trash/`` back to where it was."""
        trashed = Path(trashed).resolve()
        if self.trash_dir.resolve() not in trashed.parents:
            raise ProjectError(f"{trashed} is not in the project's trash")
        target = self.root / trashed.relative_to(self.trash_dir.resolve())
        if target.exists():
            raise ProjectError(f"{target} exists again; rename or delete it before restoring")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(trashed), str(target))
        return target
