"""A 剪映 (JianyingPro) draft folder through pyJianYingDraft.

Tracks: the panels (``panels``, a video track of still images with the camera move as position, scale and
rotation keyframes and the animatic's transitions), the subtitles (``subtitles``, a text track in Source
Han Sans CN, a CJK font 剪映 ships), the dialogue (``dialogue``) and the music (``music``, with its fades
and the ducking as volume keyframes). The media are copied into the draft's ``materials/`` folder.

Units of the draft: times in microseconds; positions in half canvas widths/heights (right and up
positive); scale 1 = the image fitted inside the canvas; rotation clockwise in degrees; volume as a linear
gain.

The draft is self-contained: each material's ``path`` is written as :data:`DRAFT_PATH_PLACEHOLDER` followed
by ``/materials/<file>``: drafts 剪映 writes for media kept inside the draft (templates, draft packages)
use this token for the draft's own folder, which 剪映 puts in wherever the draft is, so the folder can be
copied to another machine or drafts folder. ``draft_meta_info.json`` lists the same files (its media
pool) relative to the draft, ``./materials/<file>``, and leaves ``draft_fold_path``/``draft_root_path``
empty for 剪映 to fill in where it finds the draft. The timeline is written both as
``draft_content.json`` (剪映 up to 5.9, and what pyJianYingDraft reads) and as ``draft_info.json`` (the
name newer 剪映 releases open).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

from lantern_studio.engines.story.handoff.plan import CameraKey, HandoffPlan

#: 剪映's transitions closest to the animatic's.
TRANSITIONS = {"dissolve": "叠化", "dip": "闪黑", "wipe": "向左擦除"}
SECOND_US = 1_000_000
#: What 剪映 writes in a material path for "this draft's own folder"; one fixed token in every draft.
DRAFT_PATH_PLACEHOLDER = "##_draftpath_placeholder_0E685133-18CE-45ED-8CB8-2904A212EC80_##"
#: The draft's subfolder holding its copy of the media.
MATERIALS_DIR = "materials"


def frame_us(frame: int, fps: int) -> int:
    """Microseconds from the start to ``frame``, rounded once, so clips laid end to end never gap."""
    return int(round(frame * SECOND_US / fps))


def _clip_settings(jy, key: CameraKey, fit_to_cover: float):
    return jy.ClipSettings(scale_x=key.scale * fit_to_cover, scale_y=key.scale * fit_to_cover,
                           transform_x=2.0 * key.x, transform_y=-2.0 * key.y, rotation=key.rotation_deg)


def write_jianying(plan: HandoffPlan, drafts_folder: Path, media_folder: Path, *, draft_name: str) -> Path:
    """Write the draft ``drafts_folder/draft_name`` from the plan, copying media from ``media_folder``.

    Returns the draft folder; it holds its media and names them relative to itself, so it can move.
    """
    import pyJianYingDraft as jy

    fps = plan.fps
    script = jy.DraftFolder(str(drafts_folder)).create_draft(draft_name, plan.width, plan.height, fps=fps)
    draft = drafts_folder / draft_name
    materials = draft / MATERIALS_DIR
    materials.mkdir()
    for clip in (*plan.video, *plan.dialogue, *([plan.music] if plan.music else [])):
        target = materials / Path(clip.media).name
        if not target.exists():
            shutil.copyfile(media_folder / clip.media, target)

    panels_track = script.append_track(jy.TrackSpec(jy.TrackType.video, "panels"))
    subtitles_track = script.append_track(jy.TrackSpec(jy.TrackType.text, "subtitles"))
    dialogue_track = script.append_track(jy.TrackSpec(jy.TrackType.audio, "dialogue"))
    music_track = script.append_track(jy.TrackSpec(jy.TrackType.audio, "music")) if plan.music else None

    def timerange(start_frame: int, frames: int):
        start = frame_us(start_frame, fps)
        return jy.Timerange(start, frame_us(start_frame + frames, fps) - start)

    segments = []
    for clip in plan.video:
        material = jy.VideoMaterial(str(materials / Path(clip.media).name), material_name=clip.name)
        pw, ph = clip.panel_size
        # 剪映 scales an image to fit inside the canvas; the plan's scale is relative to covering it
        fit_to_cover = max(plan.width / pw, plan.height / ph) / min(plan.width / pw, plan.height / ph)
        segment = jy.VideoSegment(material, timerange(clip.start_frame, clip.frames),
                                  clip_settings=_clip_settings(jy, clip.keys[0], fit_to_cover))
        if len(clip.keys) > 1:
            for key in clip.keys:
                offset_us = frame_us(key.frame, fps)
                segment.add_keyframe(jy.KeyframeProperty.uniform_scale, offset_us, key.scale * fit_to_cover)
                segment.add_keyframe(jy.KeyframeProperty.position_x, offset_us, 2.0 * key.x)
                segment.add_keyframe(jy.KeyframeProperty.position_y, offset_us, -2.0 * key.y)
                if clip.move == "shake":
                    segment.add_keyframe(jy.KeyframeProperty.rotation, offset_us, key.rotation_deg)
        segments.append(segment)
    for before, clip in zip(segments, plan.video[1:]):
        # 剪映 keeps a transition on the clip before the cut
        if clip.transition in TRANSITIONS and clip.transition_frames > 0:
            before.add_transition(getattr(jy.TransitionType, TRANSITIONS[clip.transition]),
                                  duration=frame_us(clip.transition_frames, fps))
    for segment in segments:
        script.add_segment(segment, panels_track)

    for cue in plan.cues:
        # the animatic's subtitles sit above the bottom safe margin: a fifth of the height on a vertical
        # frame, a twelfth otherwise; the text's centre goes about one line above that
        bottom_margin = 0.2 if plan.height > plan.width else 0.08
        centre_from_top = 1.0 - bottom_margin - 0.035 * len(cue.lines)
        text = jy.TextSegment(cue.text, timerange(cue.start_frame, cue.frames), font=jy.FontType.SourceHanSansCN_Medium,
                              style=jy.TextStyle(size=8.0, color=(1.0, 1.0, 1.0), align=1, auto_wrapping=True),
                              border=jy.TextBorder(color=(0.06, 0.06, 0.06), width=40.0),
                              clip_settings=jy.ClipSettings(transform_y=-(centre_from_top - 0.5) * 2.0))
        script.add_segment(text, subtitles_track)

    for clip in plan.dialogue:
        material = jy.AudioMaterial(str(materials / Path(clip.media).name), material_name=clip.name)
        script.add_segment(_audio_segment(jy, material, timerange(clip.start_frame, clip.frames)), dialogue_track)
    if plan.music is not None:
        material = jy.AudioMaterial(str(materials / Path(plan.music.media).name), material_name="Music")
        segment = _audio_segment(jy, material, timerange(0, plan.music.frames))
        segment.add_fade(int(round(plan.music_fade_in_s * SECOND_US)), int(round(plan.music_fade_out_s * SECOND_US)))
        for key in plan.music_keys:
            segment.add_keyframe(int(round(key.time_s * SECOND_US)), 10 ** (key.gain_db / 20))
        script.add_segment(segment, music_track)

    _write_portable(script, draft, draft_name)
    return draft


def _write_portable(script, draft: Path, draft_name: str) -> None:
    """Save the draft with every material named relative to the draft folder.

    pyJianYingDraft measures each material from its file (so it is given the real path first) and records
    that absolute path; here it becomes the placeholder form, and the media pool in ``draft_meta_info.json``
    gets one entry per file.
    """
    pool: dict[str, dict] = {}
    for kind, materials in (("photo", script.materials.videos), ("music", script.materials.audios)):
        for material in materials:
            name = Path(material.path).name
            material.path = f"{DRAFT_PATH_PLACEHOLDER}/{MATERIALS_DIR}/{name}"
            pool.setdefault(name, _pool_entry(material, name, kind))
    script.save()
    shutil.copyfile(draft / "draft_content.json", draft / "draft_info.json")
    meta_path = draft / "draft_meta_info.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update({"draft_name": draft_name, "draft_id": str(uuid.uuid4()).upper(), "tm_duration": script.duration,
                 "draft_fold_path": "", "draft_root_path": ""})
    next(group for group in meta["draft_materials"] if group["type"] == 0)["value"] = list(pool.values())
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def _pool_entry(material, name: str, kind: str) -> dict:
    """One file of the draft's media pool (``draft_materials`` type 0 of ``draft_meta_info.json``)."""
    return {"id": str(uuid.uuid4()).upper(), "file_Path": f"./{MATERIALS_DIR}/{name}", "extra_info": name,
            "metetype": kind, "type": 0, "item_source": 1, "md5": "", "duration": int(material.duration),
            "width": int(getattr(material, "width", 0)), "height": int(getattr(material, "height", 0)),
            "roughcut_time_range": {"duration": -1, "start": -1}, "sub_time_range": {"duration": -1, "start": -1}}


def _audio_segment(jy, material, target):
    """An audio segment on ``target`` that plays its file from the start. The file lasts exactly the clip's
    frames, but the clip's ends are each rounded to the microsecond, so the range may be 1 µs longer than
    the file as MediaInfo measures it; then the segment plays the whole file and ends 1 µs early."""
    played = jy.Timerange(0, min(target.duration, material.duration))
    return jy.AudioSegment(material, target, source_timerange=played, speed=1.0)
