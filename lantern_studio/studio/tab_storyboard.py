"""Storyboard tab: a script (or a prose chapter) becomes an editable shot list and character bible, then panels
(previz, or diffusers on a local model), comic pages (PNG/PDF/CBZ and the director's sheet), the characters'
voices, an animatic and editable timelines.

The steps are sub-tabs: Script → Shots → Voices → Panels → Pages → Animatic → Batch. Every edit is saved as
it is made; one line above the steps says "Saved HH:MM:SS", "Saving…" or "Not saved: <why>", and when another
window saved this project's storyboard since this one loaded it, offers "Reload theirs" or "Keep mine".

Each handler is a module-level function of the studio context, the window's project folder (``root``) and its
inputs, so tests call it without a browser; ``build_tab`` only lays the steps out and wires them. Handlers call
``engines.story.*``; users' mistakes raise ``UserInputError`` and reach the page as a toast and a status line
(``studio.messages``). ``storyboard_state`` is a ``gr.State`` holding the current storyboard as a dict
(``Storyboard.to_dict()``), updated on every parse and edit; the Voices, Animatic and Export timeline sections
read it.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
from pathlib import Path
from typing import Any, Callable, NamedTuple

import gradio as gr
from PIL import Image

from lantern_studio.engines.errors import ModelNotFoundError, UserInputError
from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.project import Project
from lantern_studio.engines.safety import Limits
from lantern_studio.engines.story import store
from lantern_studio.engines.story.bible import BIBLE_HEADERS, apply_bible_rows, bible_rows
from lantern_studio.engines.story.model import Storyboard
from lantern_studio.engines.story.pages import LAYOUTS, PAGE_SIZES, PageSpec, export_pages
from lantern_studio.engines.story.panels import PrevizRenderer, RenderedPanel
from lantern_studio.engines.story.prose import parse_prose
from lantern_studio.engines.story.prose_llm import find_local_llms, refine_prose
from lantern_studio.engines.story.script import ScriptError, parse_script, read_script_file
from lantern_studio.engines.story.shots import SHOT_HEADERS, PlanOptions, apply_shot_rows, plan_shots, shots_to_rows
from lantern_studio.studio import storyboard_voices, tab_animatic
from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.dataframes import dataframe_rows
from lantern_studio.studio.job_progress import StopFlags, gr_progress
from lantern_studio.studio.messages import NO_SHOTS, bind, keep_outputs

PANEL_SIZES = {"9:16 (1080x1920)": (1080, 1920), "16:9 (1920x1080)": (1920, 1080), "1:1 (1080x1080)": (1080, 1080)}
RENDERERS = ("Previz (built in, no weights)", "Diffusers (local model)")
STYLES = {"Manga": "manga", "Chinese ink": "chinese_ink", "Cel-shaded": "cel"}
RULES_ONLY = "Rules only (offline)"

# one Stop flag per window for panel renders
PANEL_STOPS = StopFlags()
PROSE_STOPS = StopFlags()
# diffusers pipelines kept loaded between renders (one at a time), and each shot's variation counter
_RENDERERS: dict[str, Any] = {}
_VARIATIONS: dict[tuple[str, int], int] = {}

PREVIZ_SAME = ("The previz renderer draws each panel from its shot's fields, so shot {number} comes out the same: "
               "change its size, move or action in the shot list for a different panel, or use the diffusers "
               "renderer for a new image")

# the shot list's column titles as shown: short words that fit their columns at 1400 px, so no title breaks
# mid-word (the rows stay in SHOT_HEADERS order, which the edits are read back by); the one-word columns (size,
# move, cast, speaker) are wide enough for their longest usual value (pan_right, GRANDMA)
SHOT_TITLES = {"duration_s": "length (s)", "characters": "cast", "parenthetical": "tone", "int_ext": "int/ext",
               "time_of_day": "time of day"}
SHOT_WIDTHS = {"#": 3, "scene": 9, "size": 5, "move": 8, "duration_s": 6, "characters": 6, "speaker": 8,
               "dialogue": 11, "parenthetical": 5, "action": 9, "transition": 9, "sfx": 4, "notes": 5,
               "int_ext": 7, "time_of_day": 5}

CHANGED_ELSEWHERE = ("Not saved: another window changed this storyboard after this one loaded it (saved there "
                     "at {when}). Your edit is still shown here: **Reload theirs** shows the other version, "
                     "**Keep mine** saves this one over it")


def shot_titles(headers: list[str]) -> list[str]:
    """The shown title of each shot-list column, in ``headers`` order."""
    return [SHOT_TITLES.get(header, header) for header in headers]


def shot_widths(headers: list[str]) -> list[str]:
    """Column widths (percent of the table) in ``headers`` order; unknown columns share what is left."""
    known = [SHOT_WIDTHS.get(header) for header in headers]
    spare = max(0, 100 - sum(w for w in known if w)) / max(1, sum(1 for w in known if not w))
    return [f"{w if w else spare:g}%" for w in known]


def shot_from_caption(caption: str | None) -> int | None:
    """The shot number a panel's caption starts with ("3 · MS · 2.0 s" -> 3), or None."""
    head = (caption or "").split("·", 1)[0].strip()
    return int(head) if head.isdigit() else None


