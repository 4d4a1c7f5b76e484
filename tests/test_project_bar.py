"""The project bar in a real headless Chromium: create, rename, export, import, switch back, empty the trash."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project, recent_projects
from lantern_studio.engines.settings import Settings
from lantern_testkit import free_port

pytestmark = pytest.mark.browser


class Options:
    def __init__(self, **values):
        self.__dict__.update(values)


@pytest.fixture
def bar_app(tmp_path):
    import gradio as gr

    from lantern_studio.studio.context import StudioContext
    from lantern_studio.studio.project_bar import build_project_bar

    home = tmp_path / "home"
    settings = Settings.resolve(Options(home=str(home), project=str(home / "projects" / "first")), environ={})
    project = Project.open(settings.project_dir)
    TakeStore(project).save(Take(engine="composer", seed=7, sample_rate=48_000,
                                 audio=np.zeros((4_800, 2), np.float32) + 0.1))
    ctx = StudioContext(settings=settings, project=project)
    with gr.Blocks() as demo:
        build_project_bar(ctx)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                        allowed_paths=[str(home)])
    yield ctx, f"http://127.0.0.1:{port}/"
    demo.close()


def _window_project(ctx, page) -> Project:
    """The project this window has open, as its header names it (each window has its own)."""
    return ctx.project_at(page.locator("#project-current code").inner_text().strip())


def _status(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#project-status').innerText.includes(t)", arg=text,
                           timeout=60_000)


def test_project_bar_end_to_end(browser, bar_app, tmp_path):
    ctx, url = bar_app
    context = browser.new_context(viewport={"width": 1300, "height": 1100})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#project-current")
    assert "first" in page.locator("#project-current").inner_text()
    page.locator("#project-accordion button.label-wrap").click()
    page.wait_for_selector("#project-new-name")

    # create a second project: it becomes this window's project; the studio's startup project stays
    page.locator("#project-new-name textarea, #project-new-name input").first.fill("元宵 lion dance")
    page.locator("#project-create").click()
    _status(page, "Created")
    project = _window_project(ctx, page)
    assert project.name == "元宵 lion dance" and project.root.parent == ctx.settings.projects_dir
    assert ctx.project.root.name == "first"
    assert "元宵 lion dance" in page.locator("#project-current").inner_text()

    # rename it (folder too)
    rename = page.locator("#project-rename-text textarea, #project-rename-text input").first
    rename.fill("Lantern night")
    page.locator("#project-rename-folder input").check()
    page.locator("#project-rename").click()
    _status(page, "Renamed")
    project = _window_project(ctx, page)
    assert project.root.name == "Lantern night" and project.name == "Lantern night"

    # open the first project again from the recent list
    page.locator("#project-recent input").first.fill(str(ctx.settings.projects_dir / "first"))
    page.keyboard.press("Enter")
    page.locator("#project-open").click()
    _status(page, "Opened")
    assert _window_project(ctx, page).root.name == "first" and len(TakeStore(_window_project(ctx, page))) == 1
    assert [Path(e["path"]).name for e in recent_projects(ctx.settings.home)][:2] == ["first", "Lantern night"]

    # export it as a zip, then import that zip as a new project
    page.locator("#project-export").click()
    _status(page, "Exported")
    exported = sorted((ctx.settings.temp_dir / "exports").glob("first-*.zip"))
    assert len(exported) == 1
    page.locator("#project-import-file input[type=file]").set_input_files(str(exported[0]))
    page.wait_for_timeout(1500)
    page.locator("#project-import").click()
    _status(page, "Imported and opened")
    assert _window_project(ctx, page).root.name == "first-2" and len(TakeStore(_window_project(ctx, page))) == 1

    # delete the take, then empty the trash (refused until confirmed)
    store = TakeStore(_window_project(ctx, page))
    store.delete(store.ids()[0])
    page.locator("#project-empty-trash").click()
    _status(page, "Tick 'delete the trash")
    page.locator("#project-empty-confirm input").check()
    page.locator("#project-empty-trash").click()
    _status(page, "Deleted 1 item(s)")
    assert _window_project(ctx, page).trash_items() == []

    # a project outside the projects folder opens, with a note that the browser cannot play its files yet
    Project.open(tmp_path / "elsewhere").close()
    page.locator("#project-recent input").first.fill(str(tmp_path / "elsewhere"))
    page.keyboard.press("Enter")
    page.locator("#project-open").click()
    _status(page, "until the studio is restarted with")
    assert _window_project(ctx, page).root.name == "elsewhere"
    page.locator("#project-recent input").first.fill(str(ctx.settings.projects_dir / "first-2"))
    page.keyboard.press("Enter")
    page.locator("#project-open").click()
    _status(page, "Opened first.")

    # a bad path is refused with a message, and the current project stays
    page.locator("#project-recent input").first.fill(str(tmp_path / "nowhere"))
    page.keyboard.press("Enter")
    page.locator("#project-open").click()
    _status(page, "is not a Lantern Studio project")
    assert _window_project(ctx, page).root.name == "first-2"
    shot = Path(os.environ.get("LANTERN_SCREENSHOTS", tmp_path)) / "project-bar.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    context.close()
