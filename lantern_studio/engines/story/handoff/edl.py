"""A CMX 3600 EDL of the video track through OpenTimelineIO's CMX 3600 adapter.

An EDL has one video track and no audio files, so only the panels go in; subtitles become ``* LOC``
marker comments. Cuts are plain ``C`` events (the timeline has no transition object for a cut). The
adapter writes every OTIO transition as a ``D`` dissolve with its length: it reads ``W###`` wipes but has
no writer for them, and a dip to black would need two dissolves through a ``BL`` event, which it writes
only at the very start or end of a track. A dissolve of the same length keeps both cut points and the
overlap of the two shots, so wipes and dips become that; the editor can change the effect in place.
"""

from __future__ import annotations

import copy
from pathlib import Path


def write_edl(timeline, path: Path, *, fps: int) -> Path:
    """Write the first video track of an OTIO timeline as a CMX 3600 EDL at ``fps``."""
    import opentimelineio as otio

    video_only = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
    video_only.tracks.append(copy.deepcopy(timeline.video_tracks()[0]))
    otio.adapters.write_to_file(video_only, str(path), adapter_name="cmx_3600", rate=float(fps))
    return path
