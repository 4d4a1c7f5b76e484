"""A CMX 3600 EDL of the video track through OpenTimelineIO's CMX 3600 adapter.

An EDL has one video track and no audio files, so only the panels go in; subtitles become ``* LOC``
marker comments. Each transition is written as the CMX code in :data:`EDL_CODES`.
"""

from __future__ import annotations

import copy
from pathlib import Path

#: The CMX 3600 code each of the animatic's transitions is written as: C (cut), D (dissolve) or W### (wipe).
#: The adapter writes every OTIO transition as ``D`` with its length; it reads ``W###`` wipes but has no
#: writer for them, and a dip to black would need two dissolves through a ``BL`` event, which it writes
#: only at the very start or end of a track. A dissolve of the same length keeps both cut points and the
#: overlap of the two shots, so wipes and dips become that; the editor can change the effect in place.
EDL_CODES = {"cut": "C", "dissolve": "D", "dip": "D", "wipe": "D"}


def write_edl(timeline, path: Path, *, fps: int) -> Path:
    """Write the first video track of an OTIO timeline as a CMX 3600 EDL at ``fps``."""
    import opentimelineio as otio

    video_only = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
    track = copy.deepcopy(timeline.video_tracks()[0])
    for item in list(track):
        if not isinstance(item, otio.schema.Transition):
            continue
        code = EDL_CODES[item.metadata["lantern"]["kind"]]
        if code == "C":
            track.remove(item)
        else:
            item.transition_type = otio.schema.TransitionTypes.SMPTE_Dissolve
    video_only.tracks.append(track)
    otio.adapters.write_to_file(video_only, str(path), adapter_name="cmx_3600", rate=float(fps))
    return path
