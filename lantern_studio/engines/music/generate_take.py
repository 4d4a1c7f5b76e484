"""Generate takes and save each one the moment it is finished: named, loudness measured, waveforms drawn.

This is the job behind the studio's Generate, Vary, Continue and Extend (and usable from scripts): it speaks the
job protocol (``engines.jobs``): ``progress(fraction, message)`` out, ``cancel`` in, and a stop raises
``Cancelled`` whose ``partial`` is the list of takes already saved. A take is saved before the next one starts,
so a stop or a failure never loses a finished take.

Waveform pictures are drawn once per take into the project's ``.cache/waveforms/`` (``waveform_picture``); the
list draws thumbnails from there, and a take whose picture is missing gets it drawn on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from lantern_studio.engines.audio.waveform import write_waveform_png
from lantern_studio.engines.errors import UserInputError
from lantern_studio.engines.jobs import Cancel, Cancelled, Progress, cancel_requested
from lantern_studio.engines.music.base import GenerationRequest, MusicEngine, Take
from lantern_studio.engines.music.takes import TakeStore

WAVEFORM_PX = (480, 72)
THUMBNAIL_PX = (140, 28)


class EngineNotReady(UserInputError):
    """The chosen engine cannot run here (no weights, a missing package); the message says how to fix it."""


def waveform_picture(store: TakeStore, take_id: str, *, audio: np.ndarray | None = None,
                     thumb: bool = False) -> Path | None:
    """The take's waveform PNG (480x72, or a 140x28 thumbnail), drawn on first use and kept in the project's
    ``.cache/waveforms/``. ``audio`` saves reading the take back; None when the take's audio cannot be read."""
    path = store.project.root / ".cache" / "waveforms" / f"{take_id}{'-thumb' if thumb else ''}.png"
    if path.exists():
        return path
    try:
        if audio is None:
            audio = store.load(take_id).audio
        width_px, height_px = THUMBNAIL_PX if thumb else WAVEFORM_PX
        write_waveform_png(audio, path, width_px=width_px, height_px=height_px)
    except (OSError, ValueError, KeyError):   # an unreadable take shows without a picture; the list still works
        return None
    return path


def measured_loudness(take: Take) -> float | None:
    """Integrated loudness (LUFS, BS.1770) of the take's audio; None for silence or audio too short to gate."""
    from lantern_studio.engines.audio.preview import measure_lufs
    try:
        return measure_lufs(take.audio, take.sample_rate)
    except ValueError:
        return None


def ensure_loudness(take: Take) -> float | None:
    """The take's integrated loudness in LUFS: the engine's reading, else measured here (``measured_loudness``).
    Stored on the take, so its saved or exported sidecar has it too."""
    if take.loudness_lufs is None:
        take.loudness_lufs = measured_loudness(take)
    return take.loudness_lufs


def default_name(take: Take) -> str:
    """A take's name when the engine gave none: its preset (or the prompt's start, or the engine) and seed."""
    label = take.preset or (take.prompt[:24] if take.prompt else take.engine)
    return f"{label} {take.seed}"


def finish_and_save(store: TakeStore, take: Take) -> Take:
    """Name an unnamed take, measure its loudness if the engine did not, save it and draw its pictures."""
    if not take.name:
        take.name = default_name(take)
    ensure_loudness(take)
    store.save(take)
    waveform_picture(store, take.id, audio=take.audio)
    waveform_picture(store, take.id, audio=take.audio, thumb=True)
    return take


def generate_takes(engine: MusicEngine, request: GenerationRequest, store: TakeStore, *,
                   progress: Progress | None = None, cancel: Cancel | None = None,
                   on_saved: Callable[[Take], None] | None = None) -> list[Take]:
    """Make ``request.takes`` takes with ``engine`` and save each into ``store`` as it finishes.

    Parameters
    ----------
    engine : MusicEngine
        The composer or MusicGen (anything with ``available()`` and ``generate(request, progress, cancel,
        on_take)``).
    request : GenerationRequest
        What to make; validated first.
    store : TakeStore
        The project's takes; each take is named (if unnamed), measured (integrated LUFS, if the engine did
        not), saved, and given its waveform pictures before ``on_saved(take)`` is called.

    Returns
    -------
    list of Take
        The saved takes, in the order they finished.

    Raises
    ------
    EngineNotReady
        The engine cannot run here; nothing was made.
    UserInputError
        The request is not valid (the message names the setting and the fix).
    Cancelled
        ``cancel`` asked to stop before every take was made; ``partial`` holds the saved takes.
    """
    status = engine.available()
    if not status.ready:
        raise EngineNotReady(f"{engine.name} is not ready: {status.message}")
    try:
        request.validate()
    except ValueError as error:
        raise UserInputError(str(error)) from None
    saved: list[Take] = []

    def on_take(take: Take) -> None:
        saved.append(finish_and_save(store, take))
        if on_saved is not None:
            on_saved(take)

    try:
        engine.generate(request, progress=progress, cancel=cancel, on_take=on_take)
    except Cancelled as stopped:
        raise Cancelled(str(stopped) or "stopped", saved) from None
    if len(saved) < request.takes and cancel_requested(cancel):
        raise Cancelled(f"stopped after {len(saved)} of {request.takes} take(s)", saved)
    return saved
