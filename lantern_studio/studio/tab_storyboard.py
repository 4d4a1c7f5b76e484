"""Storyboard tab: paste or upload a script, parse it into an editable shot list and character bible, render
panels (previz, or diffusers on a local model), lay out comic pages and download PNG/PDF/CBZ and the
director's sheet. Handlers only call engines.story.*; errors become gr.Error messages.

At the bottom the animatic section is added by ``studio.tab_animatic.build_animatic_section(ctx,
storyboard_state)`` when that module exists; ``storyboard_state`` is a gr.State holding the current
storyboard as a dict (``Storyboard.to_dict()``), updated on every parse and edit.
"""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
from PIL import Image

from lantern_studio.engines.story import store
from lantern_studio.engines.story.bible import BIBLE_HEADERS, apply_bible_rows, bible_rows
from lantern_studio.engines.story.model import Storyboard
from lantern_studio.engines.story.pages import LAYOUTS, PAGE_SIZES, PageSpec, export_pages
from lantern_studio.engines.jobs import Cancelled
from lantern_studio.engines.story.panels import PrevizRenderer, RenderedPanel
from lantern_studio.engines.story.script import ScriptError, parse_script, read_script_file
from lantern_studio.engines.story.shots import SHOT_HEADERS, PlanOptions, apply_shot_rows, plan_shots, shots_to_rows
from lantern_studio.engines.safety import Limits
from lantern_studio.studio import storyboard_voices, tab_animatic
from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.messages import keep_outputs

PANEL_SIZES = {"9:16 (1080x1920)": (1080, 1920), "16:9 (1920x1080)": (1920, 1080), "1:1 (1080x1080)": (1080, 1080)}
RENDERERS = ("Previz (built in, no weights)", "Diffusers (local model)")
STYLES = {"Manga": "manga", "Chinese ink": "chinese_ink", "Cel-shaded": "cel"}

# one cancel flag per browser session
_cancel_flags: dict[str, threading.Event] = {}


def _flag(request: gr.Request | None) -> threading.Event:
    key = getattr(request, "session_hash", None) or "default"
    return _cancel_flags.setdefault(key, threading.Event())


def _board(state: Any) -> Storyboard:
    if not state or not state.get("shots"):
        raise gr.Error("Parse a script first: paste it above and press Parse script")
    return Storyboard.from_dict(state)


PREVIZ_SAME = ("The previz renderer draws each panel from its shot's fields, so shot {number} comes out the same: "
               "change its size, move or action in the shot list for a different panel, or use the diffusers "
               "renderer for a new image")


# the shot list's column titles as shown: short words that fit their columns at 1400 px, so no title breaks
# mid-word (the rows stay in SHOT_HEADERS order, which the edits are read back by)
SHOT_TITLES = {"duration_s": "length (s)", "characters": "cast", "parenthetical": "tone", "int_ext": "int/ext",
               "time_of_day": "time of day"}
SHOT_WIDTHS = {"#": 3, "scene": 9, "size": 5, "move": 5, "duration_s": 6, "characters": 5, "speaker": 7,
               "dialogue": 13, "parenthetical": 5, "action": 12, "transition": 9, "sfx": 4, "notes": 5,
               "int_ext": 7, "time_of_day": 5}


def shot_titles(headers: list[str]) -> list[str]:
    """The shown title of each shot-list column, in ``headers`` order."""
    return [SHOT_TITLES.get(header, header) for header in headers]


def shot_widths(headers: list[str]) -> list[str]:
    """Column widths (percent of the table) in ``headers`` order; unknown columns share what is left."""
    known = [SHOT_WIDTHS.get(header) for header in headers]
    spare = max(0, 100 - sum(w for w in known if w)) / max(1, sum(1 for w in known if not w))
    return [f"{w if w else spare:g}%" for w in known]


CHANGED_ELSEWHERE = ("Not saved: another window changed this shot list after this one loaded it. Your edit is "
                     "still shown here; reload the page to see the other version, or press 'Save shot list edits' "
                     "to keep yours instead")


def changed_elsewhere(project, state: dict) -> bool:
    """Whether the project's saved storyboard differs from ``state``, the one this window last loaded or saved
    (another window on the same project saved since): an autosave then would silently undo that window's work."""
    try:
        saved = store.load_storyboard(project)
    except store.StoryStoreError:        # unreadable: saving over it rebuilds it
        return False
    return saved is not None and saved.to_dict() != Storyboard.from_dict(state).to_dict()


