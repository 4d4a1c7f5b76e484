"""A CMX 3600 EDL of the video track through OpenTimelineIO's CMX 3600 adapter.

An EDL has one video track and no audio files, so only the panels go in; every transition is written as a
dissolve of its length (the adapter's only kind), and subtitles become ``* LOC`` marker comments.
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
