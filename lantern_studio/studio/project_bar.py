"""The project bar in the studio's header: open, create, rename and switch projects, the recent list, export and
import a whole project as a zip, and the trash.

Handlers are thin: everything is done by ``engines.project``; this module only turns results into components.
Each handler is a module-level function of the studio context and its inputs (the window's project folder,
``root``, where it needs one), so tests call it without a browser; ``build_project_bar`` only lays the bar out
and wires it (``ctx.bind``). A refusal (a ``ProjectError``, a bad path, a missing confirmation) is raised as a
``gr.Error`` and reaches the page as a warning toast and the status line, with every other output left as it was
(``studio.messages.keep_outputs``): an error badge would cover the bar's fields. New projects and imports go
under the studio's projects folder; any existing project folder can be opened by path. Exports are written to
the studio's temp folder, which Gradio serves for download.

Each window has its own open project (``ctx.project_state()``). ``build_project_bar(ctx)`` publishes
``ctx.shared["project_version"]``, a hidden number that changes whenever this window's project changes, so the
window's tabs can reload (``.change``, with the project state as an input) after a switch.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import html
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import gradio as gr

from lantern_studio.engines.devices import format_bytes
from lantern_studio.engines.project import (Project, ProjectError, forget_project, import_zip, recent_projects,
                             remember_project)
from lantern_studio.engines.safety import sanitize_filename
from lantern_studio.studio.context import StudioContext
from lantern_studio.studio.job_progress import gr_progress
from lantern_studio.studio.messages import keep_outputs

BAR_ID = "project-bar"

# what a switch (open, create, rename, import) fills, in order: the window's project folder, the header line,
# the recent list, the rename field, the trash line, the status line and the hidden project version
SWITCH_SIZE = 7
SWITCH_STATUS = 5

NO_PATH = "Choose a recent project or paste a project folder's path"
NO_ZIP = "Choose a project zip first"
FORGET_OPEN = "That is the open project; open another one before removing it from the list"
NOT_CONFIRMED = "Tick 'delete the trash's items for good' first; emptying cannot be undone"


def _current_line(project: Project) -> str:
    return (f"**Project:** {html.escape(project.name)} &nbsp; <code>{html.escape(str(project.root))}</code>")


def _trash_status(project: Project) -> str:
    problem = project.trash_problem()
    if problem is not None:                     # a linked .trash: say so instead of showing what it points to
        return f"⚠️ {html.escape(problem)}"
    keep = f"Items stay {project.trash_policy.describe()} (oldest go first), or until you empty the trash."
    items = project.trash_items()
    if not items:
        return "The trash is empty. " + keep
    return f"The trash holds {len(items)} item(s), {format_bytes(project.trash_bytes())}. " + keep


def _recent_choices(ctx: StudioContext, project: Project) -> list[tuple[str, str]]:
    """The recent list as it is on disk now (projects made in other windows included), with ``project`` in it."""
    choices = []
    for entry in recent_projects(ctx.settings.home):
        mark = "" if entry["exists"] else " (missing)"
        choices.append((f"{entry['name']}{mark} — {entry['path']}", entry["path"]))
    if not any(value == str(project.root) for _, value in choices):
        choices.insert(0, (f"{project.name} — {project.root}", str(project.root)))
    return choices


def _recent_update(ctx: StudioContext, project: Project) -> Any:
    return gr.update(choices=_recent_choices(ctx, project), value=str(project.root))


def _switch(ctx: StudioContext, root: Path | str) -> Project:
    project = ctx.project_at(root)
    remember_project(ctx.settings.home, project)
    return project


def _recovery_note(project: Project) -> str:
    if project.recovery.clean and project.recovery.migrated_from is None:
        return ""
    return f" Recovery: {project.recovery.summary()}."


def served_roots(ctx: StudioContext) -> list[Path]:
    """Folders whose files the studio's web server may hand to the browser (give them to ``launch(allowed_paths=)``):
    the projects folder and the project the studio was started with."""
    return [ctx.settings.projects_dir.resolve(), ctx.project.root.resolve()]


def _served_note(roots: list[Path], project: Project) -> str:
    root = project.root.resolve()
    if any(root == r or r in root.parents for r in roots):
        return ""
    return (f" Note: this project is outside <code>{html.escape(str(roots[0]))}</code>, so the browser cannot play "
            "its files until the studio is restarted with <code>--project</code> pointing at it.")


@contextlib.contextmanager
def _refused(prefix: str = "") -> Iterator[None]:
    """What ``engines.project`` refuses (no project there, a name in use, a bad zip, a disk error) as the user's
    refusal, its message after ``prefix``."""
    try:
        yield
    except (ProjectError, ValueError, OSError) as error:
        raise gr.Error(f"{prefix}{error}") from None


def switched(ctx: StudioContext, project: Project, message: str, version_value: float | None) -> tuple:
    """The outputs of a switch to ``project`` (see ``SWITCH_SIZE``): the window now holds it, the project
    version moves on so the window's tabs reload, and the status line says ``message``."""
    return (str(project.root), _current_line(project), _recent_update(ctx, project), project.name,
            _trash_status(project), message, (version_value or 0) + 1)