# ---- reading the window's project ---------------------------------------------------------------------

class StoryView(NamedTuple):
    """What the tab shows of a project's storyboard, in the order of ``build_tab``'s reload outputs."""
    script: str
    rows: list
    bible: list
    state: dict
    panels: list
    pages: list
    downloads: list | None


def board_of(project: Project) -> Storyboard | None:
    """The project's saved storyboard; None when it has none, or when the file is unreadable (a parse
    rebuilds it)."""
    try:
        return store.load_storyboard(project)
    except store.StoryStoreError:
        return None


def script_of(project: Project) -> str:
    """The project's saved script; "" when it has none or it is unreadable."""
    try:
        return store.load_script(project)
    except store.StoryStoreError:
        return ""


def _board(state: Any) -> Storyboard:
    if not state or not state.get("shots"):
        raise UserInputError(NO_SHOTS)
    return Storyboard.from_dict(state)


def gallery_items(project: Project, board: Storyboard) -> list[tuple[str, str]]:
    """(panel PNG, caption) for every shot that has a panel in the project."""
    found = store.load_panels(project, board)
    return [(str(found[s.number]), f"{s.number} · {s.size} · {s.duration_s:.1f} s") for s in board.shots
            if s.number in found]


def page_items(project: Project) -> list[tuple[str, str]]:
    folder = store.story_folder(project) / "pages"
    return [(str(p), f"page {i}") for i, p in enumerate(sorted(folder.glob("page_*.png")), 1)]


def page_downloads(project: Project) -> list[str] | None:
    folder = store.story_folder(project)
    found = [folder / name for name in ("pages.pdf", "pages.cbz", "storyboard-sheet.pdf")]
    return [str(p) for p in found if p.is_file()] or None


def board_tables(board: Storyboard | None) -> tuple[list, list, dict]:
    """(shot rows, bible rows, state) of a storyboard; empty ones when there is none."""
    if board is None:
        return [], [], {}
    return shots_to_rows(board), bible_rows(board.characters), board.to_dict()


def load_view(project: Project) -> StoryView:
    """Everything the tab shows for ``project``: its script, shot list, bible, panels, pages and downloads."""
    board = board_of(project)
    panels = gallery_items(project, board) if board is not None else []
    return StoryView(script_of(project), *board_tables(board), panels, page_items(project), page_downloads(project))


# ---- the one save model ---------------------------------------------------------------------------------

def _clock(when: float | None = None) -> str:
    moment = _dt.datetime.fromtimestamp(when) if when is not None else _dt.datetime.now()
    return moment.strftime("%H:%M:%S")


def saved_line(board: Storyboard) -> str:
    return f"✓ Saved {_clock()} · {len(board.shots)} shots, {board.duration_s:.1f} s"


def not_saved_line(why: str) -> str:
    return f"⚠️ Not saved: {html.escape(why)}"


def changed_elsewhere(project: Project, state: dict) -> bool:
    """Whether the project's saved storyboard differs from ``state``, the one this window last loaded or saved
    (another window on the same project saved since): an autosave then would silently undo that window's work."""
    try:
        saved = store.load_storyboard(project)
    except store.StoryStoreError:        # unreadable: saving over it rebuilds it
        return False
    return saved is not None and saved.to_dict() != Storyboard.from_dict(state).to_dict()


def conflict_line(project: Project) -> str:
    path = store.story_folder(project) / store.BOARD_NAME
    when = _clock(path.stat().st_mtime) if path.is_file() else "?"
    return "⚠️ " + CHANGED_ELSEWHERE.format(when=when)


class Saved(NamedTuple):
    """What an autosave gives the page: the new storyboard state (None: unchanged), the save line, and whether
    the Reload theirs / Keep mine choice shows."""
    state: dict | None
    line: str
    conflict: bool = False


def save_edit(project: Project, state: dict, edit: Callable[[Storyboard], Storyboard], *,
              force: bool = False) -> Saved:
    """Apply ``edit`` to the window's storyboard and save it, unless another window saved a different one since
    this window loaded it (then nothing is written, unless ``force``: the user chose Keep mine). A value that is
    not valid yet (``ValueError`` from ``edit``) is reported in the line, not raised."""
    if not state or not state.get("shots"):
        return Saved(None, "")
    if not force and changed_elsewhere(project, state):
        return Saved(None, conflict_line(project), True)
    try:
        board = edit(Storyboard.from_dict(state))
        store.save_storyboard(project, board)
    except ValueError as error:
        return Saved(None, not_saved_line(str(error)))
    except OSError as error:
        return Saved(None, not_saved_line(f"the project folder cannot be written ({error})"))
    return Saved(board.to_dict(), saved_line(board))


def with_shot_rows(rows: Any) -> Callable[[Storyboard], Storyboard]:
    return lambda board: apply_shot_rows(board, dataframe_rows(rows))


