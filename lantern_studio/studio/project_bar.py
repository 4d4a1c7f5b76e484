"""The project bar in the studio's header: open, create, rename and switch projects, the recent list, export and
import a whole project as a zip, and the trash.

Handlers are thin: everything is done by ``engines.project``; this module only turns results into components
and refusals into a warning toast and a status line. New projects and imports go under the studio's projects
folder; any existing project folder can be opened by path. Exports are written to the studio's temp folder, which Gradio serves for download.

Each window has its own open project (``ctx.project_state()``). ``build_project_bar(ctx)`` publishes
``ctx.shared["project_version"]``, a hidden number that changes whenever this window's project changes, so the
window's tabs can reload (``.change``, with the project state as an input) after a switch.
"""

from __future__ import annotations

import datetime as _dt
import html
from pathlib import Path

import gradio as gr

from lantern_studio.engines.devices import format_bytes
from lantern_studio.engines.project import (Project, ProjectError, forget_project, import_zip, recent_projects,
                             remember_project)
from lantern_studio.engines.safety import sanitize_filename
from lantern_studio.studio.context import StudioContext

BAR_ID = "project-bar"


def _current_line(project: Project) -> str:
    return (f"**Project:** {html.escape(project.name)} &nbsp; <code>{html.escape(str(project.root))}</code>")


def _trash_line(project: Project) -> str:
    return _trash_status(project)


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


