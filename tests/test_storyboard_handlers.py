"""The Storyboard tab's handlers called directly, without a browser: real engines on a real project folder.

Oracles: the shot list saved in ``story/storyboard.json`` (read back with json), panel PNGs read with PIL and
numpy, the PDF's page objects counted in its bytes, the speakers read off the prose excerpts by hand
(test_story_prose's lists) and scene lines counted with a regex.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from lantern_studio.engines.errors import UserInputError
from lantern_studio.engines.project import Project
from lantern_studio.engines.story.panels import PrevizRenderer
from lantern_studio.engines.story.shots import PlanOptions
from lantern_studio.studio import batch_panel, messages
from lantern_studio.studio import tab_storyboard as tab
from lantern_testkit import sample_path
from test_story_prose import EN_SPEAKERS, ZH_SPEAKERS

SPEEDS = (PlanOptions.chars_per_second_zh, PlanOptions.chars_per_second_en, PlanOptions.min_duration_s)
SHORT = "第一场 外景 老街 夜\n【远景】灯笼一串串亮起来。\n小雨：（小声）三年没回来了……\n奶奶：谁呀？\n"


def root_of(ctx) -> str:
    return str(ctx.project.root)


def saved_board(project: Project) -> dict:
    return json.loads((project.root / "story" / "storyboard.json").read_text(encoding="utf-8"))


def parsed(ctx, text: str = SHORT, fmt: str = "auto"):
    return tab.on_parse(ctx, root_of(ctx), text, fmt, *SPEEDS)


def test_parse_saves_the_script_and_an_editable_shot_list(ctx):
    text = sample_path("nianyefan.txt").read_text(encoding="utf-8")
    rows, bible, state, status, save_line = parsed(ctx, text)
    saved = saved_board(ctx.project)
    scenes = sum(1 for line in text.splitlines() if re.match(r"^第.场", line))
    assert f"{scenes} scenes" in status and f"{len(saved['shots'])} shots" in status
    assert len(rows) == len(saved["shots"]) == len(state["shots"]) >= 10
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert {row[0] for row in bible} == {c["name"] for c in saved["characters"]} >= {"小雨", "奶奶"}
    assert (ctx.project.root / "story" / "script.txt").read_text(encoding="utf-8") == text
    assert save_line == ""
    with pytest.raises(UserInputError, match="chars_per_second_zh must be a number above 0"):
        tab.on_parse(ctx, root_of(ctx), text, "auto", -1, 15, 1.5)


def test_a_cell_edit_is_saved_and_a_bad_value_is_reported_not_saved(ctx):
    rows, _, state, _, _ = parsed(ctx)
    rows[1][2] = "CU"
    new_state, line, conflict = tab.on_shots_edited(ctx, root_of(ctx), rows, state)
    assert saved_board(ctx.project)["shots"][1]["size"] == "CU" and new_state["shots"][1]["size"] == "CU"
    assert re.match(r"✓ Saved \d\d:\d\d:\d\d · 3 shots", line) and conflict["visible"] is False
    before = (ctx.project.root / "story" / "storyboard.json").read_bytes()
    rows[1][2] = "HUGE"
    unchanged, line, _ = tab.on_shots_edited(ctx, root_of(ctx), rows, new_state)
    assert line.startswith("⚠️ Not saved:") and "HUGE" in line and unchanged == gr.update()
    assert (ctx.project.root / "story" / "storyboard.json").read_bytes() == before


def test_another_windows_newer_save_is_a_choice_reload_theirs_or_keep_mine(ctx):
    rows, bible, loaded, _, _ = parsed(ctx)
    theirs_rows = [list(r) for r in rows]
    theirs_rows[0][2] = "ECU"
    theirs, _, _ = tab.on_shots_edited(ctx, root_of(ctx), theirs_rows, loaded)          # the other window
    mine_rows = [list(r) for r in rows]
    mine_rows[2][2] = "EWS"
    state, line, conflict = tab.on_shots_edited(ctx, root_of(ctx), mine_rows, loaded)   # this window, stale
    assert state == gr.update() and conflict["visible"] is True and "another window changed" in line
    assert saved_board(ctx.project)["shots"][0]["size"] == "ECU"
    assert saved_board(ctx.project)["shots"][2]["size"] != "EWS"

    shown, _, reloaded, line, conflict = tab.reload_theirs(ctx, root_of(ctx))
    assert shown[0][2] == "ECU" and reloaded == theirs and conflict["visible"] is False

    state, line, conflict = tab.keep_mine(ctx, root_of(ctx), mine_rows, bible, loaded)
    saved = saved_board(ctx.project)
    assert saved["shots"][2]["size"] == "EWS" and saved["shots"][0]["size"] != "ECU"
    assert line.startswith("✓ Saved") and conflict["visible"] is False


def test_a_bible_edit_is_saved(ctx):
    _, bible, state, _, _ = parsed(ctx)
    row = next(r for r in bible if r[0] == "奶奶")
    row[1] = "grey-haired grandmother, stooped"
    _, line, _ = tab.on_bible_edited(ctx, root_of(ctx), bible, state)
    grandma = next(c for c in saved_board(ctx.project)["characters"] if c["name"] == "奶奶")
    assert grandma["description"] == "grey-haired grandmother, stooped" and line.startswith("✓ Saved")


def test_a_voice_edit_is_saved_through_the_same_save_model(ctx):
    from lantern_studio.studio import storyboard_voices

    _, _, state, _, _ = parsed(ctx)
    rows = storyboard_voices.board_voice_rows(state)
    row = next(r for r in rows if r[0] == "小雨")
    row[3] = 90
    new_state, status, line, conflict = storyboard_voices.on_voices_edited(ctx, root_of(ctx), state, rows)
    saved = next(c for c in saved_board(ctx.project)["characters"] if c["name"] == "小雨")
    assert saved["voice_pitch"] == 90 and status == line and line.startswith("✓ Saved")
    row[3] = 20                                    # from the state loaded before that save: another window's
    _, status, line, conflict = storyboard_voices.on_voices_edited(ctx, root_of(ctx), state, rows)
    assert "another window changed" in line and conflict["visible"] is True
    assert next(c for c in saved_board(ctx.project)["characters"] if c["name"] == "小雨")["voice_pitch"] == 90


@pytest.mark.parametrize("name, speakers, narrator", [("kongyiji.txt", ZH_SPEAKERS, "旁白"),
                                                      ("mad-tea-party.txt", EN_SPEAKERS, "NARRATOR")])
def test_prose_becomes_the_ordinary_shot_list_with_each_quotes_speaker(ctx, name, speakers, narrator):
    text = sample_path(name).read_text(encoding="utf-8")
    script_box, fmt, rows, bible, state, status, _ = tab.on_prose(ctx, root_of(ctx), text, tab.RULES_ONLY, *SPEEDS)
    assert script_box == text and fmt == "prose" and "**prose** script" in status
    saved = saved_board(ctx.project)
    assert [s["speaker"] for s in saved["shots"] if s["speaker"] not in ("", narrator)] == speakers
    assert {row[0] for row in bible} == set(speakers)
    # the chapter is now the project's script: Render panels does not parse it again
    assert tab.on_parse_first(ctx, root_of(ctx), state, text, "prose", *SPEEDS) is None
    with pytest.raises(UserInputError, match="Paste a chapter"):
        tab.on_prose(ctx, root_of(ctx), "  \n", tab.RULES_ONLY, *SPEEDS)


def test_refine_with_lists_the_models_folders_gguf_files_and_a_broken_one_is_refused(ctx):
    models = ctx.settings.models_dir
    (models / "qwen").mkdir(parents=True)
    tiny = models / "qwen" / "tiny.gguf"
    tiny.write_bytes(b"GGUF" + bytes(60))                     # the magic, then nothing a loader can use
    (models / "notes.gguf").write_text("not a model", encoding="utf-8")
    assert tab.prose_models(ctx) == [tab.RULES_ONLY, str(tiny)]
    assert tab.prose_model_choices(ctx, tab.prose_models(ctx)) == [(tab.RULES_ONLY, tab.RULES_ONLY),
                                                                   ("qwen/tiny.gguf", str(tiny))]
    text = sample_path("mad-tea-party.txt").read_text(encoding="utf-8")
    with pytest.raises(UserInputError, match="tiny.gguf"):
        tab.on_prose(ctx, root_of(ctx), text, str(tiny), *SPEEDS)
    assert not (ctx.project.root / "story" / "storyboard.json").exists()


def test_a_local_gguf_model_refines_the_prose_into_a_shot_list_that_keeps_every_line(ctx):
    from gguf_testkit import write_tiny_llama_gguf
    from test_prose_llm import CHAPTER, flat_text

    from lantern_studio.engines.story.prose import parse_prose

    model = write_tiny_llama_gguf(ctx.settings.models_dir / "tiny-llama" / "tiny-llama-f32.gguf",
                                  words=("小雨", "奶奶"))
    assert tab.prose_models(ctx)[1:] == [str(model)]
    *_, status, _ = tab.on_prose(ctx, root_of(ctx), CHAPTER, str(model), *SPEEDS, progress=None)
    assert "**prose** script" in status
    # a random model decides nothing sensible, but whatever it grouped, no line of the chapter is lost or moved
    shots = saved_board(ctx.project)["shots"]
    flat = re.sub(r"\s+", "", "".join(s["dialogue"] or s["action"] for s in shots))
    assert flat == flat_text(parse_prose(CHAPTER).elements)


def test_stop_ends_a_refinement_and_saves_nothing(ctx):
    from types import SimpleNamespace

    from gguf_testkit import write_tiny_llama_gguf

    model = write_tiny_llama_gguf(ctx.settings.models_dir / "tiny-llama" / "tiny-llama-f32.gguf")
    chapter = sample_path("mad-tea-party.txt").read_text(encoding="utf-8")
    window = SimpleNamespace(session_hash="window-stop")
    outcome: dict = {}

    def make_shots():
        try:
            outcome["result"] = tab.on_prose(ctx, root_of(ctx), chapter, str(model), *SPEEDS, progress=None,
                                             request=window)
        except Exception as error:  # noqa: BLE001 - the test reads what the handler raised
            outcome["error"] = error

    job = threading.Thread(target=make_shots)
    job.start()
    while not tab.PROSE_STOPS.is_running(window) and job.is_alive():
        threading.Event().wait(0.01)
    # another window's Stop does not reach this job; this window's does
    assert tab.PROSE_STOPS.stop(SimpleNamespace(session_hash="another-window")) is False
    assert tab.PROSE_STOPS.stop(window) is True
    job.join(timeout=300)
    assert isinstance(outcome.get("error"), UserInputError), outcome
    assert "Stopped" in str(outcome["error"])
    assert not (ctx.project.root / "story" / "storyboard.json").exists()
    assert not tab.PROSE_STOPS.is_running(window)


def test_render_panels_parses_an_unparsed_script_first(ctx):
    assert tab.on_parse_first(ctx, root_of(ctx), {}, SHORT, "auto", *SPEEDS)[2]["shots"]
    with pytest.raises(UserInputError, match="no shot list yet"):
        tab.on_parse_first(ctx, root_of(ctx), {}, "   ", "auto", *SPEEDS)


def test_panels_render_into_the_project_and_regenerating_previz_says_why_it_is_the_same(ctx):
    _, _, state, _, _ = parsed(ctx)
    items, status = tab.render_panels(ctx, root_of(ctx), state, PrevizRenderer(), "1:1 (1080x1080)")
    assert len(items) == 3 and status.startswith("Rendered 3 panels")
    with Image.open(items[2][0]) as image:
        assert image.size == (1080, 1080)
        before = np.asarray(image.convert("RGB"))
    assert tab.shot_from_caption(items[2][1]) == 3
    items, status = tab.regenerate_panel(ctx, root_of(ctx), state, 3, PrevizRenderer(), "1:1 (1080x1080)")
    with Image.open(items[2][0]) as image:
        assert np.array_equal(np.asarray(image.convert("RGB")), before)
    assert "comes out the same" in status
    with pytest.raises(UserInputError, match="no shot 9"):
        tab.regenerate_panel(ctx, root_of(ctx), state, 9, PrevizRenderer(), "1:1 (1080x1080)")


def test_a_stopped_render_keeps_what_finished(ctx):
    _, _, state, _, _ = parsed(ctx)
    stop = threading.Event()
    stop.set()
    items, status = tab.render_panels(ctx, root_of(ctx), state, PrevizRenderer(), "9:16 (1080x1920)", cancel=stop)
    assert status.startswith("Stopped:") and len(items) == len(list((ctx.project.root / "story" / "panels")
                                                                 .glob("shot_*.png")))


def test_pages_and_pdf(ctx):
    _, _, state, _, _ = parsed(ctx, sample_path("nianyefan.txt").read_text(encoding="utf-8"))
    pages, downloads, status = tab.render_pages(ctx, root_of(ctx), state, "2x2", "A4", False, tab.RENDERERS[0])
    pdf = next(p for p in downloads if p.endswith("pages.pdf"))
    with open(pdf, "rb") as handle:
        data = handle.read()
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) == len(pages) == math.ceil(len(state["shots"]) / 4)
    assert status.startswith(f"{len(pages)} pages")
    with pytest.raises(UserInputError, match="no shot list yet"):
        tab.render_pages(ctx, root_of(ctx), {}, "2x2", "A4", False, tab.RENDERERS[0])


def test_a_project_switch_shows_that_projects_storyboard(ctx, tmp_path):
    parsed(ctx)
    other = Project.open(tmp_path / "other")
    script, rows, bible, state, panels, pages, downloads, status, line, conflict = \
        tab.on_project_switched(ctx, str(other.root))
    assert (script, rows, bible, state, panels) == ("", [], [], {}, []) and conflict["visible"] is False
    assert tab.on_project_switched(ctx, root_of(ctx))[0] == SHORT


def test_the_batch_list_follows_the_windows_project(ctx, tmp_path):
    parsed(ctx)                                   # the startup project now has story/script.txt
    other = Project.open(tmp_path / "other")
    (other.root / "scripts").mkdir()
    (other.root / "scripts" / "ep2.txt").write_text(SHORT, encoding="utf-8")
    assert batch_panel.script_choices(ctx, root_of(ctx))["choices"] == ["story/script.txt"]
    update = batch_panel.script_choices(ctx, str(other.root), ["scripts/ep2.txt", "story/script.txt"])
    assert update["choices"] == ["scripts/ep2.txt"] and update["value"] == ["scripts/ep2.txt"]


def test_a_user_mistake_anywhere_in_the_app_is_one_log_line_and_a_quiet_toast():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    messages.log.addHandler(handler)

    def refuse(text):
        raise UserInputError(f"Seeds {text!r}: write whole numbers")

    def refuse_later(text):
        yield "working"
        raise gr.Error("Choose a take first")

    def crash(text):
        raise RuntimeError("a bug")

    try:
        with gr.Blocks() as demo:
            box = gr.Textbox()
            for fn in (refuse, refuse_later, crash):
                box.submit(fn, box, box)
        assert messages.quiet_refusals(demo) == 3 and messages.quiet_refusals(demo) == 0
        handlers = [f.fn for f in demo.fns.values()]
        with pytest.raises(gr.Error) as refused:
            handlers[0]("x, y")
        assert refused.value.print_exception is False and "whole numbers" in messages.error_text(refused.value)
        stream = handlers[1]("x")
        assert next(stream) == "working"
        with pytest.raises(gr.Error) as refused:
            next(stream)
        assert refused.value.print_exception is False
        with pytest.raises(RuntimeError):            # a crash keeps its traceback
            handlers[2]("x")
    finally:
        messages.log.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["refused: Seeds 'x, y': write whole numbers",
                                                 "refused: Choose a take first"]