def with_bible_rows(rows: Any) -> Callable[[Storyboard], Storyboard]:
    def edit(board: Storyboard) -> Storyboard:
        board.characters = apply_bible_rows(dataframe_rows(rows), existing=board.characters)
        return board
    return edit


def _saved_outputs(saved: Saved) -> tuple:
    """(state, save line, conflict row) updates for the page."""
    return (gr.update() if saved.state is None else saved.state, saved.line, gr.update(visible=saved.conflict))


def on_shots_edited(ctx: StudioContext, root: str, rows: Any, state: dict) -> tuple:
    """A shot-list cell was edited: save it at once."""
    return _saved_outputs(save_edit(ctx.project_at(root), state, with_shot_rows(rows)))


def on_bible_edited(ctx: StudioContext, root: str, rows: Any, state: dict) -> tuple:
    """A character-bible cell was edited: save it at once."""
    return _saved_outputs(save_edit(ctx.project_at(root), state, with_bible_rows(rows)))


def keep_mine(ctx: StudioContext, root: str, shot_rows: Any, character_rows: Any, state: dict) -> tuple:
    """The user chose this window's version over another window's newer save: save both tables as shown."""
    def edit(board: Storyboard) -> Storyboard:
        return with_bible_rows(character_rows)(with_shot_rows(shot_rows)(board))
    return _saved_outputs(save_edit(ctx.project_at(root), state, edit, force=True))


def reload_theirs(ctx: StudioContext, root: str) -> tuple:
    """The user chose the other window's version: show the saved shot list and bible (rows, bible, state,
    save line, conflict row)."""
    line = f"Showing the version saved in the project ({_clock()}); your unsaved edit was dropped."
    return (*board_tables(board_of(ctx.project_at(root))), line, gr.update(visible=False))


def saving_line() -> str:
    return "Saving…"


# ---- Script step: a script or a prose chapter to shots ----------------------------------------------------

def plan_options(zh: Any, en: Any, shortest: Any) -> PlanOptions:
    try:
        return PlanOptions(chars_per_second_zh=float(zh or 0), chars_per_second_en=float(en or 0),
                           min_duration_s=float(shortest or 0))
    except ValueError as error:
        raise UserInputError(f"Reading speeds: {error}") from None


def make_shots(project: Project, text: str, fmt: str, options: PlanOptions, *, parsed=None) -> tuple:
    """Parse ``text`` (or take ``parsed``, a Script already read), plan its shots keeping the project's earlier
    edits, and save both; returns (rows, bible rows, state, message). Bad text raises ``UserInputError``."""
    try:
        limits = Limits.from_environ()      # the line and shot caps (LANTERN_MAX_SCRIPT_LINES, LANTERN_MAX_SHOTS)
        if parsed is None:
            parsed = parse_script(limits.check_script_lines(text or ""), format=fmt)
        board = plan_shots(parsed, options=options, existing=board_of(project))
        limits.check_shots(len(board.shots))
        store.save_script(project, text)
        store.save_storyboard(project, board)
    except (ScriptError, ValueError) as error:
        raise UserInputError(str(error)) from None
    return shots_to_rows(board), bible_rows(board.characters), board.to_dict(), parse_message(parsed, board)


def parse_message(parsed, board: Storyboard) -> str:
    counts = parsed.dialogue_counts()
    per = ", ".join(f"{name} {n}" for name, n in counts.items())
    message = (f"**{parsed.format}** script ({parsed.language}): {len(parsed.scenes)} scenes, "
               f"{sum(counts.values())} dialogue lines ({per}), {len(parsed.of_kind('transition'))} transitions "
               f"→ **{len(board.shots)} shots, {board.duration_s:.1f} s**, saved to the project.")
    if parsed.warnings:      # where the parser guessed: the user checks those rows
        message += "\n\nGuessed: " + "; ".join(parsed.warnings[:6]) + ("; …" if len(parsed.warnings) > 6 else "")
    return message


def on_parse(ctx: StudioContext, root: str, text: str, fmt: str, zh: Any, en: Any, shortest: Any) -> tuple:
    """Parse script: (shot rows, bible rows, state, status, save line)."""
    rows, characters, state, message = make_shots(ctx.project_at(root), text, fmt, plan_options(zh, en, shortest))
    return rows, characters, state, message, ""


def on_parse_first(ctx: StudioContext, root: str, state: dict, text: str, fmt: str, zh: Any, en: Any,
                   shortest: Any) -> tuple | None:
    """Before rendering panels: parse a script that was pasted or edited but not parsed yet (``on_parse``'s
    outputs), or None when the shot list already is this script's."""
    saved = script_of(ctx.project_at(root))
    parsed = bool(state and state.get("shots"))
    if parsed and ((text or "") == saved or not (text or "").strip()):
        return None
    if not (text or "").strip():
        raise UserInputError(NO_SHOTS)
    return on_parse(ctx, root, text, fmt, zh, en, shortest)


def prose_models(ctx: StudioContext) -> list[str]:
    """"Rules only" and the local GGUF files in the models folder the prose refiner can use."""
    try:
        return [RULES_ONLY, *(str(p) for p in find_local_llms(ctx.settings.models_dir))]
    except OSError:
        return [RULES_ONLY]


