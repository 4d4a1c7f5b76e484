"""The hand-off's media files: each clip's panel as a PNG and each audio clip as a 24-bit WAV.

Written once into ``media/`` of the export; the 剪映 draft copies them into its own folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lantern_studio.engines.story.handoff.plan import HandoffPlan


def write_media(plan: HandoffPlan, folder: Path) -> list[Path]:
    """Write every clip's media under ``folder`` at its plan path; returns the files written."""
    import soundfile as sf

    written: list[Path] = []
    for clip in plan.video:
        path = folder / clip.media
        if path.exists():          # one card image can serve several clips
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        # light compression: panels are large and a hand-off is written often; editors read any PNG
        Image.fromarray(np.ascontiguousarray(clip.image[..., :3])).save(path, format="PNG", compress_level=1)
        written.append(path)
    for clip in (*plan.dialogue, *([plan.music] if plan.music is not None else [])):
        path = folder / clip.media
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.clip(clip.audio, -1.0, 1.0), plan.sample_rate, subtype="PCM_24", format="WAV")
        written.append(path)
    return written
