"""Hand-off to editors: the storyboard's animatic timeline as OpenTimelineIO, FCP 7 XML, a CMX 3600 EDL
and a 剪映 draft folder. :func:`export_timeline` is the entry point; :mod:`.plan` builds the neutral
description every format is written from, one module per format writes it.
"""

from lantern_studio.engines.story.handoff.export import (TIMELINE_FORMATS, HandoffUnavailable, TimelineExport,
                                                         check_available, export_timeline, parse_formats)

__all__ = ["TIMELINE_FORMATS", "HandoffUnavailable", "TimelineExport", "check_available", "export_timeline",
           "parse_formats"]