def prose_model_choices(ctx: StudioContext, models: list[str]) -> list[tuple[str, str]]:
    """The dropdown's (label, value) pairs: a model is named by its path inside the models folder."""
    root = Path(ctx.settings.models_dir)
    return [(m if m == RULES_ONLY or not Path(m).is_relative_to(root) else Path(m).relative_to(root).as_posix(), m)
            for m in models]


def prose_script(text: str, refine_with: str | None, progress=None, cancel=None):
    """The prose chapter read by the offline rules, or refined by a local model when one is chosen (its
    answer's progress reported to ``progress(fraction, message)``; ``cancel`` stops it between tokens)."""
    try:
        if refine_with and refine_with != RULES_ONLY:
            return refine_prose(text, Path(refine_with), progress=progress, cancel=cancel)
        return parse_prose(text)
    except (ScriptError, ValueError, ModelNotFoundError) as error:
        raise UserInputError(str(error)) from None


def on_prose(ctx: StudioContext, root: str, text: str, refine_with: str | None, zh: Any, en: Any,
             shortest: Any, progress=gr.Progress(), request: gr.Request = None) -> tuple:
    """Make shots from prose: (script box, format, shot rows, bible rows, state, status, save line). The
    chapter becomes the project's script (format "prose"), so the shot list is the ordinary editable one.
    A refinement stopped with Stop saves nothing: half a model's grouping is not a shot list."""
    if not (text or "").strip():
        raise UserInputError("Paste a chapter of a novel (Chinese or English) in 'Prose', or upload it as .txt")
    limits = Limits.from_environ()
    try:
        limits.check_script_lines(text)
    except ValueError as error:
        raise UserInputError(str(error)) from None
    with PROSE_STOPS.running(request) as cancel:
        try:
            parsed = prose_script(text, refine_with, gr_progress(progress), cancel)
        except Cancelled:
            raise UserInputError("Stopped: the model's refinement was stopped and nothing was saved; make the "
                                 "shots again, or choose 'Rules only (offline)' for the instant reading") from None
    options = plan_options(zh, en, shortest)
    rows, characters, state, message = make_shots(ctx.project_at(root), text, "prose", options, parsed=parsed)
    return text, "prose", rows, characters, state, message, ""


def on_upload(path: str | None) -> Any:
    """A script or chapter file dropped on an upload: its text (checked for size and binary bytes)."""
    if not path:
        return gr.update()
    try:
        return read_script_file(path)
    except ScriptError as error:
        raise UserInputError(str(error)) from None


# ---- Panels step ---------------------------------------------------------------------------------------------

def make_renderer(ctx: StudioContext, choice: str, model: str | None, style_name: str, n_steps: Any, scale: Any,
                  batch_n: Any, width: Any, height: Any, half: bool, slice_: bool, off: bool, neg: str):
    """The chosen panel renderer: the previz one, or a diffusers pipeline on the local model (kept loaded)."""
    if choice == RENDERERS[0]:
        return PrevizRenderer()
    from lantern_studio.engines.story.diffusers_panels import DiffusersOptions, DiffusersRenderer

    if not model:
        raise UserInputError("Choose or type a model folder first (a diffusers pipeline with model_index.json); "
                             "the previz renderer works without one")
    try:
        options = DiffusersOptions(style=STYLES.get(style_name, "manga"), steps=int(n_steps),
                                   guidance_scale=float(scale), size=(int(width or 0), int(height or 0)),
                                   negative_prompt=neg or "", dtype="auto" if half else "fp32",
                                   attention_slicing=bool(slice_), cpu_offload=bool(off),
                                   batch_size=int(batch_n), device=ctx.settings.device)
    except ValueError as error:
        raise UserInputError(str(error)) from None
    made = _RENDERERS.get(str(model))
    if made is None or made.options != options:
        made = DiffusersRenderer(model, options=options)
        ok, message = made.available()
        if not ok:
            raise UserInputError(message)
        for old in _RENDERERS.values():       # one pipeline in memory at a time
            old.unload()
        _RENDERERS.clear()
        _RENDERERS[str(model)] = made
    return made


def _save_rendered(project: Project, panels: list[RenderedPanel]) -> None:
    for panel in panels:
        store.save_panel(project, panel.shot_number, panel.image.convert("RGB"))


def render_panels(ctx: StudioContext, root: str, state: dict, renderer, size_name: str, *, progress=None,
                  cancel=None) -> tuple[list, str]:
    """Render every shot's panel into the project: (gallery items, status). A stop keeps the finished ones."""
    board = _board(state)
    project = ctx.project_at(root)
    size = PANEL_SIZES.get(size_name, (1080, 1920))
    try:
        panels = renderer.render_many(board, size=size if renderer.name == "previz" else None,
                                      lettering=renderer.name == "previz", progress=progress, cancel=cancel)
    except Cancelled as error:
        _save_rendered(project, error.partial)
        return gallery_items(project, board), (f"Stopped: {len(error.partial)} of {len(board.shots)} panels "
                                               "finished and kept.")
    except (ValueError, OSError) as error:
        raise UserInputError(str(error)) from None
    _save_rendered(project, panels)
    return gallery_items(project, board), f"Rendered {len(panels)} panels ({renderer.name}) at {_clock()}."


