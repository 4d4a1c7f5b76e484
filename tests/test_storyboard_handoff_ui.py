"""The Export timeline row under the animatic: it builds beside the animatic's controls, and its handler
writes the timeline into the project's renders and hands back a zip that holds every requested format."""

from __future__ import annotations

import json
import zipfile

import av
import gradio as gr
import opentimelineio as otio
import pytest

from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.studio.storyboard_handoff import build_handoff_section, export_for_editors
from lantern_studio.studio.tab_animatic import MUSIC_NONE, build_animatic_section, export_animatic
from test_story_handoff import in_draft


def storyboard_dict() -> dict:
    return Storyboard(title="", language="zh", shots=[
        Shot(number=1, move="push_in", duration_s=1.0, speaker="小雨", dialogue="奶奶，是我！"),
        Shot(number=2, move="static", duration_s=1.5, transition="dissolve", action="奶奶转过身")]).to_dict()


def test_row_builds_under_the_animatic_controls(ctx):
    with gr.Blocks() as demo:
        state = gr.State(storyboard_dict())
        build_handoff_section(ctx, state, build_animatic_section(ctx, state))
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"handoff-formats", "handoff-export", "handoff-download", "animatic-render"} <= ids


def test_export_writes_into_the_project_and_zips_the_animatics_timeline(ctx, tmp_path):
    calls = []
    archive, status = export_for_editors(ctx, storyboard_dict(), ["otio", "jianying"], "1:1", 25, -12, MUSIC_NONE,
                                         None, None, None, progress=lambda f, desc="": calls.append(f))
    video, _, _ = export_animatic(ctx, storyboard_dict(), "1:1", 25, -12, MUSIC_NONE, None, None, False, True)
    with av.open(video) as container:
        mp4_frames = sum(1 for _ in container.decode(video=0))
    assert archive.startswith(str(ctx.project.renders_dir)) and "Timeline exported" in status and calls[-1] == 1.0
    with zipfile.ZipFile(archive) as bundle:
        names = bundle.namelist()
        otio_name, = [n for n in names if n.endswith(".otio")]
        timeline = otio.adapters.read_from_string(bundle.read(otio_name).decode("utf-8"), adapter_name="otio_json")
        draft, = [n for n in names if n.endswith("draft_content.json")]
        content = json.loads(bundle.read(draft))
        bundle.extractall(tmp_path / "unzipped")          # the download, unpacked on another machine
    frames = [int(c.source_range.duration.to_frames()) for c in timeline.video_tracks()[0].find_clips()]
    assert len(frames) == 3 and frames[1:] == [round(1.5 * 25), 50]     # the silent shot and the end card
    assert frames[0] >= 25 and sum(frames) == mp4_frames    # the voiced shot lasts its line, as in the MP4
    assert content["canvas_config"]["width"] == content["canvas_config"]["height"] == 1080
    # every material of the unpacked draft is inside it: the token before the first "/" stands for the
    # draft's folder, wherever it now is
    unpacked = (tmp_path / "unzipped" / draft).parent
    materials = [*content["materials"]["videos"], *content["materials"]["audios"]]
    assert len(materials) == 3 + 1                  # two shots and the end card, one dialogue line
    for material in materials:
        assert in_draft(unpacked, material["path"]).is_file(), material["path"]


def test_nothing_to_export_is_a_clear_message(ctx):
    with pytest.raises(gr.Error, match="no shot list"):
        export_for_editors(ctx, {"shots": []}, ["otio"], "9:16", 24, -12, MUSIC_NONE, None, None, None)
    with pytest.raises(gr.Error, match="at least one format"):
        export_for_editors(ctx, storyboard_dict(), [], "9:16", 24, -12, MUSIC_NONE, None, None, None)
