"""Hand-off to editors: every export is read back by the library (or parser) that reads it, and checked
against the shot list, the animatic's MP4 and its soundtrack."""

from __future__ import annotations

import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from lantern_studio.engines.story.animatic import render_animatic
from lantern_studio.engines.story.handoff import HandoffUnavailable, export_timeline
from lantern_studio.engines.story.handoff import export as handoff_export
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.soundtrack import build_soundtrack
from lantern_studio.engines.story.timeline import PAN_ZOOM, PUSH_ZOOM, TRANSITION_S, build_timeline, cover_scale

FPS = 24
RATE = 48_000
DEPTH_DB = -12.0
LINE_2 = "那你给自己发年终奖没有？"
LINE_3 = "奶奶！今年我给自己发了一个大红包。"


def board(*, shot_2_s: float = 3.02, line_2: str = LINE_2) -> Storyboard:
    return Storyboard(title="年夜饭", language="zh", shots=[
        Shot(number=1, duration_s=2.02, action="灯笼一串串亮起来", move="push_in"),
        Shot(number=2, duration_s=shot_2_s, speaker="奶奶", dialogue=line_2, move="pan_left", transition="dissolve"),
        Shot(number=3, duration_s=2.5, speaker="小雨", dialogue=LINE_3, move="shake", transition="wipe"),
    ])


def music() -> tuple[np.ndarray, int]:
    t = np.arange(RATE * 4) / RATE
    tune = 0.2 * np.sin(2 * np.pi * 330 * t) + 0.1 * np.sin(2 * np.pi * 495 * t)
    return tune.astype(np.float32), RATE


def expected_frames(sb: Storyboard) -> list[int]:
    """Title card, each shot, end card: the shot list's durations in whole frames, counted independently."""
    return [round(2.0 * FPS)] + [round(shot.duration_s * FPS) for shot in sb.shots] + [round(2.0 * FPS)]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("handoff")
    recorded = root / "shot-3.wav"
    sf.write(recorded, (0.3 * np.sin(2 * np.pi * 1000 * np.arange(int(1.2 * RATE)) / RATE)).astype(np.float32), RATE)
    sb = board()
    out = root / "out"
    result = export_timeline(sb, out_dir=out, music=music(), dialogue_audio={3: recorded}, fps=FPS,
                             ducking_db=DEPTH_DB)
    video = render_animatic(sb, out_path=out / "animatic.mp4", music=music(), dialogue_audio={3: recorded}, fps=FPS,
                            preview=True, ducking_db=DEPTH_DB)
    with av.open(str(video.video_path)) as container:
        mp4_frames = sum(1 for _ in container.decode(video=0))
    return {"sb": sb, "out": out, "result": result, "mp4_frames": mp4_frames, "recorded": recorded}


def clip_frames(clips) -> list[int]:
    return [int(round(clip.source_range.duration.to_frames())) for clip in clips]


def clips_by_name(track) -> dict:
    """A track's clips by their name up to the " ·" that starts the shot's text ("Shot 2", "title card")."""
    return {c.name.split(" ·")[0]: c for c in track.find_clips()}


def cover_of(clip) -> float:
    """The scale at which the clip's panel covers the 1080x1920 frame."""
    return cover_scale(tuple(clip.metadata["lantern"]["panel_size"]), (1080, 1920))


def check_otio_timeline(timeline, folder: Path, made) -> None:
    sb = made["sb"]
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.name.split(" ·")[0] for c in clips] == ["title card", "Shot 1", "Shot 2", "Shot 3", "end card"]
    assert clip_frames(clips) == expected_frames(sb)
    assert abs(sum(clip_frames(clips)) - made["mp4_frames"]) <= 1
    for clip in timeline.find_clips():
        url = clip.media_reference.target_url
        assert not Path(url).is_absolute() and (folder / url).is_file(), url
    markers = {m.name for c in clips for m in c.markers}
    assert LINE_2 in markers                    # the CJK text, whole
    assert "".join(sorted(markers)).count("大红包") == 1


