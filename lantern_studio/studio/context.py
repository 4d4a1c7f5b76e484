"""What every tab builder receives: the settings, the open project, and the few states tabs share."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lantern_studio.engines.project import Project
from lantern_studio.engines.settings import Settings

# every GPU-heavy event uses this concurrency id so one such job runs at a time; others queue
GPU_JOBS = "gpu"


@dataclass
class StudioContext:
    settings: Settings
    project: Project
    # components a tab publishes for others to wire to (e.g. "selected_take"); set while building
    shared: dict[str, Any] = field(default_factory=dict)
    _listeners: list[Callable[[Project], None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def switch_project(self, root: str | Path) -> Project:
        """Open (or create) another project and make it current for every tab."""
        with self._lock:
            self.project = Project.open(root)
        for listener in self._listeners:
            listener(self.project)
        return self.project

    def on_project_change(self, listener: Callable[[Project], None]) -> None:
        self._listeners.append(listener)