def shot_from_caption(caption: str | None) -> int | None:
    """The shot number a panel's caption starts with ("3 · MS · 2.0 s" -> 3), or None."""
    head = (caption or "").split("·", 1)[0].strip()
    return int(head) if head.isdigit() else None


def _progress_cb(progress: gr.Progress):
    def report(fraction: float, message: str) -> None:
        progress(fraction, desc=message)
    return report


def build_tab(ctx: StudioContext) -> None:
    # every handler reads and saves the storyboard of this window's project; a switch reloads the tab
    window_root = ctx.project_state()

    # the initial_* readers take the window's context; as component values they read the startup project
    def initial_board(wctx: StudioContext = ctx) -> dict:
        try:
            board = store.load_storyboard(wctx.project)
        except store.StoryStoreError:
            return {}
        return board.to_dict() if board else {}

    def initial_rows(wctx: StudioContext = ctx) -> list[list[Any]]:
        state = initial_board(wctx)
        return shots_to_rows(Storyboard.from_dict(state)) if state else []

    def initial_bible(wctx: StudioContext = ctx) -> list[list[Any]]:
        state = initial_board(wctx)
        return bible_rows(Storyboard.from_dict(state).characters) if state else []

    def initial_script(wctx: StudioContext = ctx) -> str:
        try:
            return store.load_script(wctx.project)
        except store.StoryStoreError:
            return ""

    gr.Markdown("Paste a **Fountain** screenplay or a plain script (`第一场 内景 客厅 夜`, `角色：台词`, "
                "`（情绪）`, `【特写】`), parse it into a shot list you can edit, render panels and export comic "
                "pages. Everything is saved in the project's `story/` folder.")
    storyboard_state = gr.State(value=initial_board)
    with gr.Row():
        with gr.Column(scale=3):
            script = gr.Textbox(value=initial_script, label="Script", lines=14, max_lines=30,
                                placeholder="第一场 外景 老街 夜\n【远景】灯笼一串串亮起来。\n小雨：（小声）三年没回来了……",
                                elem_id="story-script")
            upload = gr.File(label="…or upload a .fountain / .txt script", file_types=[".fountain", ".txt", ".text"],
                             type="filepath", elem_id="story-upload", height=130)
        with gr.Column(scale=1, min_width=260):
            script_format = gr.Radio(["auto", "fountain", "plain", "prose"], value="auto",
                                     label="Format (prose: a novel chapter, 小说推文)", elem_id="story-format")
            cps_zh = gr.Number(value=PlanOptions.chars_per_second_zh, label="Chinese reading speed (characters/s)",
                               minimum=0.5, maximum=20, elem_id="story-cps-zh")
            cps_en = gr.Number(value=PlanOptions.chars_per_second_en, label="English reading speed (characters/s)",
                               minimum=1, maximum=60, elem_id="story-cps-en")
            min_s = gr.Number(value=PlanOptions.min_duration_s, label="Shortest shot (s)", minimum=0.2, maximum=10,
                              elem_id="story-min-s")
            parse_button = gr.Button("Parse script", variant="primary", elem_id="story-parse")
            status = gr.Markdown(elem_id="story-status")

    gr.Markdown("### Shot list\nEdit any cell (size: EWS WS MS MCU CU ECU; move: static push_in pull_out pan_left "
                "pan_right tilt_up tilt_down shake; transition: cut dissolve dip wipe); each edit is saved to "
                "the project as you make it.")
    shots = gr.Dataframe(value=initial_rows, headers=shot_titles(SHOT_HEADERS), type="array", interactive=True,
                         wrap=True, datatype=["number", "str", "str", "str", "number"] + ["str"] * 10,
                         column_widths=shot_widths(SHOT_HEADERS), max_height=520, elem_id="story-shots")
    with gr.Row():
        save_shots = gr.Button("Save shot list edits", elem_id="story-save-shots")
        shots_status = gr.Markdown(elem_id="story-shots-status")

    gr.Markdown("### Character bible\nOne row per character: the description, colour (#rrggbb) and seed drive "
                "every renderer, so a character looks the same in every panel.")
    bible = gr.Dataframe(value=initial_bible, headers=BIBLE_HEADERS, type="array", interactive=True,
                         datatype=["str", "str", "str", "number"], elem_id="story-bible")
    save_bible = gr.Button("Save bible edits", elem_id="story-save-bible")
    storyboard_voices.build_voices_section(ctx, storyboard_state, shots)

    gr.Markdown("### Panels")
    with gr.Row():
        renderer = gr.Radio(list(RENDERERS), value=RENDERERS[0], label="Renderer", elem_id="story-renderer")
        panel_size = gr.Dropdown(list(PANEL_SIZES), value=list(PANEL_SIZES)[0], label="Panel size",
                                 elem_id="story-panel-size")
    with gr.Accordion("Diffusers settings (local model)", open=False, elem_id="story-diffusers"):
        from lantern_studio.engines.story.diffusers_panels import DiffusersOptions, find_local_models

        found = [str(p) for p in find_local_models(ctx.settings.models_dir)]
        with gr.Row():
            model_dir = gr.Dropdown(found, value=found[0] if found else None, allow_custom_value=True,
                                    label=f"Model folder (pipelines found under {ctx.settings.models_dir})",
                                    elem_id="story-model-dir")
            style = gr.Dropdown(list(STYLES), value="Manga", label="Style", elem_id="story-style")
        with gr.Row():
            steps = gr.Slider(1, 60, value=DiffusersOptions.steps, step=1, label="Steps", elem_id="story-steps")
            guidance = gr.Slider(0, 15, value=DiffusersOptions.guidance_scale, step=0.5,
                                 label="Guidance (0 for SD-Turbo)", elem_id="story-guidance")
            batch = gr.Slider(1, 8, value=1, step=1, label="Batch size", elem_id="story-batch")
        with gr.Row():
            gen_w = gr.Number(value=DiffusersOptions.size[0], label="Width (px, multiple of 8)", precision=0,
                              elem_id="story-gen-w")
            gen_h = gr.Number(value=DiffusersOptions.size[1], label="Height (px, multiple of 8)", precision=0,
                              elem_id="story-gen-h")
            fp16 = gr.Checkbox(value=True, label="fp16 on GPU", elem_id="story-fp16")
            slicing = gr.Checkbox(value=False, label="Attention slicing (less memory)")
            offload = gr.Checkbox(value=False, label="CPU offload (small GPUs)")
        negative = gr.Textbox(label="Negative prompt (added to the style's)", lines=1, elem_id="story-negative")
    with gr.Row():
        render_button = gr.Button("Render panels", variant="primary", elem_id="story-render-panels")
        cancel_button = gr.Button("Cancel", elem_id="story-cancel")
        regen_shot = gr.Number(value=1, precision=0, label="Shot #", minimum=1, elem_id="story-regen-shot")
        regen_button = gr.Button("Regenerate this panel", elem_id="story-regenerate")

    def gallery_items(board: Storyboard, wctx: StudioContext = ctx) -> list[tuple[str, str]]:
        found = store.load_panels(wctx.project, board)
        return [(str(found[s.number]), f"{s.number} · {s.size} · {s.duration_s:.1f} s") for s in board.shots
                if s.number in found]

    def initial_panels(wctx: StudioContext = ctx) -> list[tuple[str, str]]:
        state = initial_board(wctx)
        return gallery_items(Storyboard.from_dict(state), wctx) if state else []

    def initial_pages(wctx: StudioContext = ctx) -> list[tuple[str, str]]:
        folder = store.story_folder(wctx.project) / "pages"
        return [(str(p), f"page {i}") for i, p in enumerate(sorted(folder.glob("page_*.png")), 1)]

    def initial_downloads(wctx: StudioContext = ctx) -> list[str]:
        folder = store.story_folder(wctx.project)
        found = [folder / name for name in ("pages.pdf", "pages.cbz", "storyboard-sheet.pdf")]
        return [str(p) for p in found if p.is_file()] or None

    gallery = gr.Gallery(value=initial_panels, label="Panels", columns=6, height=420, object_fit="contain",
                         elem_id="story-panels")

    gr.Markdown("### Pages")
    with gr.Row():
        layout = gr.Dropdown(list(LAYOUTS), value="2x2", label="Layout (rows x columns, or webtoon strip)",
                             elem_id="story-layout")
        page_size = gr.Dropdown(list(PAGE_SIZES), value="A4", label="Page size", elem_id="story-page-size")
        rtl = gr.Checkbox(value=False, label="Right-to-left (manga order)", elem_id="story-rtl")
        pages_button = gr.Button("Render pages", variant="primary", elem_id="story-render-pages")
    pages_gallery = gr.Gallery(value=initial_pages, label="Pages", columns=4, height=520, object_fit="contain", elem_id="story-pages")
    downloads = gr.File(value=initial_downloads, label="Downloads: PDF, CBZ, director's sheet, PNG pages",
                        file_count="multiple",
                        interactive=False, elem_id="story-downloads")

    # ---- handlers ---------------------------------------------------------------------------------
    def load_upload(path):
        if not path:
            return gr.update()
        try:
            return read_script_file(path)
        except ScriptError as error:
            raise gr.Error(str(error)) from None

    def do_parse(root, text, fmt, zh, en, shortest):
        wctx = ctx.window(root)
        try:
            options = PlanOptions(chars_per_second_zh=float(zh or 0), chars_per_second_en=float(en or 0),
                                  min_duration_s=float(shortest or 0))
            limits = Limits.from_environ()      # the line and shot caps (LANTERN_MAX_SCRIPT_LINES, LANTERN_MAX_SHOTS)
            parsed = parse_script(limits.check_script_lines(text or ""), format=fmt)
            try:
                previous = store.load_storyboard(wctx.project)
            except store.StoryStoreError:
                previous = None
            board = plan_shots(parsed, options=options, existing=previous)
            limits.check_shots(len(board.shots))
            store.save_script(wctx.project, text)
            store.save_storyboard(wctx.project, board)
        except (ScriptError, ValueError) as error:
            raise gr.Error(str(error)) from None
        counts = parsed.dialogue_counts()
        per = ", ".join(f"{name} {n}" for name, n in counts.items())
        message = (f"**{parsed.format}** script ({parsed.language}): {len(parsed.scenes)} scenes, "
                   f"{sum(counts.values())} dialogue lines ({per}), {len(parsed.of_kind('transition'))} transitions "
                   f"→ **{len(board.shots)} shots, {board.duration_s:.1f} s**.")
        if parsed.warnings:      # where the parser guessed: the user checks those rows
            message += "\n\nGuessed: " + "; ".join(parsed.warnings[:6]) + ("; …" if len(parsed.warnings) > 6 else "")
        return (shots_to_rows(board), bible_rows(board.characters), board.to_dict(), message)

    def parse_first(root, state, text, fmt, zh, en, shortest):
        """Render panels on a script that was pasted or edited but not parsed: parse it first."""
        try:
            saved = store.load_script(ctx.window(root).project)
        except store.StoryStoreError:
            saved = None
        parsed = bool(state and state.get("shots"))
        if parsed and ((text or "") == (saved or "") or not (text or "").strip()):
            return gr.update(), gr.update(), gr.update(), gr.update()
        if not (text or "").strip():
            raise gr.Error("There is no shot list yet: paste a script (or a prose chapter) above, then press "
                           "Parse script or Render panels")
        return do_parse(root, text, fmt, zh, en, shortest)

    def do_save_shots(root, rows, state):
        board = _board(state)
        try:
            board = apply_shot_rows(board, rows or [])
            store.save_storyboard(ctx.window(root).project, board)
        except ValueError as error:
            raise gr.Error(str(error)) from None
        return (shots_to_rows(board), bible_rows(board.characters), board.to_dict(),
                f"Saved {len(board.shots)} shots ({board.duration_s:.1f} s) to the project.")

    def autosave_shots(root, rows, state):
        """Every cell edit is saved at once; a value that is not valid yet is reported, not raised."""
        if not state or not state.get("shots"):
            return gr.update(), ""
        project = ctx.window(root).project
        if changed_elsewhere(project, state):
            return gr.update(), f"⚠️ {CHANGED_ELSEWHERE}."
        try:
            board = apply_shot_rows(Storyboard.from_dict(state), rows or [])
            store.save_storyboard(project, board)
        except ValueError as error:
            return gr.update(), f"Not saved yet: {error}"
        return board.to_dict(), f"Saved {len(board.shots)} shots ({board.duration_s:.1f} s) to the project."

    def autosave_bible(root, rows, state):
        if not state or not state.get("shots"):
            return gr.update()
        project = ctx.window(root).project
        if changed_elsewhere(project, state):
            gr.Warning(CHANGED_ELSEWHERE.replace("shot list", "storyboard").replace("Save shot list edits",
                                                                                     "Save bible edits"))
            return gr.update()
        try:
            board = Storyboard.from_dict(state)
            board.characters = apply_bible_rows(rows or [], existing=board.characters)
            store.save_storyboard(project, board)
        except ValueError:
            return gr.update()
        return board.to_dict()

    def do_save_bible(root, rows, state):
        board = _board(state)
        try:
            edited = apply_bible_rows(rows or [], existing=board.characters)
            board.characters = edited
            store.save_storyboard(ctx.window(root).project, board)
        except ValueError as error:
            raise gr.Error(str(error)) from None
        gr.Info(f"Saved {len(edited)} characters")
        return bible_rows(board.characters), board.to_dict()

    def make_renderer(choice, model, style_name, n_steps, scale, batch_n, width, height, half, slice_, off, neg):
        if choice == RENDERERS[0]:
            return PrevizRenderer()
        from lantern_studio.engines.story.diffusers_panels import DiffusersOptions, DiffusersRenderer

        if not model:
            raise gr.Error("Choose or type a model folder first (a diffusers pipeline with model_index.json); "
                           "the previz renderer works without one")
        try:
            options = DiffusersOptions(style=STYLES.get(style_name, "manga"), steps=int(n_steps),
                                       guidance_scale=float(scale), size=(int(width or 0), int(height or 0)),
                                       negative_prompt=neg or "", dtype="auto" if half else "fp32",
                                       attention_slicing=bool(slice_), cpu_offload=bool(off),
                                       batch_size=int(batch_n), device=ctx.settings.device)
        except ValueError as error:
            raise gr.Error(str(error)) from None
        made = _renderers.get(str(model))
        if made is None or made.options != options:
            made = DiffusersRenderer(model, options=options)
            ok, message = made.available()
            if not ok:
                raise gr.Error(message)
            for old in _renderers.values():       # one pipeline in memory at a time
                old.unload()
            _renderers.clear()
            _renderers[str(model)] = made
        return made

    def save_rendered(panels: list[RenderedPanel], wctx: StudioContext) -> list[str]:
        return [str(store.save_panel(wctx.project, p.shot_number, p.image.convert("RGB"))) for p in panels]

    def do_render(root, state, choice, size_name, model, style_name, n_steps, scale, batch_n, width, height, half, slice_, off, neg, request: gr.Request,
                  progress=gr.Progress()):
        board = _board(state)
        wctx = ctx.window(root)
        flag = _flag(request)
        flag.clear()
        made = make_renderer(choice, model, style_name, n_steps, scale, batch_n, width, height, half, slice_, off, neg)
        size = PANEL_SIZES.get(size_name, (1080, 1920))
        try:
            panels = made.render_many(board, size=size if made.name == "previz" else None,
                                      lettering=made.name == "previz",
                                      progress=_progress_cb(progress), cancel=flag)
        except Cancelled as error:
            save_rendered(error.partial, wctx)
            gr.Warning(f"{error}; the finished panels are kept")
            return gallery_items(board, wctx)
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from None
        save_rendered(panels, wctx)
        return gallery_items(board, wctx)

    def do_regenerate(root, state, number, choice, size_name, model, style_name, n_steps, scale, batch_n, width, height, half, slice_, off, neg,
                      progress=gr.Progress()):
        board = _board(state)
        shot = next((s for s in board.shots if s.number == int(number or 0)), None)
        if shot is None:
            raise gr.Error(f"There is no shot {number}; pick a number from the shot list")
        made = make_renderer(choice, model, style_name, n_steps, scale, batch_n, width, height, half, slice_, off, neg)
        _variations[shot.number] = _variations.get(shot.number, 0) + 1
        try:
            if made.name == "previz":
                panel = made.render(shot, board, size=PANEL_SIZES.get(size_name, (1080, 1920)))
                gr.Info(PREVIZ_SAME.format(number=shot.number))
            else:
                panel = made.render(shot, board, variation=_variations[shot.number])
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from None
        wctx = ctx.window(root)
        save_rendered([panel], wctx)
        return gallery_items(board, wctx)

    def do_cancel(request: gr.Request):
        _flag(request).set()
        gr.Info("Cancelling after the current step…")

    def do_pages(root, state, layout_name, page_name, right_to_left, choice, progress=gr.Progress()):
        board = _board(state)
        wctx = ctx.window(root)
        art = None
        if choice != RENDERERS[0]:
            from lantern_studio.engines.story.diffusers_panels import guess_anchors

            found = store.load_panels(wctx.project, board)
            if found:
                art = {}
                for number, path in found.items():
                    with Image.open(path) as opened:
                        image = opened.convert("RGBA")
                    shot = next(s for s in board.shots if s.number == number)
                    art[number] = RenderedPanel(number, image, guess_anchors(shot, image.size), "diffusers")
        try:
            result = export_pages(board, store.story_folder(wctx.project),
                                  spec=PageSpec(layout=layout_name, rtl=bool(right_to_left),
                                                page_size=PAGE_SIZES.get(page_name, PAGE_SIZES["A4"])),
                                  art=art, progress=_progress_cb(progress))
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from None
        pages = [(str(p), f"page {i}") for i, p in enumerate(result.pages_png, 1)]
        return pages, [str(p) for p in result.files()]

    _renderers: dict[str, Any] = {}
    _variations: dict[int, int] = {}
    diffusers_inputs = [model_dir, style, steps, guidance, batch, gen_w, gen_h, fp16, slicing, offload, negative]

    # refusals are a toast and a status line, never Error badges over the script, shot list or galleries
    upload.upload(keep_outputs(1)(load_upload), inputs=upload, outputs=script)
    parse_button.click(keep_outputs(4, status_index=3)(do_parse), inputs=[window_root, script, script_format, cps_zh, cps_en, min_s],
                       outputs=[shots, bible, storyboard_state, status])
    save_shots.click(keep_outputs(4, status_index=3)(do_save_shots), inputs=[window_root, shots, storyboard_state],
                     outputs=[shots, bible, storyboard_state, shots_status])
    shots.input(autosave_shots, inputs=[window_root, shots, storyboard_state], outputs=[storyboard_state, shots_status])
    save_bible.click(keep_outputs(2)(do_save_bible), inputs=[window_root, bible, storyboard_state], outputs=[bible, storyboard_state])
    bible.input(autosave_bible, inputs=[window_root, bible, storyboard_state], outputs=storyboard_state)
    render_button.click(parse_first, inputs=[window_root, storyboard_state, script, script_format, cps_zh, cps_en, min_s],
                        outputs=[shots, bible, storyboard_state, status]).success(
        keep_outputs(1)(do_render), inputs=[window_root, storyboard_state, renderer, panel_size, *diffusers_inputs],
        outputs=gallery,
        concurrency_id=GPU_JOBS)
    regen_button.click(keep_outputs(1)(do_regenerate), inputs=[window_root, storyboard_state, regen_shot, renderer, panel_size, *diffusers_inputs],
                       outputs=gallery, concurrency_id=GPU_JOBS)
    cancel_button.click(do_cancel, queue=False)

    def on_panel(evt: gr.SelectData):
        """A click on a panel picks its shot for "Regenerate this panel"."""
        value = evt.value if isinstance(evt.value, dict) else {}
        number = shot_from_caption(value.get("caption"))
        return gr.update() if number is None else number

    gallery.select(on_panel, None, regen_shot, api_name=False)
    pages_button.click(keep_outputs(2)(do_pages), inputs=[window_root, storyboard_state, layout, page_size, rtl, renderer],
                       outputs=[pages_gallery, downloads], concurrency_id=GPU_JOBS)

    def reload_story(root):
        """This window opened another project: show its script, shot list, bible, panels and pages, so
        nothing typed next is saved into the project shown before."""
        wctx = ctx.window(root)
        return (initial_script(wctx), initial_rows(wctx), initial_bible(wctx), initial_board(wctx),
                initial_panels(wctx), initial_pages(wctx), initial_downloads(wctx), "", "")

    project_version = ctx.shared.get("project_version")
    if project_version is not None:
        project_version.change(reload_story, window_root,
                               [script, shots, bible, storyboard_state, gallery, pages_gallery, downloads, status,
                                shots_status], api_name=False)

    # ---- the animatic section -----------------------------------------------------------------------
    gr.Markdown("---")
    controls = tab_animatic.build_animatic_section(ctx, storyboard_state)
    from lantern_studio.studio.storyboard_handoff import build_handoff_section

    build_handoff_section(ctx, storyboard_state, controls)
    from lantern_studio.studio.batch_panel import build_batch_section

    build_batch_section(ctx)   # many episodes at once, as Ray tasks