def test_otio_file_reads_back_with_the_shot_lists_timing_media_and_moves(made):
    folder = made["result"].folder
    timeline = otio.adapters.read_from_file(str(made["result"].files["otio"]))
    check_otio_timeline(timeline, folder, made)
    track = timeline.video_tracks()[0]
    transitions = [item for item in track if isinstance(item, otio.schema.Transition)]
    assert [(t.name, t.in_offset.value, t.out_offset.value) for t in transitions] == [
        ("dissolve", 0, round(TRANSITION_S["dissolve"] * FPS)), ("wipe", 0, round(TRANSITION_S["wipe"] * FPS)),
        ("dip", 0, round(TRANSITION_S["dip"] * FPS))]
    clips = clips_by_name(track)
    push = clips["Shot 1"].metadata["lantern"]["camera"]["keyframes"]
    assert push[0]["scale"] == pytest.approx(1.0, abs=1e-6) and push[-1]["scale"] == pytest.approx(PUSH_ZOOM, abs=1e-6)
    assert push[-1]["frame"] == round(2.02 * FPS) - 1
    # a pan to the left: the panel (zoomed to PAN_ZOOM) slides right by its whole slack
    pan = clips["Shot 2"].metadata["lantern"]["camera"]["keyframes"]
    pw, _ = clips["Shot 2"].metadata["lantern"]["panel_size"]
    slack_x = (pw * cover_of(clips["Shot 2"]) * PAN_ZOOM - 1080) / 1080
    assert pan[0]["x"] == pytest.approx(-slack_x / 2, abs=1e-6) and pan[-1]["x"] == pytest.approx(slack_x / 2, abs=1e-6)
    assert len(clips["Shot 3"].metadata["lantern"]["camera"]["keyframes"]) > 10        # the shake
    assert len(clips["title card"].metadata["lantern"]["camera"]["keyframes"]) == 1    # static
    dialogue = timeline.audio_tracks()[0]
    lines = list(dialogue.find_clips())
    assert [c.metadata["lantern"]["shot"] for c in lines] == [2, 3]
    assert lines[1].metadata["lantern"]["recorded"] is True
    # the recorded line's WAV holds the recording where the animatic put it: 0.15 s into shot 3
    audio, rate = sf.read(folder / lines[1].media_reference.target_url)
    start_s = dialogue.range_of_child(lines[1]).start_time.to_seconds()
    onset_s = start_s + np.argmax(np.abs(audio[:, 0]) > 0.01) / rate
    shot_3_start_s = sum(expected_frames(made["sb"])[:3]) / FPS
    assert onset_s == pytest.approx(shot_3_start_s + 0.15, abs=1.5 / rate)


def test_fcp_xml_reads_back_through_otio_and_names_relative_files(made):
    path = made["result"].files["fcpxml"]
    check_otio_timeline(otio.adapters.read_from_file(str(path)), path.parent, made)
    root = ET.parse(path).getroot()                   # a second reader: the XML itself
    urls = {e.text for e in root.iter("pathurl")}
    assert urls and all((path.parent / url).is_file() for url in urls)
    assert {e.text for e in root.iter("alignment")} == {"start"}
    assert {e.text for e in root.iter("effectid")} >= {"Cross Dissolve", "Edge Wipe", "Dip to Color Dissolve"}


def motion_from_xml(path: Path) -> dict[str, dict[str, list[tuple[int, object]]]]:
    """Clip name -> Basic Motion parameter -> [(when, value)], read with ElementTree from the XML itself
    (a parameter without keyframes gives one entry at frame 0)."""
    def value(element):
        if element.find("horiz") is not None:
            return (float(element.find("horiz").text), float(element.find("vert").text))
        return float(element.text)

    clips = {}
    for item in ET.parse(path).getroot().iter("clipitem"):
        effect = item.find("filter/effect")
        if effect is None or effect.findtext("effectid") != "basic":
            continue
        params = {}
        for parameter in effect.findall("parameter"):
            keys = [(int(k.findtext("when")), value(k.find("value"))) for k in parameter.findall("keyframe")]
            params[parameter.findtext("parameterid")] = keys or [(0, value(parameter.find("value")))]
        clips[item.findtext("name").split(" ·")[0]] = params
    return clips


