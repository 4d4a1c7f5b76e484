"""FCP 7 XML (Premiere Pro, DaVinci Resolve, Final Cut Pro 7) through OpenTimelineIO's FCP adapter."""

from __future__ import annotations

from pathlib import Path


def write_fcp_xml(timeline, path: Path) -> Path:
    """Write an OTIO timeline (from :func:`otio_timeline.build_otio`) as FCP 7 XML with ``otio-fcp-adapter``.

    Transitions start on the cut (alignment ``start``), as in the animatic; markers carry the subtitles.
    """
    import opentimelineio as otio

    otio.adapters.write_to_file(timeline, str(path), adapter_name="fcp_xml")
    return path
