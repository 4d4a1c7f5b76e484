"""The storyboard inside a project: everything lives under the project's ``story/`` folder, written atomically.

::

    story/
      script.txt          the script as pasted or uploaded (UTF-8)
      storyboard.json     shots + character bible + title + language (schema-versioned)
      panels/             shot_0001.png ... one per shot, from the last render
      pages/              page_001.png ... from the last page render
      pages.pdf, pages.cbz, storyboard-sheet.pdf

Saving the storyboard keeps the shot list the user edited; parsing the script again goes through
:func:`engines.story.shots.plan_shots` with ``existing=`` so bible edits survive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from lantern_studio.engines.atomic import atomic_output_path, atomic_write_json, atomic_write_text
from lantern_studio.engines.bounded import load_json_file, read_regular_file
from lantern_studio.engines.project import Project
from lantern_studio.engines.story.model import Storyboard

STORY_SCHEMA = 1
SCRIPT_NAME = "script.txt"
BOARD_NAME = "storyboard.json"
# a saved script passed the script checks (1 MB of text); four times that leaves room and still bounds the read
MAX_SCRIPT_FILE_BYTES = 4 * 1024 * 1024


class StoryStoreError(RuntimeError):
    """A story file in the project cannot be read; the message says what to do."""


def _story_dir(project: Project) -> Path:
    if not isinstance(project, Project):
        raise ValueError("pass an engines.project.Project (Project.open(folder))")
    folder = project.story_dir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def story_folder(project: Project) -> Path:
    """The project's ``story/`` folder (created if missing): pages and exports are written here."""
    return _story_dir(project)


def panels_dir(project: Project) -> Path:
    folder = _story_dir(project) / "panels"
    folder.mkdir(exist_ok=True)
    return folder


def pages_dir(project: Project) -> Path:
    folder = _story_dir(project) / "pages"
    folder.mkdir(exist_ok=True)
    return folder


def save_script(project: Project, text: str) -> Path:
    """Write the script text to ``story/script.txt``."""
    if not isinstance(text, str):
        raise ValueError("the script must be text")
    return atomic_write_text(_story_dir(project) / SCRIPT_NAME, text)


def load_script(project: Project) -> str:
    """The saved script text, or ``""`` when none was saved."""
    path = _story_dir(project) / SCRIPT_NAME
    if not path.exists():
        return ""
    try:      # bounded: a FIFO or device named script.txt is refused, never read without end
        return read_regular_file(path, max_bytes=MAX_SCRIPT_FILE_BYTES, what="script").decode("utf-8")
    except (OSError, ValueError) as error:
        raise StoryStoreError(f"{path} cannot be read ({error}); paste the script again") from error


def save_storyboard(project: Project, board: Storyboard) -> Path:
    """Write the storyboard (shots and bible) to ``story/storyboard.json``."""
    if not isinstance(board, Storyboard):
        raise ValueError("save_storyboard needs an engines.story.model.Storyboard")
    for shot in board.shots:
        shot.validate()
    return atomic_write_json(_story_dir(project) / BOARD_NAME, {"schema": STORY_SCHEMA, **board.to_dict()})


def load_storyboard(project: Project) -> Storyboard | None:
    """The saved storyboard, or None when the project has none yet."""
    path = _story_dir(project) / BOARD_NAME
    if not path.exists():
        return None
    try:
        data: Any = load_json_file(path, what="storyboard")
    except (OSError, ValueError) as error:
        raise StoryStoreError(f"{path} cannot be read ({error}); parse the script again to rebuild it") from error
    if not isinstance(data, dict) or not isinstance(data.get("shots", []), list):
        raise StoryStoreError(f"{path} is not a storyboard; parse the script again to rebuild it")
    if int(data.get("schema", 1)) > STORY_SCHEMA:
        raise StoryStoreError(f"{path} was written by a newer Lantern Studio (schema {data.get('schema')}); "
                              "update the studio to open it")
    board = Storyboard.from_dict(data)
    for shot, raw in zip(board.shots, data.get("shots", [])):
        if isinstance(raw, dict) and "int_ext" not in raw:
            # written before shots carried their scene's fields: read them off the scene heading
            from lantern_studio.engines.story.shots import scene_fields

            fields = scene_fields(shot.scene)
            shot.int_ext, shot.time_of_day = fields.int_ext, fields.time_of_day
    return board


def panel_path(project: Project, number: int) -> Path:
    return panels_dir(project) / f"shot_{int(number):04d}.png"


def save_panel(project: Project, number: int, image: Image.Image) -> Path:
    """Write one shot's panel as PNG (atomically) and return its path."""
    if not isinstance(image, Image.Image):
        raise ValueError("save_panel needs a PIL image")
    final = panel_path(project, number)
    with atomic_output_path(final) as temp:
        image.save(temp, format="PNG")
    return final


def load_panels(project: Project, board: Storyboard) -> dict[int, Path]:
    """Panels already rendered for the board's shots: ``{shot number: path}``."""
    return {s.number: panel_path(project, s.number) for s in board.shots if panel_path(project, s.number).exists()}