def test_fcp_xml_carries_the_camera_moves_as_basic_motion_keyframes(made):
    path = made["result"].files["fcpxml"]
    motion = motion_from_xml(path)
    assert list(motion) == ["title card", "Shot 1", "Shot 2", "Shot 3", "end card"]
    frames = dict(zip(motion, expected_frames(made["sb"])))
    clips = clips_by_name(otio.adapters.read_from_file(str(made["result"].files["otio"])).video_tracks()[0])
    for name, clip in clips.items():
        for when, value in motion[name]["scale"]:
            assert 0 <= when < frames[name]
            assert value / (100 * cover_of(clip)) > 0.99        # never smaller than the frame
    # the shot list's moves, from the shot list's own constants
    title, push, pan, shake = (motion[n] for n in ("title card", "Shot 1", "Shot 2", "Shot 3"))
    assert all(len(title[p]) == 1 for p in ("scale", "rotation", "center"))       # static: no keyframes
    assert push["scale"][0] == (0, pytest.approx(100 * cover_of(clips["Shot 1"]), abs=1e-5))
    assert push["scale"][-1] == (frames["Shot 1"] - 1,
                                 pytest.approx(100 * cover_of(clips["Shot 1"]) * PUSH_ZOOM, abs=1e-5))
    assert all(b[1] >= a[1] for a, b in zip(push["scale"], push["scale"][1:]))   # pushing in all the way
    assert all(abs(h) < 1e-5 and abs(v) < 1e-5 for _, (h, v) in push["center"])  # on the centre
    pw, ph = clips["Shot 2"].metadata["lantern"]["panel_size"]
    slack_x = (pw * cover_of(clips["Shot 2"]) * PAN_ZOOM - 1080) / 1080
    assert pan["center"][0] == (0, (pytest.approx(-slack_x / 2, abs=1e-5), pytest.approx(0, abs=1e-5)))
    assert pan["center"][-1][0] == frames["Shot 2"] - 1
    assert pan["center"][-1][1][0] == pytest.approx(slack_x / 2, abs=1e-5)
    assert pan["scale"] == [(0, pytest.approx(100 * cover_of(clips["Shot 2"]) * PAN_ZOOM, abs=1e-5))]
    assert len(shake["rotation"]) > 10 and max(abs(v) for _, v in shake["rotation"]) > 0.1
    # OTIO reads the same keyframes back as the clip's Basic Motion effect
    read = clips_by_name(otio.adapters.read_from_file(str(path)).video_tracks()[0])
    effect, = read["Shot 2"].effects
    assert effect.name == "Basic Motion"
    center, = [p for p in effect.metadata["fcp_xml"]["parameter"] if p["parameterid"] == "center"]
    assert [(int(k["when"]), float(k["value"]["horiz"])) for k in center["keyframe"]] == \
        [(w, pytest.approx(h, abs=1e-9)) for w, (h, _) in pan["center"]]
    assert not read["title card"].effects[0].metadata["fcp_xml"]["parameter"][0].get("keyframe")