def regenerate_panel(ctx: StudioContext, root: str, state: dict, number: Any, renderer,
                     size_name: str) -> tuple[list, str]:
    """Render one shot's panel again: a new variation with diffusers; with previz the same panel, and the
    status says why. (gallery items, status)."""
    board = _board(state)
    shot = next((s for s in board.shots if s.number == int(number or 0)), None)
    if shot is None:
        raise UserInputError(f"There is no shot {number}; pick a number from the shot list (or click a panel)")
    project = ctx.project_at(root)
    key = (str(project.root), shot.number)
    _VARIATIONS[key] = _VARIATIONS.get(key, 0) + 1
    try:
        if renderer.name == "previz":
            panel = renderer.render(shot, board, size=PANEL_SIZES.get(size_name, (1080, 1920)))
            message = PREVIZ_SAME.format(number=shot.number)
        else:
            panel = renderer.render(shot, board, variation=_VARIATIONS[key])
            message = f"Shot {shot.number}: variation {_VARIATIONS[key]}."
    except (ValueError, OSError) as error:
        raise UserInputError(str(error)) from None
    _save_rendered(project, [panel])
    return gallery_items(project, board), message


def on_render(ctx: StudioContext, root: str, state: dict, text: str, fmt: str, zh: Any, en: Any, shortest: Any,
              choice: str, size_name: str, model: str | None, style_name: str, n_steps: Any, scale: Any,
              batch_n: Any, width: Any, height: Any, half: bool, slice_: bool, off: bool, neg: str,
              request: gr.Request, progress=gr.Progress()):
    """Render panels, parsing first a script that was pasted or edited but not parsed yet. Yields (shot rows,
    bible rows, state, script status, gallery, panels status)."""
    parsed = on_parse_first(ctx, root, state, text, fmt, zh, en, shortest)
    if parsed is not None:
        state = parsed[2]
        yield (*parsed[:4], gr.update(), parsed[3])
    _board(state)
    renderer = make_renderer(ctx, choice, model, style_name, n_steps, scale, batch_n, width, height, half, slice_,
                             off, neg)
    with PANEL_STOPS.running(request) as cancel:
        items, message = render_panels(ctx, root, state, renderer, size_name, progress=gr_progress(progress),
                                       cancel=cancel)
    yield gr.update(), gr.update(), gr.update(), gr.update(), items, message


def on_regenerate(ctx: StudioContext, root: str, state: dict, number: Any, choice: str, size_name: str,
                  model: str | None, style_name: str, n_steps: Any, scale: Any, batch_n: Any, width: Any,
                  height: Any, half: bool, slice_: bool, off: bool, neg: str) -> tuple:
    _board(state)
    renderer = make_renderer(ctx, choice, model, style_name, n_steps, scale, batch_n, width, height, half, slice_,
                             off, neg)
    items, message = regenerate_panel(ctx, root, state, number, renderer, size_name)
    if renderer.name == "previz":
        gr.Info(message)
    return items, message


def on_panel_clicked(evt: gr.SelectData) -> Any:
    """A click on a panel picks its shot for "Regenerate this panel"."""
    value = evt.value if isinstance(evt.value, dict) else {}
    number = shot_from_caption(value.get("caption"))
    return gr.update() if number is None else number


# ---- Pages step --------------------------------------------------------------------------------------------

def diffusers_art(project: Project, board: Storyboard) -> dict[int, RenderedPanel] | None:
    """The project's rendered panels as art for the pages (their speech-bubble anchors guessed)."""
    from lantern_studio.engines.story.diffusers_panels import guess_anchors

    found = store.load_panels(project, board)
    if not found:
        return None
    art = {}
    for number, path in found.items():
        with Image.open(path) as opened:
            image = opened.convert("RGBA")
        shot = next(s for s in board.shots if s.number == number)
        art[number] = RenderedPanel(number, image, guess_anchors(shot, image.size), "diffusers")
    return art


def render_pages(ctx: StudioContext, root: str, state: dict, layout_name: str, page_name: str,
                 right_to_left: bool, choice: str, *, progress=None) -> tuple[list, list[str], str]:
    """Lay the panels out as pages and write PNG pages, PDF, CBZ and the director's sheet: (pages gallery,
    downloads, status)."""
    board = _board(state)
    project = ctx.project_at(root)
    art = diffusers_art(project, board) if choice != RENDERERS[0] else None
    try:
        result = export_pages(board, store.story_folder(project),
                              spec=PageSpec(layout=layout_name, rtl=bool(right_to_left),
                                            page_size=PAGE_SIZES.get(page_name, PAGE_SIZES["A4"])),
                              art=art, progress=progress)
    except (ValueError, OSError) as error:
        raise UserInputError(str(error)) from None
    pages = [(str(p), f"page {i}") for i, p in enumerate(result.pages_png, 1)]
    return pages, [str(p) for p in result.files()], f"{len(pages)} pages ({layout_name}, {page_name}) at {_clock()}."


