"""The hand-off as an OpenTimelineIO timeline, the model the FCP XML and the EDL are written from.

Tracks: ``Video`` (one clip per segment, the animatic's transitions as OTIO transitions), ``Dialogue``
(one clip per line) and ``Music`` (one clip). Subtitles are markers on the clip of their shot, named with
the subtitle text. What OTIO has no schema for is clip metadata under ``"lantern"``: the camera move and
its keyframes on video clips, the ducking's volume keyframes and the fades on the music clip.

Every time is in frames at the timeline's rate; media paths are relative to the export folder, so the
folder can move.
"""

from __future__ import annotations

from pathlib import Path

from lantern_studio.engines.story.handoff.plan import AudioClip, HandoffPlan

#: FCP 7 effect ids of the animatic's transitions; written into each transition's ``fcp_xml`` metadata.
FCP_EFFECT_IDS = {"dissolve": "Cross Dissolve", "dip": "Dip to Color Dissolve", "wipe": "Edge Wipe"}


def build_otio(plan: HandoffPlan):
    """An ``opentimelineio.schema.Timeline`` of the plan."""
    import opentimelineio as otio

    rate = float(plan.fps)

    def span(start: int, frames: int):
        return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(frames, rate))

    def media(path: str, frames: int):
        return otio.schema.ExternalReference(target_url=path, available_range=span(0, frames))

    timeline = otio.schema.Timeline(name=plan.name, global_start_time=otio.opentime.RationalTime(0, rate))
    timeline.metadata["lantern"] = {"width": plan.width, "height": plan.height, "fps": plan.fps,
                                    "language": plan.language}
    video = otio.schema.Track(name="Video", kind=otio.schema.TrackKind.Video)
    for clip in plan.video:
        if clip.transition != "cut" and clip.transition_frames > 0 and len(video):
            # the blend happens inside the incoming clip: it starts on the cut and overlaps only that clip
            video.append(otio.schema.Transition(
                name=clip.transition,
                transition_type=(otio.schema.TransitionTypes.SMPTE_Dissolve if clip.transition == "dissolve"
                                 else otio.schema.TransitionTypes.Custom),
                in_offset=otio.opentime.RationalTime(0, rate),
                out_offset=otio.opentime.RationalTime(clip.transition_frames, rate),
                metadata={"lantern": {"kind": clip.transition},
                          "fcp_xml": {"alignment": "start", "effectid": FCP_EFFECT_IDS[clip.transition]}}))
        item = otio.schema.Clip(name=clip.name, media_reference=media(clip.media, clip.frames),
                                source_range=span(0, clip.frames))
        item.metadata["lantern"] = {
            "kind": clip.kind, "shot": clip.shot_number, "panel_size": list(clip.panel_size),
            "camera": {"move": clip.move, "keyframes": [key.to_dict() for key in clip.keys],
                       "units": "frame: frames into the clip; scale: 1 = the panel just covers the frame; "
                                "x, y: panel centre offset from the frame centre in frame widths/heights "
                                "(right, down); rotation_deg: clockwise"}}
        for cue in plan.cues:
            if cue.shot_number == clip.shot_number and clip.kind == "shot":
                item.markers.append(otio.schema.Marker(
                    name=cue.text.replace("\n", " ") if plan.language != "zh" else cue.text.replace("\n", ""),
                    marked_range=span(cue.start_frame - clip.start_frame, cue.frames),
                    color=otio.schema.MarkerColor.YELLOW,
                    metadata={"lantern": {"subtitle": cue.index, "lines": list(cue.lines)}}))
        video.append(item)
    timeline.tracks.append(video)
    timeline.tracks.append(_audio_track(otio, "Dialogue", plan.dialogue, span, media, plan))
    if plan.music is not None:
        music = _audio_track(otio, "Music", (plan.music,), span, media, plan)
        music[0].metadata["lantern"].update({
            "volume_keyframes": [key.to_dict() for key in plan.music_keys], "ducking_db": plan.ducking_db,
            "fade_in_s": plan.music_fade_in_s, "fade_out_s": plan.music_fade_out_s,
            "units": "time_s: seconds from the timeline start; gain_db: linear in dB between keyframes"})
        timeline.tracks.append(music)
    return timeline


def _audio_track(otio, name: str, clips: tuple[AudioClip, ...], span, media, plan: HandoffPlan):
    track = otio.schema.Track(name=name, kind=otio.schema.TrackKind.Audio)
    cursor = 0
    for clip in clips:
        if clip.start_frame > cursor:
            track.append(otio.schema.Gap(source_range=span(0, clip.start_frame - cursor)))
        item = otio.schema.Clip(name=clip.name, media_reference=media(clip.media, clip.frames),
                                source_range=span(0, clip.frames))
        item.metadata["lantern"] = {"shot": clip.shot_number, "recorded": clip.recorded,
                                    "sound_start_s": clip.sound_start_s, "sound_end_s": clip.sound_end_s}
        track.append(item)
        cursor = clip.end_frame
    return track


def write_otio(timeline, path: Path) -> Path:
    """Write the timeline as an ``.otio`` (JSON) file."""
    import opentimelineio as otio

    otio.adapters.write_to_file(timeline, str(path), adapter_name="otio_json")
    return path
