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
"""

from __future__ import annotations

import copy
from pathlib import Path

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


def write_fcp_xml(timeline, path: Path) -> Path:
    """Write an OTIO timeline (from :func:`otio_timeline.build_otio`) as FCP 7 XML with ``otio-fcp-adapter``.

    Transitions start on the cut (alignment ``start``), as in the animatic; markers carry the subtitles;
    each panel carries its camera move as a Basic Motion filter.
    """
    import opentimelineio as otio

    with_motion = copy.deepcopy(timeline)
    frame_size = (int(timeline.metadata["lantern"]["width"]), int(timeline.metadata["lantern"]["height"]))
    for clip in with_motion.video_tracks()[0].find_clips():
        lantern = clip.metadata["lantern"]
        clip.metadata["fcp_xml"] = {"filter": [basic_motion(lantern["camera"], lantern["panel_size"], frame_size)]}
    otio.adapters.write_to_file(with_motion, str(path), adapter_name="fcp_xml")
    return path
