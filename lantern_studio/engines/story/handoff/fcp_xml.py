"""FCP 7 XML (Premiere Pro, DaVinci Resolve, Final Cut Pro 7) through OpenTimelineIO's FCP adapter.

The camera move goes in as each panel clip's Basic Motion filter, with Scale, Rotation and Center
keyframes. OTIO has no schema for motion keyframes, but the adapter writes whatever a clip carries under
``metadata["fcp_xml"]`` as child elements of its ``clipitem`` (dict keys become elements, lists repeat
them, ``@`` keys become attributes), and reads a ``filter`` back as an ``Effect`` with the same tree in
its metadata. So the filter is described here as that tree and the adapter writes the XML.

Basic Motion's units, as FCP 7 and Premiere exchange them: ``scale`` in percent of the image's own pixel
size; ``rotation`` in degrees, clockwise; ``center`` the image centre's offset from the frame centre in
fractions of the frame's width (``horiz``, right positive) and height (``vert``, down positive); a
keyframe's ``when`` in frames from the clip's first source frame (the panels are used from frame 0).

The music clip carries its fades and the ducking the same way, as an Audio Levels filter whose ``level``
is a linear gain (1 = as recorded) keyed on whole frames.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

from lantern_studio.engines.story.handoff.plan import VolumeKey, gain_at

#: Decimal places written for keyframe values: a millionth of a percent or of the frame width.
PLACES = 6


def basic_motion(camera: dict, panel_size: tuple[int, int], frame_size: tuple[int, int]) -> dict:
    """The Basic Motion ``filter`` of a clip as the FCP adapter's metadata tree.

    ``camera`` is the clip's ``lantern`` camera metadata (keys in the plan's units: scale relative to a
    panel just covering the frame, x/y in frame widths/heights); a static camera gets values, no keyframes.
    """
    from lantern_studio.engines.story.timeline import cover_scale

    cover = cover_scale(tuple(panel_size), tuple(frame_size))
    keys = camera["keyframes"]

    def parameter(pid: str, name: str, value, extra: dict) -> dict:
        values = [value(key) for key in keys]
        entry = {"@authoringApp": "PremierePro", "parameterid": pid, "name": name, **extra, "value": values[0]}
        if any(v != values[0] for v in values):        # keyframes only where the parameter moves
            entry["keyframe"] = [{"when": int(key["frame"]), "value": v} for key, v in zip(keys, values)]
        return entry

    def number(value: float) -> float:
        return round(float(value), PLACES) + 0.0      # + 0.0 turns -0.0 into 0.0

    def scale(key):
        return number(100.0 * key["scale"] * cover)

    def rotation(key):
        return number(key["rotation_deg"])

    def center(key):
        return {"horiz": number(key["x"]), "vert": number(key["y"])}

    effect = {"name": "Basic Motion", "effectid": "basic", "effectcategory": "motion", "effecttype": "motion",
              "mediatype": "video",
              "parameter": [parameter("scale", "Scale", scale, {"valuemin": 0, "valuemax": 1000}),
                            parameter("rotation", "Rotation", rotation, {"valuemin": -8640, "valuemax": 8640}),
                            parameter("center", "Center", center, {})]}
    return {"enabled": "TRUE", "effect": effect}


def audio_levels(music: dict, *, frames: int, fps: int) -> dict:
    """The music clip's Audio Levels ``filter`` as the FCP adapter's metadata tree.

    ``music`` is the clip's ``lantern`` metadata: the ducking's ``volume_keyframes`` (dB, linear in dB
    between keys) and the linear fades. The level at a frame is the fade times the ducking's gain, as the
    animatic mixes it; it is keyed on the frames around every point where one of them changes slope (the
    fades' ends and the ducking keys) and on every frame of a ducking ramp, so the editor's linear ramps
    between keys follow the fades exactly and the ducking to within a frame.
    """
    duration_s = frames / fps
    fade_in_s, fade_out_s = float(music["fade_in_s"]), float(music["fade_out_s"])
    keys = music["volume_keyframes"]
    turns_s = [0.0, fade_in_s, duration_s - fade_out_s, duration_s, *(float(k["time_s"]) for k in keys)]
    # the frames either side of each turn, so a turn between frames (the ducking's attack is shorter than
    # one) moves by at most a frame instead of smearing a ramp back to the previous key
    picks = {f for t in turns_s for f in (math.floor(t * fps), math.ceil(t * fps))}
    # and every frame of a ducking ramp: it is linear in dB, which a linear gain ramp between its ends
    # misses by up to 2 dB at the middle of a 12 dB dip
    for a, b in zip(keys, keys[1:]):
        if a["gain_db"] != b["gain_db"]:
            picks.update(range(math.floor(float(a["time_s"]) * fps), math.ceil(float(b["time_s"]) * fps) + 1))
    picks = sorted({min(max(f, 0), frames - 1) for f in picks})
    ducking = tuple(VolumeKey(time_s=float(k["time_s"]), gain_db=float(k["gain_db"])) for k in keys)

    def level(frame: int) -> float:
        t = frame / fps
        fade_in = t / fade_in_s if fade_in_s > 0 else 1.0
        fade_out = (duration_s - t) / fade_out_s if fade_out_s > 0 else 1.0
        fade = min(1.0, fade_in, fade_out)
        return round(max(fade, 0.0) * math.pow(10.0, gain_at(ducking, t) / 20.0), PLACES) + 0.0

    values = [level(f) for f in picks]
    parameter = {"@authoringApp": "PremierePro", "parameterid": "level", "name": "Level", "valuemin": 0,
                 "valuemax": 3.98109, "value": values[0]}
    if any(v != values[0] for v in values):
        parameter["keyframe"] = [{"when": f, "value": v} for f, v in zip(picks, values)]
    return {"enabled": "TRUE", "effect": {"name": "Audio Levels", "effectid": "audiolevels",
                                          "effectcategory": "audiolevels", "effecttype": "audiolevels",
                                          "mediatype": "audio", "parameter": [parameter]}}


def write_fcp_xml(timeline, path: Path) -> Path:
    """Write an OTIO timeline (from :func:`otio_timeline.build_otio`) as FCP 7 XML with ``otio-fcp-adapter``.

    Transitions start on the cut (alignment ``start``), as in the animatic; markers carry the subtitles;
    each panel carries its camera move as a Basic Motion filter, the music its fades and ducking as an Audio
    Levels filter.
    """
    import opentimelineio as otio

    with_filters = copy.deepcopy(timeline)
    info = timeline.metadata["lantern"]
    frame_size = (int(info["width"]), int(info["height"]))
    for clip in with_filters.video_tracks()[0].find_clips():
        lantern = clip.metadata["lantern"]
        clip.metadata["fcp_xml"] = {"filter": [basic_motion(lantern["camera"], lantern["panel_size"], frame_size)]}
    for track in with_filters.audio_tracks():
        for clip in track.find_clips():
            if "volume_keyframes" in clip.metadata["lantern"]:
                frames = int(round(clip.source_range.duration.to_frames()))
                clip.metadata["fcp_xml"] = {"filter": [audio_levels(clip.metadata["lantern"], frames=frames,
                                                                    fps=int(info["fps"]))]}
    otio.adapters.write_to_file(with_filters, str(path), adapter_name="fcp_xml")
    return path