def test_fcp_xml_fades_and_ducks_the_music_with_audio_level_keyframes(made):
    """The music clip's Audio Levels keyframes (linear gain) against the fades and ducking the OTIO file
    describes, frame by frame, and fully ducked under every line of dialogue."""
    path = made["result"].files["fcpxml"]
    music_item, = [item for item in ET.parse(path).getroot().iter("clipitem") if item.findtext("name") == "Music"]
    effect = music_item.find("filter/effect")
    assert effect.findtext("effectid") == "audiolevels"
    keys = [(int(k.findtext("when")), float(k.findtext("value")))
            for k in effect.find("parameter").findall("keyframe")]
    total = sum(expected_frames(made["sb"]))
    frames = np.arange(total)
    level = np.interp(frames, [k[0] for k in keys], [k[1] for k in keys])
    # what the OTIO file says: linear fades, ducking linear in dB between its keys
    source = otio.adapters.read_from_file(str(made["result"].files["otio"]))
    music = next(iter(source.audio_tracks()[1].find_clips())).metadata["lantern"]
    t = frames / FPS
    fade = np.minimum.reduce([np.ones(total), t / music["fade_in_s"], (total / FPS - t) / music["fade_out_s"]])
    ducking = music["volume_keyframes"]
    duck_db = np.interp(t, [k["time_s"] for k in ducking], [k["gain_db"] for k in ducking])
    expected = fade * 10 ** (duck_db / 20)
    assert level[0] == 0 and level[round(music["fade_in_s"] * FPS)] == pytest.approx(1.0)
    assert np.max(np.abs(level - expected)) < 0.01
    depth = 10 ** (DEPTH_DB / 20)
    read_back = otio.adapters.read_from_file(str(path))
    dialogue = read_back.audio_tracks()[0]
    assert len(list(dialogue.find_clips())) == 2
    for clip in source.audio_tracks()[0].find_clips():
        info = clip.metadata["lantern"]
        under = (t >= info["sound_start_s"] + 0.1) & (t <= info["sound_end_s"] - 1 / FPS)
        assert under.sum() > FPS / 2 and np.allclose(level[under], depth, atol=1e-6)
    read_music = next(iter(read_back.audio_tracks()[1].find_clips()))
    assert [e.name for e in read_music.effects] == ["Audio Levels"]


EDL_EVENT = re.compile(r"^(\d{3})\s+(\S+)\s+V\s+(C|D|W\d{3})(?:\s+(\d{3}))?\s+"
                       r"(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d)$")


def tc_frames(tc: str) -> int:
    h, m, s, f = (int(part) for part in tc.split(":"))
    return ((h * 60 + m) * 60 + s) * FPS + f


def test_edl_reads_back_through_otio_video_only(made):
    path = made["result"].files["edl"]
    timeline = otio.adapters.read_from_file(str(path), rate=FPS)
    assert len(timeline.tracks) == 1 and not timeline.audio_tracks()
    check_otio_timeline(timeline, path.parent, made)
    locators = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("* LOC:")]
    assert any(line.endswith(LINE_2) for line in locators)