def on_pages(ctx: StudioContext, root: str, state: dict, layout_name: str, page_name: str, right_to_left: bool,
             choice: str, progress=gr.Progress()) -> tuple:
    return render_pages(ctx, root, state, layout_name, page_name, right_to_left, choice,
                        progress=gr_progress(progress))


def on_project_switched(ctx: StudioContext, root: str) -> tuple:
    """This window opened another project: show its script, shot list, bible, panels and pages, so nothing
    typed next is saved into the project shown before; the status and save lines start empty."""
    return (*load_view(ctx.project_at(root)), "", "", gr.update(visible=False))


# ---- wiring ------------------------------------------------------------------------------------------------

def _script_step(ctx: StudioContext, view: Callable[[], StoryView]) -> dict[str, Any]:
    gr.Markdown("Paste a **Fountain** screenplay or a plain script (`第一场 内景 客厅 夜`, `角色：台词`, `（情绪）`, "
                "`【特写】`) and parse it into a shot list, or make shots from a **novel chapter** below.")
    with gr.Row():
        with gr.Column(scale=3):
            script = gr.Textbox(value=lambda: view().script, label="Script", lines=12, max_lines=24,
                                placeholder="第一场 外景 老街 夜\n【远景】灯笼一串串亮起来。\n小雨：（小声）三年没回来了……",
                                elem_id="story-script")
            upload = gr.File(label="…or upload a .fountain / .txt script", file_types=[".fountain", ".txt", ".text"],
                             type="filepath", elem_id="story-upload", height=130)
        with gr.Column(scale=1, min_width=260):
            fmt = gr.Radio(["auto", "fountain", "plain", "prose"], value="auto", label="Format",
                           elem_id="story-format")
            zh = gr.Number(value=PlanOptions.chars_per_second_zh, label="Chinese reading speed (characters/s)",
                           minimum=0.5, maximum=20, elem_id="story-cps-zh")
            en = gr.Number(value=PlanOptions.chars_per_second_en, label="English reading speed (characters/s)",
                           minimum=1, maximum=60, elem_id="story-cps-en")
            shortest = gr.Number(value=PlanOptions.min_duration_s, label="Shortest shot (s)", minimum=0.2,
                                 maximum=10, elem_id="story-min-s")
            parse = gr.Button("Parse script", variant="primary", elem_id="story-parse")
    with gr.Accordion("Prose → shots: a novel chapter (小说推文), Chinese or English", open=True,
                      elem_id="story-prose-panel"):
        gr.Markdown("Chapter lines become scenes, paragraphs become beats, quoted speech becomes dialogue with the "
                    "speaker named beside it, the rest is narration (旁白). The result is the ordinary shot list.")
        with gr.Row():
            with gr.Column(scale=3):
                prose = gr.Textbox(label="Prose (novel chapter)", lines=8, max_lines=20, elem_id="story-prose",
                                   placeholder="第一章 回家\n\n灯笼一串串亮起来。小雨站在巷口，小声说：“三年没回来了。”")
            with gr.Column(scale=1, min_width=260):
                prose_upload = gr.File(label="…or upload the chapter (.txt)", file_types=[".txt", ".text"],
                                       type="filepath", elem_id="story-prose-upload", height=110)
                models = prose_models(ctx)
                refine = gr.Dropdown(prose_model_choices(ctx, models), value=models[0], label="Refine with",
                                     elem_id="story-prose-refine")
                with gr.Row():
                    from_prose = gr.Button("Make shots from prose", variant="primary", elem_id="story-from-prose")
                    prose_stop = gr.Button("Stop", variant="stop", elem_id="story-prose-stop", min_width=80,
                                           visible=len(models) > 1)
    status = gr.Markdown(elem_id="story-status")
    return dict(script=script, upload=upload, fmt=fmt, zh=zh, en=en, shortest=shortest, parse=parse, prose=prose,
                prose_upload=prose_upload, refine=refine, from_prose=from_prose, prose_stop=prose_stop,
                status=status)


def _shots_step(view: Callable[[], StoryView]) -> dict[str, Any]:
    gr.Markdown("Edit any cell (size: EWS WS MS MCU CU ECU; move: static push_in pull_out pan_left pan_right "
                "tilt_up tilt_down shake; transition: cut dissolve dip wipe). Each edit is saved as you make it.")
    shots = gr.Dataframe(value=lambda: view().rows, headers=shot_titles(SHOT_HEADERS), type="array",
                         interactive=True, wrap=True, datatype=["number", "str", "str", "str", "number"] + ["str"] * 10,
                         column_widths=shot_widths(SHOT_HEADERS), max_height=520, elem_id="story-shots")
    gr.Markdown("**Character bible**: one row per character; the description, colour (#rrggbb) and seed drive "
                "every renderer, so a character looks the same in every panel.")
    bible = gr.Dataframe(value=lambda: view().bible, headers=BIBLE_HEADERS, type="array", interactive=True,
                         datatype=["str", "str", "str", "number"], elem_id="story-bible")
    return dict(shots=shots, bible=bible)