# ---- handlers ---------------------------------------------------------------------------------------------

@keep_outputs(SWITCH_SIZE, status_index=SWITCH_STATUS)
def do_open(ctx: StudioContext, path: str | None, version_value: float | None) -> tuple:
    """Open the project in folder ``path`` (a recent one or a pasted path) in this window."""
    path = (path or "").strip()
    if not path:
        raise gr.Error(NO_PATH)
    with _refused():
        project = _switch(ctx, Path(path).expanduser())      # recovers and migrates on first open
    note = _recovery_note(project) + _served_note(served_roots(ctx), project)
    return switched(ctx, project, f"Opened **{html.escape(project.name)}**.{note}", version_value)


@keep_outputs(SWITCH_SIZE, status_index=SWITCH_STATUS)
def do_create(ctx: StudioContext, name: str | None, version_value: float | None) -> tuple:
    """Create a project called ``name`` in the projects folder and open it in this window."""
    with _refused():
        ctx.settings.projects_dir.mkdir(parents=True, exist_ok=True)
        created = Project.create(ctx.settings.projects_dir, name or "")
        project = _switch(ctx, ctx.remember(created).root)
    return switched(ctx, project, f"Created **{html.escape(project.name)}** in <code>{project.root}</code>.",
                    version_value)


@keep_outputs(2, status_index=1)
def do_forget(ctx: StudioContext, path: str | None, root: str | None) -> tuple:
    """Remove ``path`` from the recent list (the folder stays); (recent list, status line)."""
    path = (path or "").strip()
    project = ctx.project_at(root)
    if path and Path(path).expanduser().resolve() == project.root:
        raise gr.Error(FORGET_OPEN)
    if path:
        forget_project(ctx.settings.home, path)
    return _recent_update(ctx, project), "Removed from the list (the folder was not touched)."


@keep_outputs(SWITCH_SIZE, status_index=SWITCH_STATUS)
def do_rename(ctx: StudioContext, name: str | None, move_folder: bool, root: str | None,
              version_value: float | None) -> tuple:
    """Rename this window's project, and its folder too when ``move_folder``; the recent list follows."""
    with _refused():
        project = ctx.project_at(root)
        old_root = project.root
        project.rename(name or "", move_folder=bool(move_folder))
        if project.root != old_root:
            forget_project(ctx.settings.home, old_root)
            ctx.remember(project)
        remember_project(ctx.settings.home, project)
    return switched(ctx, project, f"Renamed to **{html.escape(project.name)}**.", version_value)


def export_target(ctx: StudioContext, project: Project) -> Path:
    """Where an export of ``project`` goes: the served temp folder, named after its folder and the time."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return ctx.settings.temp_dir / "exports" / sanitize_filename(f"{project.root.name}-{stamp}.zip")


@keep_outputs(2, status_index=1)
def do_export(ctx: StudioContext, with_trash: bool, root: str | None, progress=gr.Progress()) -> tuple:
    """Write this window's project as a zip (its trash too when ``with_trash``); (the zip's path, status line)."""
    project = ctx.project_at(root)
    with _refused("The export failed: "):
        path = project.export_zip(export_target(ctx, project), include_trash=bool(with_trash),
                                  progress=gr_progress(progress))
    size = format_bytes(path.stat().st_size)
    return str(path), f"Exported **{html.escape(project.name)}** ({size}). Download it above."


@keep_outputs(SWITCH_SIZE, status_index=SWITCH_STATUS)
def do_import(ctx: StudioContext, upload: str | None, version_value: float | None, progress=gr.Progress()) -> tuple:
    """Unpack the project zip ``upload`` as a new project in the projects folder and open it in this window."""
    if not upload:
        raise gr.Error(NO_ZIP)
    with _refused("The zip was not imported: "):
        ctx.settings.projects_dir.mkdir(parents=True, exist_ok=True)
        imported = import_zip(upload, ctx.settings.projects_dir, progress=gr_progress(progress))
        note = _recovery_note(imported)
        project = _switch(ctx, ctx.remember(imported).root)
    return switched(ctx, project, f"Imported and opened **{html.escape(project.name)}**.{note}", version_value)


@keep_outputs(3, status_index=2)
def do_empty(ctx: StudioContext, confirmed: bool, root: str | None) -> tuple:
    """Delete the trash's items for good, once ``confirmed``; (trash line, the confirmation box, status line)."""
    project = ctx.project_at(root)
    if not confirmed:
        raise gr.Error(NOT_CONFIRMED)
    with _refused():                        # e.g. the trash is a link: nothing is deleted through it
        count = project.empty_trash()
    return _trash_status(project), False, f"Deleted {count} item(s) from the trash for good."