def build_project_bar(ctx: StudioContext) -> None:
    """Build the project bar (call it inside the header of the studio's Blocks).

    It owns the window's project state (``ctx.project_state()``): opening, creating, importing or renaming a
    project changes only this window's state, and the hidden ``project_version`` number, so this window's
    tabs reload.
    """
    roots = served_roots(ctx)
    remember_project(ctx.settings.home, ctx.project)
    startup_note = _recovery_note(ctx.project)
    with gr.Column(elem_id=BAR_ID):
        current = gr.Markdown(_current_line(ctx.project), elem_id="project-current")
        version = gr.Number(value=0, visible=False, elem_id="project-version")
        window_root = ctx.project_state()
        ctx.shared["project_version"] = version
        with gr.Accordion("Projects", open=False, elem_id="project-accordion"):
            with gr.Row():
                recent = gr.Dropdown(_recent_choices(ctx, ctx.project), value=str(ctx.project.root),
                                     allow_custom_value=True,
                                     label="Open a recent project, or paste a project folder's path",
                                     elem_id="project-recent", scale=4)
                open_button = gr.Button("Open", elem_id="project-open", scale=1)
                forget_button = gr.Button("Remove from list", elem_id="project-forget", scale=1, size="sm")
            with gr.Row():
                new_name = gr.Textbox(label="New project name", placeholder="e.g. 元宵 lion dance",
                                      elem_id="project-new-name", scale=4)
                create_button = gr.Button("Create and open", elem_id="project-create", scale=1)
            with gr.Row():
                rename_text = gr.Textbox(label="Rename this project", value=ctx.project.name,
                                         elem_id="project-rename-text", scale=3)
                rename_folder = gr.Checkbox(False, label="also rename its folder", elem_id="project-rename-folder",
                                            scale=1)
                rename_button = gr.Button("Rename", elem_id="project-rename", scale=1)
            with gr.Row():
                with gr.Column(scale=1):
                    include_trash = gr.Checkbox(False, label="include the trash", elem_id="project-export-trash")
                    export_button = gr.Button("Export project as zip", elem_id="project-export")
                    export_file = gr.File(label="Exported zip", interactive=False, elem_id="project-export-file")
                with gr.Column(scale=1):
                    import_file = gr.File(label="Project zip to import", file_types=[".zip"], type="filepath",
                                          elem_id="project-import-file")
                    import_button = gr.Button("Import and open", elem_id="project-import")
            with gr.Row():
                trash_info = gr.Markdown(_trash_line(ctx.project), elem_id="project-trash-info")
                confirm_empty = gr.Checkbox(False, label="delete the trash's items for good",
                                            elem_id="project-empty-confirm")
                empty_button = gr.Button("Empty trash", variant="stop", elem_id="project-empty-trash")
        status = gr.Markdown(startup_note.strip(), elem_id="project-status")

    switched_outputs = [window_root, current, recent, rename_text, trash_info, status, version]

    def after_switch(project: Project, message: str, version_value: float):
        return (str(project.root), _current_line(project),
                gr.update(choices=_recent_choices(ctx, project), value=str(project.root)), project.name,
                _trash_line(project), message, (version_value or 0) + 1)

    def refuse(message: str):
        # a toast and a status line, not gr.Error: an error would cover the bar's fields with error badges
        gr.Warning(message)
        return (gr.update(), gr.update(), gr.update(), gr.update(), gr.update(), f"⚠️ {html.escape(message)}",
                gr.update())

    def do_open(path: str, version_value: float):
        path = (path or "").strip()
        if not path:
            return refuse("Choose a recent project or paste a project folder's path")
        try:
            project = _switch(ctx, Path(path).expanduser())      # recovers and migrates on first open
        except (ProjectError, ValueError, OSError) as error:
            return refuse(str(error))
        note = _recovery_note(project)
        return after_switch(project, f"Opened **{html.escape(project.name)}**.{note}{_served_note(roots, project)}",
                            version_value)

    def do_create(name: str, version_value: float):
        try:
            ctx.settings.projects_dir.mkdir(parents=True, exist_ok=True)
            created = Project.create(ctx.settings.projects_dir, name or "")
            project = _switch(ctx, ctx.remember(created).root)
        except (ProjectError, ValueError, OSError) as error:
            return refuse(str(error))
        return after_switch(project, f"Created **{html.escape(project.name)}** in <code>{project.root}</code>.",
                            version_value)

    def do_forget(path: str, root: str):
        path = (path or "").strip()
        project = ctx.project_at(root)
        if path and Path(path).expanduser().resolve() == project.root:
            message = "That is the open project; open another one before removing it from the list"
            gr.Warning(message)
            return gr.update(), message
        if path:
            forget_project(ctx.settings.home, path)
        return gr.update(choices=_recent_choices(ctx, project), value=str(project.root)), "Removed from the " \
            "list (the folder was not touched)."

    def do_rename(name: str, move_folder: bool, root: str, version_value: float):
        try:
            project = ctx.project_at(root)
            old_root = project.root
            project.rename(name or "", move_folder=bool(move_folder))
            if project.root != old_root:
                forget_project(ctx.settings.home, old_root)
                ctx.remember(project)
            remember_project(ctx.settings.home, project)
        except (ProjectError, ValueError, OSError) as error:
            return refuse(str(error))
        return after_switch(project, f"Renamed to **{html.escape(project.name)}**.", version_value)

    def do_export(with_trash: bool, root: str, progress=gr.Progress()):
        project = ctx.project_at(root)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = sanitize_filename(f"{project.root.name}-{stamp}.zip")
        target = ctx.settings.temp_dir / "exports" / name
        try:
            path = project.export_zip(target, include_trash=bool(with_trash),
                                      progress=lambda f, m: progress(f, desc=m))
        except (ProjectError, ValueError, OSError) as error:
            gr.Warning(f"The export failed: {error}")
            return None, f"⚠️ The export failed: {html.escape(str(error))}"
        size = format_bytes(path.stat().st_size)
        return str(path), f"Exported **{html.escape(project.name)}** ({size}). Download it above."

    def do_import(upload: str | None, version_value: float, progress=gr.Progress()):
        if not upload:
            return refuse("Choose a project zip first")
        try:
            ctx.settings.projects_dir.mkdir(parents=True, exist_ok=True)
            imported = import_zip(upload, ctx.settings.projects_dir, progress=lambda f, m: progress(f, desc=m))
            note = _recovery_note(imported)
            project = _switch(ctx, ctx.remember(imported).root)
        except (ProjectError, ValueError, OSError) as error:
            return refuse(f"The zip was not imported: {error}")
        return after_switch(project, f"Imported and opened **{html.escape(project.name)}**.{note}", version_value)

    def do_empty(confirmed: bool, root: str):
        project = ctx.project_at(root)
        if not confirmed:   # a warning, not an error: an error would cover the checkbox the user must tick
            message = "Tick 'delete the trash's items for good' first; emptying cannot be undone"
            gr.Warning(message)
            return _trash_line(project), gr.update(), message
        try:
            count = project.empty_trash()
        except ProjectError as error:           # the trash is a link: nothing is deleted through it
            gr.Warning(str(error))
            return _trash_line(project), gr.update(), f"⚠️ {html.escape(str(error))}"
        return _trash_line(project), False, f"Deleted {count} item(s) from the trash for good."

    def on_load(root: str):
        """A window (re)opened: the header and the recent list show this window's project and today's list."""
        project = ctx.project_at(root)
        return (_current_line(project), gr.update(choices=_recent_choices(ctx, project), value=str(project.root)),
                project.name, _trash_line(project))

    open_button.click(do_open, [recent, version], switched_outputs, api_name=False)
    create_button.click(do_create, [new_name, version], switched_outputs, api_name=False)
    forget_button.click(do_forget, [recent, window_root], [recent, status], api_name=False)
    rename_button.click(do_rename, [rename_text, rename_folder, window_root, version], switched_outputs,
                        api_name=False)
    export_button.click(do_export, [include_trash, window_root], [export_file, status], api_name=False)
    import_button.click(do_import, [import_file, version], switched_outputs, api_name=False)
    empty_button.click(do_empty, [confirm_empty, window_root], [trash_info, confirm_empty, status], api_name=False)
    root_block = gr.context.Context.root_block
    if root_block is not None:
        root_block.load(on_load, window_root, [current, recent, rename_text, trash_info], api_name=False)