def _panels_step(ctx: StudioContext, view: Callable[[], StoryView]) -> dict[str, Any]:
    from lantern_studio.engines.story.diffusers_panels import DiffusersOptions, find_local_models

    with gr.Row():
        renderer = gr.Radio(list(RENDERERS), value=RENDERERS[0], label="Renderer", elem_id="story-renderer")
        size = gr.Dropdown(list(PANEL_SIZES), value=list(PANEL_SIZES)[0], label="Panel size",
                           elem_id="story-panel-size")
    with gr.Accordion("Diffusers settings (local model)", open=False, elem_id="story-diffusers"):
        found = [str(p) for p in find_local_models(ctx.settings.models_dir)]
        with gr.Row():
            model = gr.Dropdown(found, value=found[0] if found else None, allow_custom_value=True,
                                label=f"Model folder (pipelines found under {ctx.settings.models_dir})",
                                elem_id="story-model-dir")
            style = gr.Dropdown(list(STYLES), value="Manga", label="Style", elem_id="story-style")
        with gr.Row():
            steps = gr.Slider(1, 60, value=DiffusersOptions.steps, step=1, label="Steps", elem_id="story-steps")
            guidance = gr.Slider(0, 15, value=DiffusersOptions.guidance_scale, step=0.5,
                                 label="Guidance (0 for SD-Turbo)", elem_id="story-guidance")
            batch = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id="story-batch")
        with gr.Row():
            width = gr.Number(value=DiffusersOptions.size[0], label="Width (px, multiple of 8)", precision=0,
                              elem_id="story-gen-w")
            height = gr.Number(value=DiffusersOptions.size[1], label="Height (px, multiple of 8)", precision=0,
                               elem_id="story-gen-h")
            fp16 = gr.Checkbox(value=True, label="fp16 on GPU", elem_id="story-fp16")
            slicing = gr.Checkbox(value=False, label="Attention slicing (less memory)")
            offload = gr.Checkbox(value=False, label="CPU offload (small GPUs)")
        negative = gr.Textbox(label="Negative prompt (added to the style's)", lines=1, elem_id="story-negative")
    with gr.Row():
        render = gr.Button("Render panels", variant="primary", elem_id="story-render-panels")
        stop = gr.Button("Stop", elem_id="story-cancel")
        number = gr.Number(value=1, precision=0, label="Shot # (click a panel)", minimum=1,
                           elem_id="story-regen-shot")
        regenerate = gr.Button("Regenerate this panel", elem_id="story-regenerate")
    status = gr.Markdown(elem_id="story-panels-status")
    gallery = gr.Gallery(value=lambda: view().panels, label="Panels", columns=6, height=460, object_fit="contain",
                         elem_id="story-panels")
    options = [model, style, steps, guidance, batch, width, height, fp16, slicing, offload, negative]
    return dict(renderer=renderer, size=size, options=options, render=render, stop=stop, number=number,
                regenerate=regenerate, status=status, gallery=gallery)


def _pages_step(view: Callable[[], StoryView]) -> dict[str, Any]:
    with gr.Row():
        layout = gr.Dropdown(list(LAYOUTS), value="2x2", label="Layout (rows x columns, or webtoon strip)",
                             elem_id="story-layout")
        page_size = gr.Dropdown(list(PAGE_SIZES), value="A4", label="Page size", elem_id="story-page-size")
        rtl = gr.Checkbox(value=False, label="Right-to-left (manga order)", elem_id="story-rtl")
        render = gr.Button("Render pages", variant="primary", elem_id="story-render-pages")
    status = gr.Markdown(elem_id="story-pages-status")
    gallery = gr.Gallery(value=lambda: view().pages, label="Pages", columns=4, height=520, object_fit="contain",
                         elem_id="story-pages")
    downloads = gr.File(value=lambda: view().downloads, label="Downloads: PDF, CBZ, director's sheet, PNG pages",
                        file_count="multiple", interactive=False, elem_id="story-downloads")
    return dict(layout=layout, page_size=page_size, rtl=rtl, render=render, status=status, gallery=gallery,
                downloads=downloads)


def _save_bar() -> dict[str, Any]:
    with gr.Row(elem_id="story-save-bar"):
        line = gr.Markdown(elem_id="story-shots-status")
        with gr.Row(visible=False, elem_id="story-conflict") as conflict:
            reload_button = gr.Button("Reload theirs", size="sm", elem_id="story-reload-theirs")
            keep_button = gr.Button("Keep mine", size="sm", variant="primary", elem_id="story-keep-mine")
    return dict(line=line, conflict=conflict, reload=reload_button, keep=keep_button)


