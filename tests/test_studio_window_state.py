"""The studio's pure handlers for per-window projects, refusals as messages and engine help: the open-project
registry (one object per folder, renames followed), ``keep_outputs`` (a refusal leaves outputs alone),
engine help whose commands copy intact (read back with a Markdown parser), and the take that Continue uses."""

from __future__ import annotations

import re

import gradio as gr
import pytest
from markdown_it import MarkdownIt

from lantern_studio.engines.music.musicgen_models import download_command
from lantern_studio.engines.project import Project, ProjectError
from lantern_studio.engines.settings import Settings
from lantern_studio.studio import engine_help, messages
from lantern_studio.studio.context import StudioContext
from lantern_studio.studio.tab_benchmarks import device_choices
from lantern_studio.studio.tab_music import engine_controls, heard_take


@pytest.fixture
def ctx(tmp_path):
    settings = Settings(home=tmp_path / "home", project_dir=tmp_path / "first", models_dir=tmp_path / "models")
    return StudioContext(settings=settings, project=Project.open(tmp_path / "first"))


# ---- one open project per folder, one window context per project ------------------------------------------

def test_windows_get_their_own_project_and_share_one_object_per_folder(ctx, tmp_path):
    Project.open(tmp_path / "second").close()
    first, second = ctx.window(str(ctx.project.root)), ctx.window(str(tmp_path / "second"))
    assert first.project is ctx.project and second.project.root == (tmp_path / "second").resolve()
    # a second window on the same folder gets the same object (one lock, one write lock), via any spelling
    assert ctx.window(str(tmp_path / "x" / ".." / "second")).project is second.project
    assert ctx.window(None).project is ctx.project            # no state yet: the startup project
    # the window context shares the tabs' published components but not the project
    assert second.shared is ctx.shared and ctx.project.root == (tmp_path / "first").resolve()


