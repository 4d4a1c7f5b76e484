"""The one protocol every long job speaks: progress out, cancellation in, and one way to stop.

A job (composing or generating takes, rendering panels or pages, the animatic, the mixer's render and export,
speaking the lines, preparing previews) takes two optional arguments:

- ``progress(fraction, message)``: called with a fraction in [0, 1] and a short message as work finishes;
- ``cancel``: a ``threading.Event`` or a callable returning True once the user asked to stop.

It checks ``cancel`` between units of work (a take, a panel, a frame block, a line) with :func:`check_cancel`,
which raises :class:`Cancelled` carrying what finished before the stop (already saved where the job saves). The
studio maps ``progress`` to ``gr.Progress`` and a Stop button to ``cancel`` in one place; the CLI prints progress.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Union

Progress = Callable[[float, str], None]
Cancel = Union[threading.Event, Callable[[], bool]]


class Cancelled(Exception):
    """A job stopped because the user asked. ``partial`` holds what finished before the stop (takes, panels,
    spoken lines ...), each complete and, where the job saves, saved."""

    def __init__(self, message: str, partial: Iterable[Any] | dict = ()):
        super().__init__(message)
        self.partial = partial if isinstance(partial, dict) else list(partial)


def cancel_requested(cancel: Cancel | None) -> bool:
    """Whether ``cancel`` (None, a ``threading.Event`` or a callable) says stop."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    if callable(cancel):
        return bool(cancel())
    raise ValueError(f"cancel must be a threading.Event or a callable returning bool, not {type(cancel).__name__}")


def check_cancel(cancel: Cancel | None, message: str, partial: Iterable[Any] | dict = ()) -> None:
    """Raise :class:`Cancelled` (with ``message`` and what finished) when ``cancel`` says stop."""
    if cancel_requested(cancel):
        raise Cancelled(message, partial)


def no_progress(fraction: float, message: str) -> None:
    """The ``progress`` of a job nobody watches."""