def build_tab(ctx: StudioContext) -> None:
    """Lay the steps out as sub-tabs and wire their handlers."""
    root = ctx.project_state()
    # the component values read the startup project; a window on another project reloads on its switch
    view = functools.partial(load_view, ctx.project)
    state = gr.State(value=lambda: view().state)
    bar = _save_bar()
    with gr.Tabs(elem_id="story-steps"):
        with gr.Tab("Script", id="story-step-script"):
            script = _script_step(ctx, view)
        with gr.Tab("Shots", id="story-step-shots"):
            shots = _shots_step(view)
        with gr.Tab("Voices", id="story-step-voices"):
            storyboard_voices.build_voices_section(ctx, state, shots["shots"], bar)
        with gr.Tab("Panels", id="story-step-panels"):
            panels = _panels_step(ctx, view)
        with gr.Tab("Pages", id="story-step-pages"):
            pages = _pages_step(view)
        with gr.Tab("Animatic", id="story-step-animatic"):
            controls = tab_animatic.build_animatic_section(ctx, state)
            from lantern_studio.studio.storyboard_handoff import build_handoff_section

            build_handoff_section(ctx, state, controls)
        with gr.Tab("Batch", id="story-step-batch") as batch_step:
            from lantern_studio.studio.batch_panel import build_batch_section

            refresh_batch = build_batch_section(ctx)   # many episodes at once, as Ray tasks
    _wire_script(ctx, root, state, script, shots, bar)
    _wire_saves(ctx, root, state, shots, bar)
    _wire_panels(ctx, root, state, script, shots, panels)
    _wire_pages(ctx, root, state, panels, pages)
    batch_step.select(refresh_batch.fn, refresh_batch.inputs, refresh_batch.output, api_name=False)
    project_version = ctx.shared.get("project_version")
    if project_version is not None:
        project_version.change(bind(ctx, on_project_switched), root,
                               [script["script"], shots["shots"], shots["bible"], state, panels["gallery"],
                                pages["gallery"], pages["downloads"], script["status"], bar["line"],
                                bar["conflict"]], api_name=False)


def _wire_script(ctx, root, state, script, shots, bar) -> None:
    made = [shots["shots"], shots["bible"], state, script["status"], bar["line"]]
    plan = [script["zh"], script["en"], script["shortest"]]
    script["upload"].upload(keep_outputs(1)(on_upload), script["upload"], script["script"])
    script["prose_upload"].upload(keep_outputs(1)(on_upload), script["prose_upload"], script["prose"])
    # each job's progress shows over what it makes, never over a status line (which it would draw over)
    script["parse"].click(bind(ctx, on_parse, 5, status=3), [root, script["script"], script["fmt"], *plan], made,
                          show_progress_on=script["script"])
    script["from_prose"].click(bind(ctx, on_prose, 7, status=5), [root, script["prose"], script["refine"], *plan],
                               [script["script"], script["fmt"], *made], show_progress_on=script["prose"])
    script["prose_stop"].click(PROSE_STOPS.stop_handler("Stopping the model's refinement…"), None,
                               script["status"], queue=False)


def _wire_saves(ctx, root, state, shots, bar) -> None:
    saved = [state, bar["line"], bar["conflict"]]
    quick = dict(queue=False, show_progress="hidden", api_name=False)
    shots["shots"].input(saving_line, None, bar["line"], **quick).then(
        bind(ctx, on_shots_edited), [root, shots["shots"], state], saved, show_progress="hidden")
    shots["bible"].input(saving_line, None, bar["line"], **quick).then(
        bind(ctx, on_bible_edited), [root, shots["bible"], state], saved, show_progress="hidden")
    bar["keep"].click(bind(ctx, keep_mine), [root, shots["shots"], shots["bible"], state], saved)
    bar["reload"].click(bind(ctx, reload_theirs), root,
                        [shots["shots"], shots["bible"], state, bar["line"], bar["conflict"]])


def _wire_panels(ctx, root, state, script, shots, panels) -> None:
    text = [script["script"], script["fmt"], script["zh"], script["en"], script["shortest"]]
    chosen = [panels["renderer"], panels["size"], *panels["options"]]
    out = [panels["gallery"], panels["status"]]
    panels["render"].click(bind(ctx, on_render, 6, status=5), [root, state, *text, *chosen],
                           [shots["shots"], shots["bible"], state, script["status"], *out], concurrency_id=GPU_JOBS,
                           show_progress_on=panels["gallery"])
    panels["regenerate"].click(bind(ctx, on_regenerate, 2, status=1),
                               [root, state, panels["number"], *chosen], out, concurrency_id=GPU_JOBS,
                               show_progress_on=panels["gallery"])
    panels["stop"].click(PANEL_STOPS.stop_handler("Stopping after the panel in progress…"), None, panels["status"],
                         queue=False)
    panels["gallery"].select(on_panel_clicked, None, panels["number"], api_name=False)


def _wire_pages(ctx, root, state, panels, pages) -> None:
    pages["render"].click(bind(ctx, on_pages, 3, status=2),
                          [root, state, pages["layout"], pages["page_size"], pages["rtl"], panels["renderer"]],
                          [pages["gallery"], pages["downloads"], pages["status"]], concurrency_id=GPU_JOBS,
                          show_progress_on=pages["gallery"])