def test_a_folder_without_a_project_is_refused_not_created(ctx, tmp_path):
    with pytest.raises(ProjectError, match="not a Lantern Studio project"):
        ctx.project_at(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere" / "project.json").exists()


def test_a_window_holding_a_renamed_folder_still_gets_the_renamed_project(ctx, tmp_path):
    Project.open(tmp_path / "old").close()
    project = ctx.project_at(tmp_path / "old")
    project.rename("new", move_folder=True)
    ctx.remember(project)
    assert not (tmp_path / "old").exists()
    assert ctx.project_at(tmp_path / "old") is project and ctx.project_at(tmp_path / "new") is project


# ---- refusals become messages ------------------------------------------------------------------------------

def _warnings(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(messages.gr, "Warning", lambda message, *a, **k: seen.append(message))
    return seen


def test_a_refused_plain_handler_leaves_every_output_alone_and_says_why(monkeypatch):
    seen = _warnings(monkeypatch)

    @messages.keep_outputs(3, status_index=0)
    def handler(value):
        if value < 0:
            raise gr.Error("Type a number of 0 or more")
        return "ok", [value], value

    assert handler(2) == ("ok", [2], 2)
    status, table, picks = handler(-1)
    assert seen == ["Type a number of 0 or more"]
    assert "Type a number of 0 or more" in status
    assert table == gr.update() and picks == gr.update()
    # a one-output handler gets one update back, not a tuple
    assert messages.keep_outputs(1)(lambda: (_ for _ in ()).throw(gr.Error("no")))() == gr.update()


def test_a_refused_generator_keeps_the_updates_it_made_and_ends_with_the_message(monkeypatch):
    seen = _warnings(monkeypatch)

    @messages.keep_outputs(2, status_index=0)
    def job(takes, request: gr.Request, progress=gr.Progress()):
        yield "Saved 1", ["take 1"]
        raise gr.Error(f"musicgen could not make take {takes}")

    updates = list(job(2, None))
    assert updates[0] == ("Saved 1", ["take 1"])
    assert "could not make take 2" in updates[1][0] and updates[1][1] == gr.update()
    assert seen == ["musicgen could not make take 2"]
    # Gradio still sees the handler's own parameters (it injects the request and progress by them)
    import inspect
    assert list(inspect.signature(job).parameters) == ["takes", "request", "progress"]
    assert inspect.isgeneratorfunction(job)


# ---- engine help ---------------------------------------------------------------------------------------------

MISSING = (f"MusicGen model 'facebook/musicgen-small' was not found in /home/u/LanternStudio/models, "
           f"/home/u/.cache/huggingface/hub. With internet, run: {download_command('facebook/musicgen-small')} "
           "(or set LANTERN_ALLOW_DOWNLOADS=1 and generate again). A fine-tune goes in the models folder as a "
           "sub-folder with state_dict.bin and compression_state_dict.bin. The built-in composer works without any "
           "model.")


def test_the_download_command_survives_markdown_intact_in_a_code_block():
    html = MarkdownIt().render(engine_help.details_markdown(MISSING))
    code = re.findall(r"<code[^>]*>(.*?)</code>", html, flags=re.S)
    unescape = lambda text: text.replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&").strip()
    assert [unescape(c) for c in code] == [download_command("facebook/musicgen-small")]
    assert "['*.bin', '*.json']" in unescape(code[0])
    # the prose around it keeps its underscores and asterisks as text, not emphasis
    assert "<em>" not in html and "LANTERN_ALLOW_DOWNLOADS=1" in html and "state_dict.bin" in html


def test_the_short_line_is_one_sentence_without_the_command():
    line = engine_help.short_line("musicgen", False, MISSING)
    assert line.startswith("**musicgen**: not ready.") and "\n" not in line
    assert "snapshot_download" not in line and len(line) < 160
    assert engine_help.commands_in(MISSING) == [download_command("facebook/musicgen-small")]
    ready = engine_help.short_line("musicgen", True, "MusicGen ready on CPU: tiny-musicgen (mono, 32 kHz, "
                                                     "text, 1.2 MB on disk, found in the models folder)")
    assert "tiny-musicgen" in ready and "1.2 MB" in ready


def test_musicgen_actions_are_enabled_only_with_a_model_to_use():
    model, generate, melody = engine_controls(False, [], "musicgen")
    assert generate["interactive"] is False and melody["interactive"] is False and model["choices"] == []
    model, generate, melody = engine_controls(True, ["tiny"], "musicgen")
    assert generate["interactive"] is True and model["value"] == "tiny"
    assert engine_controls(True, [], "musicgen")[1]["interactive"] is False
    # the composer needs no model, and melody conditioning is not its action
    _, generate, melody = engine_controls(True, [], "composer")
    assert generate["interactive"] is True and melody["interactive"] is False


def test_continue_from_the_loop_uses_the_take_heard_not_the_selection():
    assert heard_take(" take-x ") == "take-x"
    with pytest.raises(gr.Error, match="Compare takes"):
        heard_take("")


def test_cuda_is_offered_only_where_a_gpu_is():
    assert device_choices(False) == ["auto", "cpu"]
    assert device_choices(True) == ["auto", "cpu", "cuda"]


def test_take_actions_wait_for_a_selection_and_extend_is_for_musicgen_takes():
    from lantern_studio.studio.tab_music import EXTEND_NOT_HERE, take_actions

    def enabled(updates):
        return [u["interactive"] for u in updates]

    # Rename, Save notes, Restore, Vary, Continue, Extend, Delete
    assert enabled(take_actions(None)) == [False] * 7
    assert enabled(take_actions("musicgen")) == [True] * 7
    composer = take_actions("composer")
    assert enabled(composer) == [True] * 5 + [False, True] and composer[5]["value"] == EXTEND_NOT_HERE
    # a damaged take can only go to the trash
    assert enabled(take_actions("?", readable=False)) == [False] * 6 + [True]


def test_a_panel_caption_names_its_shot():
    from lantern_studio.studio.tab_storyboard import shot_from_caption

    assert shot_from_caption("12 · MCU · 2.5 s") == 12
    assert shot_from_caption("") is None and shot_from_caption(None) is None
    assert shot_from_caption("page 3") is None


def test_every_shot_list_column_has_a_title_and_the_widths_fill_the_table():
    from lantern_studio.engines.story.shots import SHOT_HEADERS
    from lantern_studio.studio.tab_storyboard import shot_titles, shot_widths

    titles = shot_titles(SHOT_HEADERS)
    assert len(titles) == len(SHOT_HEADERS) == len(set(titles)) and "_" not in "".join(titles)
    assert sum(float(w.rstrip("%")) for w in shot_widths(SHOT_HEADERS)) == 100
    assert shot_widths(["#", "scene", "new column"])[-1] == f"{100 - 3 - 9:g}%"


def test_an_autosave_notices_that_another_window_saved_the_shot_list(ctx):
    from lantern_studio.engines.story import store
    from lantern_studio.engines.story.script import parse_script
    from lantern_testkit import SAMPLES_DIR
    from lantern_studio.engines.story.shots import plan_shots
    from lantern_studio.studio.tab_storyboard import changed_elsewhere

    board = plan_shots(parse_script((SAMPLES_DIR / "nianyefan.txt").read_text(encoding="utf-8")))
    assert not changed_elsewhere(ctx.project, board.to_dict())          # nothing saved yet
    store.save_storyboard(ctx.project, board)
    # this window's copy is what it saved, read back through the store as a fresh window reads it
    mine = board.to_dict()
    assert not changed_elsewhere(ctx.project, mine)
    assert not changed_elsewhere(ctx.project, store.load_storyboard(ctx.project).to_dict())
    # another window edits a shot and saves: this window's copy is now stale
    theirs = store.load_storyboard(ctx.project)
    theirs.shots[0].size = "ECU" if theirs.shots[0].size != "ECU" else "WS"
    store.save_storyboard(ctx.project, theirs)
    assert changed_elsewhere(ctx.project, mine)


def test_a_quiet_check_refuses_with_the_same_message_and_no_traceback():
    @messages.quiet
    def check(take_id):
        if not take_id:
            raise gr.Error("Select a take in the list first")
        return take_id

    assert check("t1") == "t1"
    with pytest.raises(gr.Error) as refused:
        check(None)
    assert messages.error_text(refused.value) == "Select a take in the list first"
    assert refused.value.print_exception is False


def test_the_system_tab_says_how_to_get_missing_models(tmp_path):
    from lantern_studio.engines.doctor import collect

    settings = Settings(home=tmp_path, project_dir=tmp_path / "p", models_dir=tmp_path / "models")
    findings = {f.topic: f for f in collect(settings)}
    missing = findings[f"models in {tmp_path / 'models'}"]
    assert not missing.ok and "state_dict.bin" in missing.detail and "does not exist" not in missing.detail
    (tmp_path / "models").mkdir()                       # an empty folder says the same
    assert "state_dict.bin" in {f.topic: f for f in collect(settings)}[f"models in {tmp_path / 'models'}"].detail
