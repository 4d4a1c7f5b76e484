"""What every tab builder receives: the settings, the startup project, the open projects, and the few states
tabs share.

Each browser window has its own open project: its folder is held in a ``gr.State`` (``ctx.project_state()``),
which every handler takes as an input and turns into a context for that window with ``ctx.window(root)``.
So two windows can work on two projects, and one never writes into the other's. The ``Project`` objects
themselves are shared: two windows on the same folder get the same object (one lock, one write lock).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lantern_studio.engines.project import Project
from lantern_studio.engines.settings import Settings

# every GPU-heavy event uses this concurrency id so one such job runs at a time; others queue
GPU_JOBS = "gpu"

PROJECT_STATE = "project_root"


def _key(root: str | Path) -> Path:
    return Path(root).expanduser().resolve()


def served_dir(kind: str) -> Path:
    """A folder under Gradio's upload folder (the studio's temp folder, cleaned on exit): files there are
    served to the browser whichever project is open, and never end up in a project's export."""
    import gradio as gr

    folder = Path(gr.utils.get_upload_folder()) / "lantern" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class StudioContext:
    settings: Settings
    # the project the studio started with, and, in a context from ``window()``, that window's project
    project: Project
    # components a tab publishes for others to wire to (e.g. "selected_take"); set while building
    shared: dict[str, Any] = field(default_factory=dict)
    _projects: dict[Path, Project] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._projects.setdefault(_key(self.project.root), self.project)

    def project_at(self, root: str | Path | None) -> Project:
        """The open project in folder ``root`` (opened once, then shared by every window that has it open);
        the startup project when ``root`` is empty. Raises ``ProjectError`` when the folder holds no project."""
        if not root:
            return self.project
        key = _key(root)
        with self._lock:
            project = self._projects.get(key)
            if project is None:
                project = Project.open(key, create=False)
                self._projects[key] = project
            return project

    def remember(self, project: Project) -> Project:
        """Register ``project`` under its (possibly new, after a folder rename) folder; the old key stays, so
        a window still holding the old folder gets the renamed project, not a new empty one."""
        with self._lock:
            return self._projects.setdefault(_key(project.root), project)

    def window(self, root: str | Path | None) -> "StudioContext":
        """This context with the window's project (``root``, the value of ``project_state()``) as ``project``."""
        return dataclasses.replace(self, project=self.project_at(root))

    def bind(self, handler: Callable) -> Callable:
        """``handler(ctx, *inputs)``, a tab's module-level handler, as a Gradio handler of its inputs alone.

        The wrapper keeps the handler's other parameters (and their annotations), so Gradio still fills
        ``gr.Request``, ``gr.Progress`` and ``gr.SelectData``, and a generator stays a generator (Gradio streams it).
        """
        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def run(*args, **kwargs):
                yield from handler(self, *args, **kwargs)
        else:
            @functools.wraps(handler)
            def run(*args, **kwargs):
                return handler(self, *args, **kwargs)
        signature = inspect.signature(handler)
        run.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
        return run

    def project_state(self):
        """The ``gr.State`` holding this window's project folder (made on first use, inside the Blocks)."""
        state = self.shared.get(PROJECT_STATE)
        if state is None:
            import gradio as gr

            state = self.shared[PROJECT_STATE] = gr.State(str(self.project.root))
        return state