def test_edl_writes_each_transition_as_its_nearest_cmx_code(made):
    """Line by line: one event per clip, entered by a cut (C) or, for the dissolve, the wipe and the dip,
    a dissolve (D) of the animatic's length (the adapter writes no W### wipes), starting on the cut."""
    path = made["result"].files["edl"]
    events: dict[int, list[re.Match]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EDL_EVENT.match(line)
        assert match or not line[:3].isdigit(), line
        if match:
            events.setdefault(int(match.group(1)), []).append(match)
    entered_by = ["cut"] + [shot.transition for shot in made["sb"].shots] + ["dip"]    # title, shots, end card
    nearest = {"cut": ("C", 0), "dissolve": ("D", 0.5), "wipe": ("D", 0.5), "dip": ("D", 0.6)}
    frames = expected_frames(made["sb"])
    assert sorted(events) == list(range(1, len(frames) + 1))
    for number, kind, record_in in zip(sorted(events), entered_by, np.cumsum([0] + frames[:-1])):
        last = events[number][-1]                  # the incoming clip's line: how this event is entered
        code, seconds = nearest[kind]
        assert last.group(3) == code, (number, kind)
        assert int(last.group(4) or 0) == round(seconds * FPS)
        assert tc_frames(last.group(7)) == record_in       # it starts on the cut
    assert tc_frames(events[len(frames)][-1].group(8)) == sum(frames)
    # OTIO reads the same transitions back
    timeline = otio.adapters.read_from_file(str(path), rate=FPS)
    transitions = [t for t in timeline.video_tracks()[0] if isinstance(t, otio.schema.Transition)]
    assert [(t.metadata["cmx_3600"]["transition"], t.in_offset.value, t.out_offset.value) for t in transitions] == \
        [("D", 0, round(TRANSITION_S[kind] * FPS)) for kind in entered_by if kind != "cut"]


def keyframes(segment: dict, prop: str) -> list[tuple[int, float]]:
    for kf_list in segment["common_keyframes"]:
        if kf_list["property_type"] == prop:
            return [(k["time_offset"], k["values"][0]) for k in kf_list["keyframe_list"]]
    return []


def volume_at(keys: list[tuple[int, float]], t_us: float) -> float:
    return float(np.interp(t_us, [k[0] for k in keys], [k[1] for k in keys]))


PLACEHOLDER = re.compile(r"^##_draftpath_placeholder_[0-9A-F]{8}(?:-[0-9A-F]{4}){3}-[0-9A-F]{12}_##/(.+)$")


def in_draft(draft: Path, path: str) -> Path:
    """A material path read as 剪映 reads it: the placeholder token stands for the draft's own folder."""
    match = PLACEHOLDER.match(path)
    assert match, f"not relative to the draft: {path}"
    assert ".." not in match.group(1).split("/")
    return draft.joinpath(*match.group(1).split("/"))


def json_strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from json_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from json_strings(value)
    elif isinstance(node, str):
        yield node


def test_the_jianying_draft_moved_to_another_folder_finds_all_its_media(made, tmp_path):
    """The draft as another machine gets it: copied whole into some other drafts folder. Every material
    resolves there, to a file that is what the draft says it is, and nothing names the export folder."""
    import pyJianYingDraft
    from PIL import Image

    draft = made["result"].files["jianying"]
    moved = tmp_path / "其他电脑" / "JianyingPro Drafts" / draft.name
    shutil.copytree(draft, moved)
    content = json.loads((moved / "draft_content.json").read_text(encoding="utf-8"))
    assert json.loads((moved / "draft_info.json").read_text(encoding="utf-8")) == content
    meta = json.loads((moved / "draft_meta_info.json").read_text(encoding="utf-8"))
    for document in (content, meta):
        leaked = [text for text in json_strings(document) if str(made["out"]) in text or str(draft) in text]
        assert leaked == []

    used = {seg["material_id"] for track in content["tracks"] for seg in track["segments"]}
    videos, audios = content["materials"]["videos"], content["materials"]["audios"]
    assert len(videos) == len(expected_frames(made["sb"])) and len(audios) == 3       # 2 lines and the music
    files = set()
    for material in videos:
        path = in_draft(moved, material["path"])
        with Image.open(path) as image:
            assert (image.width, image.height) == (material["width"], material["height"])
        assert material["type"] == "photo" and material["id"] in used
        files.add(path.name)
    for material in audios:
        path = in_draft(moved, material["path"])
        info = sf.info(str(path))
        assert material["duration"] == pytest.approx(info.frames / info.samplerate * 1e6, abs=1000)
        assert material["id"] in used
        files.add(path.name)
    assert files == {p.name for p in (moved / "materials").iterdir()}
    # the media pool lists the same files, relative to the draft; 剪映 fills in where the draft is
    pool, = [group["value"] for group in meta["draft_materials"] if group["type"] == 0]
    assert {entry["file_Path"] for entry in pool} == {f"./materials/{name}" for name in files}
    assert all((moved / entry["file_Path"]).is_file() for entry in pool)
    assert meta["draft_fold_path"] == meta["draft_root_path"] == ""
    assert meta["draft_name"] == moved.name
    assert meta["tm_duration"] == content["duration"]
    # pyJianYingDraft opens the moved draft and sees the same materials
    loaded = pyJianYingDraft.DraftFolder(str(moved.parent)).load_template(moved.name)
    assert [m["path"] for m in loaded.imported_materials["videos"]] == [m["path"] for m in videos]
    assert all(in_draft(moved, m["path"]).is_file() for m in loaded.imported_materials["audios"])


def test_jianying_draft_has_timed_tracks_keyframes_subtitles_and_its_own_media(made):
    import pyJianYingDraft

    draft = made["result"].files["jianying"]
    content = json.loads((draft / "draft_content.json").read_text(encoding="utf-8"))
    assert content["fps"] == FPS and content["canvas_config"]["width"] == 1080
    tracks = {t["name"]: t for t in content["tracks"]}
    assert [tracks[n]["type"] for n in ("panels", "subtitles", "dialogue", "music")] == ["video", "text", "audio", "audio"]
    panels = sorted(tracks["panels"]["segments"], key=lambda s: s["target_timerange"]["start"])
    durations_us = [s["target_timerange"]["duration"] for s in panels]
    assert [round(d * FPS / 1e6) for d in durations_us] == expected_frames(made["sb"])
    for before, after in zip(panels, panels[1:]):            # laid end to end, no gap, no overlap
        assert before["target_timerange"]["start"] + before["target_timerange"]["duration"] == after["target_timerange"]["start"]
    assert abs(content["duration"] * FPS / 1e6 - made["mp4_frames"]) <= 1
    # the moved shots carry their camera as keyframes, the cards none
    assert keyframes(panels[0], "KFTypeScaleX") == []
    push = keyframes(panels[1], "KFTypeScaleX")
    assert push[-1][1] / push[0][1] == pytest.approx(PUSH_ZOOM, rel=1e-6)
    pan = keyframes(panels[2], "KFTypePositionX")
    assert pan[0][1] < 0 < pan[-1][1] and pan[0][1] == pytest.approx(-pan[-1][1])
    assert keyframes(panels[3], "KFTypeRotation")
    videos = {m["id"]: m for m in content["materials"]["videos"]}
    audios = {m["id"]: m for m in content["materials"]["audios"]}
    for material in (*videos.values(), *audios.values()):
        path = in_draft(draft, material["path"])
        assert path.is_file() and path.parent == draft / "materials"
    # subtitles in a CJK font, text intact
    texts = [json.loads(m["content"]) for m in content["materials"]["texts"]]
    assert [t["text"].replace("\n", "") for t in texts] == [LINE_2, LINE_3]
    cjk_font = pyJianYingDraft.FontType.SourceHanSansCN_Medium.value.resource_id
    assert {style["font"]["id"] for t in texts for style in t["styles"]} == {cjk_font}
    # ducking: the music is at the set depth in the middle of every line and open before the first
    music_segment, = tracks["music"]["segments"]
    volume = keyframes(music_segment, "KFTypeVolume")
    depth = 10 ** (DEPTH_DB / 20)
    lines = tracks["dialogue"]["segments"]
    assert len(lines) == 2
    for line in lines:
        middle = line["target_timerange"]["start"] + line["target_timerange"]["duration"] / 2
        assert volume_at(volume, middle) == pytest.approx(depth, rel=1e-6)
    assert volume_at(volume, lines[0]["target_timerange"]["start"] - 100_000) == pytest.approx(1.0)
    # and pyJianYingDraft itself opens the draft
    loaded = pyJianYingDraft.DraftFolder(str(draft.parent)).load_template(draft.name)
    assert loaded.duration == content["duration"]


def loudness(audio: np.ndarray, a_s: float, b_s: float) -> float:
    import pyloudnorm

    return pyloudnorm.Meter(RATE).integrated_loudness(audio[int(a_s * RATE):int(b_s * RATE)].astype(np.float64))


def test_the_exported_ducking_matches_the_animatics_mix(made):
    """Where the keyframes say the music dips, the animatic's own soundtrack dips by as much."""
    timeline = otio.adapters.read_from_file(str(made["result"].files["otio"]))
    music_clip = next(iter(timeline.audio_tracks()[1].find_clips()))
    keys = music_clip.metadata["lantern"]["volume_keyframes"]
    sb = made["sb"]
    laid = build_timeline(sb, width=360, height=640, fps=FPS)
    track = build_soundtrack(laid, music=music(), ducking_db=DEPTH_DB, dialogue_audio={3: made["recorded"]},
                             language="zh")
    assert len(track.dialogue_spans_s) == 2

    def gain(t_s):
        return float(np.interp(t_s, [k["time_s"] for k in keys], [k["gain_db"] for k in keys]))

    open_lufs = loudness(track.music, 1.2, 2.0)                  # after the fade-in, before any line
    assert gain(1.2) == gain(2.0) == 0.0
    for start_s, end_s in track.dialogue_spans_s:
        a, b = start_s + 0.3, end_s - 0.1
        assert gain(a) == gain(b) == DEPTH_DB
        assert loudness(track.music, a, b) - open_lufs == pytest.approx(DEPTH_DB, abs=1.0)


def test_editing_the_shot_list_and_exporting_again_replaces_every_format(made, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "animatic.mp4").write_bytes(b"not touched")
    export_timeline(board(), out_dir=out, fps=FPS, formats="otio,jianying")
    edited = board(shot_2_s=4.5, line_2="那你给自己发了多少年终奖？")
    result = export_timeline(edited, out_dir=out, fps=FPS, formats="jianying,otio")
    timeline = otio.adapters.read_from_file(str(result.files["otio"]))
    clips = list(timeline.video_tracks()[0].find_clips())
    assert clip_frames(clips)[2] == round(4.5 * FPS)
    assert "那你给自己发了多少年终奖？" in {m.name for c in clips for m in c.markers}
    content = json.loads((result.files["jianying"] / "draft_content.json").read_text(encoding="utf-8"))
    assert "那你给自己发了多少年终奖？" in {json.loads(m["content"])["text"].replace("\n", "")
                                          for m in content["materials"]["texts"]}
    assert sorted(p.name for p in out.iterdir()) == ["animatic.mp4", "timeline"]       # no leftovers
    assert (out / "animatic.mp4").read_bytes() == b"not touched"


@pytest.mark.parametrize("fps", [25, 30])
def test_other_frame_rates_stay_frame_exact_in_the_draft(tmp_path, fps):
    sb = board()
    result = export_timeline(sb, out_dir=tmp_path, fps=fps, formats="jianying", title_card_s=0, end_card_s=0)
    content = json.loads((result.files["jianying"] / "draft_content.json").read_text(encoding="utf-8"))
    panels, = [t for t in content["tracks"] if t["type"] == "video"]
    assert [round(s["target_timerange"]["duration"] * fps / 1e6) for s in panels["segments"]] == \
        [round(shot.duration_s * fps) for shot in sb.shots]
    assert not (tmp_path / "timeline" / "media").exists()      # the draft carries its own media


def test_bad_input_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="unknown timeline format 'premiere'.*jianying"):
        export_timeline(board(), out_dir=out, formats="otio,premiere")
    with pytest.raises(ValueError, match="shot 2 has no panel"):
        export_timeline(board(), out_dir=out, formats="otio", panels={1: np.zeros((8, 8, 3), np.uint8)})
    assert not out.exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot write into .*choose a folder"):
        export_timeline(board(), out_dir=blocker / "out", formats="otio")
    assert blocker.read_text() == "x"


