"""``export_timeline``: the storyboard as editable timelines in ``timeline/`` of an output folder.

It reads top to bottom:

1. check the format names and that the libraries for them are installed (before anything is written);
2. build the plan from the animatic's own timeline (:mod:`.plan`);
3. write the media and each format into a staging folder beside ``timeline/``;
4. swap the staging folder in for ``timeline/``, so an earlier export is replaced whole or not at all.

Layout of ``timeline/``: ``media/`` (panel PNGs, dialogue and music WAVs), ``<name>.otio``, ``<name>.xml``
(FCP 7), ``<name>.edl`` and ``jianying/<name>/`` (the 剪映 draft folder, with its own copy of the media).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lantern_studio.engines.jobs import Progress, no_progress

#: Format names, in the order they are written.
TIMELINE_FORMATS = ("otio", "fcpxml", "edl", "jianying")
#: The distributions each format needs: (import name, pip name).
_NEEDS = {"otio": (("opentimelineio", "opentimelineio"),),
          "fcpxml": (("opentimelineio", "opentimelineio"), ("otio_fcp_adapter", "otio-fcp-adapter")),
          "edl": (("opentimelineio", "opentimelineio"), ("otio_cmx3600_adapter", "otio-cmx3600-adapter")),
          "jianying": (("pyJianYingDraft", "pyjianyingdraft"), ("pymediainfo", "pymediainfo"))}
FOLDER_NAME = "timeline"



class HandoffUnavailable(RuntimeError):
    """A library a requested format needs is not installed; the message says how to install it."""


@dataclass(frozen=True)
class TimelineExport:
    """What :func:`export_timeline` wrote: ``files`` maps each format to its file (the draft folder for
    ``jianying``), all inside ``folder``."""

    folder: Path
    files: dict[str, Path]
    clips: int
    frames: int
    fps: int
    duration_s: float
    dialogue_clips: int
    subtitles: int
    media: list[Path] = field(default_factory=list)


def parse_formats(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Format names from ``"jianying,fcpxml,otio,edl"`` (or a list), in writing order, without repeats.

    Raises
    ------
    ValueError
        An empty list or an unknown name (the message lists the known ones).
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    wanted = []
    for raw in names:
        name = str(raw).strip().lower()
        if not name:
            continue
        if name not in TIMELINE_FORMATS:
            raise ValueError(f"unknown timeline format {name!r}; choose from {', '.join(TIMELINE_FORMATS)} "
                             "(comma-separated, e.g. jianying,fcpxml,otio,edl)")
        wanted.append(name)
    if not wanted:
        raise ValueError(f"no timeline format given; choose from {', '.join(TIMELINE_FORMATS)}")
    return tuple(name for name in TIMELINE_FORMATS if name in wanted)


def check_available(formats: tuple[str, ...]) -> None:
    """Raise :class:`HandoffUnavailable` naming every missing library the formats need."""
    missing = sorted({pip for name in formats for module, pip in _NEEDS[name]
                      if importlib.util.find_spec(module) is None})
    if missing:
        raise HandoffUnavailable(
            f"the timeline export needs {', '.join(missing)}, which this environment lacks; run "
            "`python launch.py` once to reinstall the studio from its lock (or `pip install "
            f"{' '.join(missing)}` in the studio's environment)")


def _safe_name(title: str) -> str:
    from lantern_studio.engines.safety import sanitize_filename

    return sanitize_filename(title.strip() or "storyboard", default="storyboard")


def export_timeline(storyboard: Any, *, out_dir: str | os.PathLike, formats: str | list[str] | tuple[str, ...] = TIMELINE_FORMATS,
                    panels: Any = None, music: Any = None, dialogue_audio: Mapping | None = None,
                    format: str = "9:16", fps: int = 24, ducking_db: float = -12.0, title_card_s: float = 2.0,
                    end_card_s: float = 2.0, placeholders: bool = True, voices: Mapping | None = None,
                    progress: Progress | None = None) -> TimelineExport:
    """Write the storyboard's animatic timeline as editable timelines into ``out_dir/timeline/``.

    Parameters
    ----------
    storyboard : Storyboard or dict
    out_dir : path
        The output folder (the animatic's); it must exist or be creatable. Only ``timeline/`` inside it
        is replaced.
    formats : str or sequence of str
        Any of ``otio``, ``fcpxml``, ``edl``, ``jianying``.
    panels, music, dialogue_audio, format, fps, ducking_db, title_card_s, end_card_s, placeholders, voices
        As for :func:`engines.story.animatic.render_animatic`, so the timeline is the animatic's.
    progress : callable(fraction, message), optional

    Returns
    -------
    TimelineExport

    Raises
    ------
    ValueError
        Bad input, before anything is written: an unknown format name, no shots, a shot whose panel is
        missing, undecodable audio, or an output folder that cannot be written.
    HandoffUnavailable
        A library for a requested format is not installed.
    """
    from lantern_studio.engines.story.handoff.plan import build_plan

    chosen = parse_formats(formats)
    check_available(chosen)
    report = progress or no_progress
    out = Path(out_dir)
    report(0.0, "laying out the timeline")
    plan = build_plan(storyboard, panels=panels, music=music, dialogue_audio=dialogue_audio, format=format, fps=fps,
                      ducking_db=ducking_db, title_card_s=title_card_s, end_card_s=end_card_s,
                      placeholders=placeholders, voices=voices)
    staging = _staging_folder(out)
    final = out / FOLDER_NAME
    name = _safe_name(plan.name)
    try:
        files, media = _write_staged(plan, chosen, staging, name, report)
        report(0.95, "moving the export into place")
        _swap_in(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(1.0, "done")

    def moved(path: Path) -> Path:
        return final / path.relative_to(staging)

    return TimelineExport(folder=final, files={k: moved(v) for k, v in files.items()}, clips=len(plan.video),
                          frames=plan.total_frames, fps=plan.fps, duration_s=plan.duration_s,
                          dialogue_clips=len(plan.dialogue), subtitles=len(plan.cues),
                          media=[moved(p) for p in media])


def _staging_folder(out: Path) -> Path:
    """A fresh ``.partial-*`` folder inside ``out`` (created if need be) to write the export into."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    except OSError as error:
        raise ValueError(f"cannot write into {out} ({error.strerror or error}); choose a folder you can write "
                         "to") from error


def _write_staged(plan: Any, chosen: tuple[str, ...], staging: Path, name: str, report: Progress
                  ) -> tuple[dict[str, Path], list[Path]]:
    """Write the panels and audio, then each chosen format, into ``staging``; returns the file (or draft
    folder) of each format and the media files the timelines point at."""
    report(0.2, "writing the panels and audio")
    from lantern_studio.engines.story.handoff.media import write_media

    media = write_media(plan, staging)
    timeline = None
    if {"otio", "fcpxml", "edl"} & set(chosen):
        from lantern_studio.engines.story.handoff.otio_timeline import build_otio

        timeline = build_otio(plan)
    files: dict[str, Path] = {}
    for fraction, fmt in zip((0.5, 0.6, 0.7, 0.8), chosen):
        report(fraction, f"writing {fmt}")
        files[fmt] = _write_format(fmt, plan, timeline, staging, name)
    if not {"otio", "fcpxml", "edl"} & set(chosen):
        shutil.rmtree(staging / "media")      # the draft carries its own copy
        media = []
    return files, media


def _write_format(fmt: str, plan: Any, timeline: Any, staging: Path, name: str) -> Path:
    """One format's file in ``staging``: the OTIO, FCP XML and EDL from the OTIO ``timeline``, the Jianying
    draft folder (under ``jianying/``) from the plan."""
    if fmt == "otio":
        from lantern_studio.engines.story.handoff.otio_timeline import write_otio

        return write_otio(timeline, staging / f"{name}.otio")
    if fmt == "fcpxml":
        from lantern_studio.engines.story.handoff.fcp_xml import write_fcp_xml

        return write_fcp_xml(timeline, staging / f"{name}.xml")
    if fmt == "edl":
        from lantern_studio.engines.story.handoff.edl import write_edl

        return write_edl(timeline, staging / f"{name}.edl", fps=plan.fps)
    from lantern_studio.engines.story.handoff.jianying import write_jianying

    drafts = staging / "jianying"
    drafts.mkdir()
    return write_jianying(plan, drafts, staging, draft_name=name)


def _swap_in(staging: Path, final: Path) -> None:
    """Put ``staging`` where ``final`` is; an earlier ``final`` is removed only once the new one is there."""
    if not final.exists():
        os.replace(staging, final)
        return
    old_parent = Path(tempfile.mkdtemp(prefix=".partial-", dir=final.parent))
    old = old_parent / final.name
    os.replace(final, old)
    try:
        os.replace(staging, final)
    except BaseException:
        os.replace(old, final)           # put the earlier export back
        raise
    shutil.rmtree(old_parent, ignore_errors=True)