def on_load(ctx: StudioContext, root: str | None) -> tuple:
    """A window (re)opened: the header, the recent list, the rename field and the trash line show this window's
    project and today's list."""
    project = ctx.project_at(root)
    return _current_line(project), _recent_update(ctx, project), project.name, _trash_status(project)


# ---- the bar: layout and wiring ---------------------------------------------------------------------------

def _layout(ctx: StudioContext) -> SimpleNamespace:
    """Every component of the bar, by name."""
    ui = SimpleNamespace(root=ctx.project_state())
    ui.current = gr.Markdown(_current_line(ctx.project), elem_id="project-current")
    ui.version = gr.Number(value=0, visible=False, elem_id="project-version")
    with gr.Accordion("Projects", open=False, elem_id="project-accordion"):
        with gr.Row():
            ui.recent = gr.Dropdown(_recent_choices(ctx, ctx.project), value=str(ctx.project.root),
                                    allow_custom_value=True,
                                    label="Open a recent project, or paste a project folder's path",
                                    elem_id="project-recent", scale=4)
            ui.open = gr.Button("Open", elem_id="project-open", scale=1)
            ui.forget = gr.Button("Remove from list", elem_id="project-forget", scale=1, size="sm")
        with gr.Row():
            ui.new_name = gr.Textbox(label="New project name", placeholder="e.g. 元宵 lion dance",
                                     elem_id="project-new-name", scale=4)
            ui.create = gr.Button("Create and open", elem_id="project-create", scale=1)
        with gr.Row():
            ui.rename_text = gr.Textbox(label="Rename this project", value=ctx.project.name,
                                        elem_id="project-rename-text", scale=3)
            ui.rename_folder = gr.Checkbox(False, label="also rename its folder", elem_id="project-rename-folder",
                                           scale=1)
            ui.rename = gr.Button("Rename", elem_id="project-rename", scale=1)
        with gr.Row():
            with gr.Column(scale=1):
                ui.include_trash = gr.Checkbox(False, label="include the trash", elem_id="project-export-trash")
                ui.export = gr.Button("Export project as zip", elem_id="project-export")
                ui.export_file = gr.File(label="Exported zip", interactive=False, elem_id="project-export-file")
            with gr.Column(scale=1):
                ui.import_file = gr.File(label="Project zip to import", file_types=[".zip"], type="filepath",
                                         elem_id="project-import-file")
                ui.import_button = gr.Button("Import and open", elem_id="project-import")
        with gr.Row():
            ui.trash_info = gr.Markdown(_trash_status(ctx.project), elem_id="project-trash-info")
            ui.confirm_empty = gr.Checkbox(False, label="delete the trash's items for good",
                                           elem_id="project-empty-confirm")
            ui.empty = gr.Button("Empty trash", variant="stop", elem_id="project-empty-trash")
    ui.status = gr.Markdown(_recovery_note(ctx.project).strip(), elem_id="project-status")
    ui.switched = [ui.root, ui.current, ui.recent, ui.rename_text, ui.trash_info, ui.status, ui.version]
    assert len(ui.switched) == SWITCH_SIZE and ui.switched[SWITCH_STATUS] is ui.status
    return ui


def _wire(ctx: StudioContext, ui: SimpleNamespace) -> None:
    ui.open.click(ctx.bind(do_open), [ui.recent, ui.version], ui.switched, api_name=False)
    ui.create.click(ctx.bind(do_create), [ui.new_name, ui.version], ui.switched, api_name=False)
    ui.forget.click(ctx.bind(do_forget), [ui.recent, ui.root], [ui.recent, ui.status], api_name=False)
    ui.rename.click(ctx.bind(do_rename), [ui.rename_text, ui.rename_folder, ui.root, ui.version], ui.switched,
                    api_name=False)
    ui.export.click(ctx.bind(do_export), [ui.include_trash, ui.root], [ui.export_file, ui.status], api_name=False)
    ui.import_button.click(ctx.bind(do_import), [ui.import_file, ui.version], ui.switched, api_name=False)
    ui.empty.click(ctx.bind(do_empty), [ui.confirm_empty, ui.root], [ui.trash_info, ui.confirm_empty, ui.status],
                   api_name=False)
    root_block = gr.context.Context.root_block
    if root_block is not None:
        root_block.load(ctx.bind(on_load), ui.root, [ui.current, ui.recent, ui.rename_text, ui.trash_info],
                        api_name=False)


def build_project_bar(ctx: StudioContext) -> None:
    """Build the project bar (call it inside the header of the studio's Blocks).

    It owns the window's project state (``ctx.project_state()``): opening, creating, importing or renaming a
    project changes only this window's state, and the hidden ``project_version`` number, so this window's
    tabs reload.
    """
    remember_project(ctx.settings.home, ctx.project)
    with gr.Column(elem_id=BAR_ID):
        ui = _layout(ctx)
    ctx.shared["project_version"] = ui.version
    _wire(ctx, ui)