def test_a_missing_library_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(handoff_export._NEEDS, "edl", (("lantern_no_such_module", "lantern-no-such-package"),))
    with pytest.raises(HandoffUnavailable, match=r"lantern-no-such-package.*python launch.py"):
        export_timeline(board(), out_dir=tmp_path / "out", formats="edl")
    assert not (tmp_path / "out").exists()


def test_cli_writes_the_timeline_beside_the_mp4(tmp_path, capsys):
    import argparse

    from lantern_studio.engines.cli.storyboard import run
    from lantern_studio.engines.settings import Settings

    script = tmp_path / "short.txt"
    script.write_text("第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n", encoding="utf-8")
    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path / "home")})

    def args(out, timeline):
        return argparse.Namespace(script=str(script), out=str(out), music=None, format="1:1", fps=24, no_video=False,
                                  project=None, models_dir=None, device=None, dialogue=None, timeline=timeline)

    assert run(args(tmp_path / "bad", "otio,avid"), settings) == 2
    assert "unknown timeline format 'avid'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "out"
    assert run(args(out, "otio,jianying"), settings) == 0
    assert "wrote the editor timeline" in capsys.readouterr().out
    with av.open(str(out / "animatic.mp4")) as container:
        mp4_frames = sum(1 for _ in container.decode(video=0))
    timeline = otio.adapters.read_from_file(str(next((out / "timeline").glob("*.otio"))))
    assert abs(int(round(timeline.video_tracks()[0].duration().to_frames())) - mp4_frames) <= 1
    assert "吃饺子！" in {m.name for c in timeline.find_clips() for m in c.markers}
    assert math.isclose(timeline.duration().to_seconds(), mp4_frames / 24, abs_tol=1 / 24)
