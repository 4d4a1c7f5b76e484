"""The one place the studio maps the job protocol (``engines.jobs``) to ``gr.Progress`` and a Stop button.

An engine job takes ``progress(fraction, message)`` and ``cancel`` (see ``engines.jobs``). A tab gives it:

- ``gr_progress(progress)``: the handler's ``gr.Progress`` as the job's ``progress`` callback (fractions are
  clamped to [0, 1], the message becomes the bar's text);
- a per-window Stop flag from :class:`StopFlags`: ``with stops.running(request) as cancel:`` hands the job a
  ``threading.Event`` that this window's Stop button sets (``stops.stop_handler(...)`` is that button's handler).
  Windows are told apart by Gradio's session hash, so Stop in one window never stops another window's job;
- ``stream_job(work, progress)`` for a job whose finished items (takes, panels) should reach the page while it
  runs: ``work(report, emit)`` runs in a worker thread, ``report`` is its progress callback and ``emit(item)``
  hands a finished item over; the generator yields each item in the handler's thread (where Gradio's progress
  and yields belong), and re-raises the job's exception there, after the items that finished before it.

Typical use in a generator handler::

    def do_generate(ctx, ..., request: gr.Request, progress=gr.Progress()):
        with STOPS.running(request) as cancel:
            for take in stream_job(lambda report, emit: engine.generate(job, progress=report, cancel=cancel,
                                                                        on_take=emit), progress):
                yield outputs_showing(take)

    stop.click(STOPS.stop_handler("Stopping after the take in progress."), None, status, queue=False)
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any, Callable, Iterator

import gradio as gr

from lantern_studio.engines.jobs import Progress, no_progress

NOTHING_RUNNING = "Nothing is running."

Work = Callable[[Progress, Callable[[Any], None]], Any]


def gr_progress(progress: Any) -> Progress:
    """The job protocol's ``progress(fraction, message)`` drawn on a ``gr.Progress`` (or any callable taking
    ``(fraction, desc=...)``); None gives a callback that does nothing."""
    if progress is None:
        return no_progress

    def report(fraction: float, message: str) -> None:
        progress(max(0.0, min(1.0, float(fraction))), desc=str(message))
    return report


def window_key(request: Any) -> str:
    """The key of the browser window a ``gr.Request`` came from (its session hash); "default" without one."""
    return getattr(request, "session_hash", None) or "default"


class StopFlags:
    """One Stop flag per browser window for a kind of job (make one per tab or per Stop button).

    ``running(request)`` makes a fresh flag for the window's job and forgets it when the job ends; ``stop(request)``
    sets the window's flag, if a job of this kind is running there.
    """

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def running(self, request: Any) -> Iterator[threading.Event]:
        """The ``cancel`` for the job this window starts now (a ``threading.Event``), valid inside the block."""
        key, flag = window_key(request), threading.Event()
        with self._lock:
            self._flags[key] = flag
        try:
            yield flag
        finally:
            with self._lock:
                if self._flags.get(key) is flag:
                    del self._flags[key]

    def is_running(self, request: Any) -> bool:
        with self._lock:
            return window_key(request) in self._flags

    def stop(self, request: Any) -> bool:
        """Ask this window's running job to stop; False when none is running."""
        with self._lock:
            flag = self._flags.get(window_key(request))
        if flag is None:
            return False
        flag.set()
        return True

    def stop_handler(self, stopping: str, idle: str = NOTHING_RUNNING) -> Callable[..., str]:
        """A Stop button's handler (inputs None, one Markdown output): it stops this window's job and says
        ``stopping``, or says ``idle`` when nothing runs. Wire it with ``queue=False`` so it is not queued
        behind the job it stops."""
        def on_stop(request: gr.Request = None) -> str:   # Gradio fills a parameter annotated gr.Request
            return stopping if self.stop(request) else idle
        return on_stop


def stream_job(work: Work, progress: Any = None, *, name: str = "lantern-job") -> Iterator[Any]:
    """Run ``work(report, emit)`` in a worker thread and yield each item it ``emit``s, in this thread.

    ``report(fraction, message)`` updates ``progress`` (a ``gr.Progress``, see :func:`gr_progress`) from this
    thread. The generator ends when ``work`` returns; an exception ``work`` raises (``engines.jobs.Cancelled``
    included) is raised here after every item emitted before it was yielded.
    """
    show = gr_progress(progress)
    events: queue.Queue = queue.Queue()

    def run() -> None:
        try:
            work(lambda fraction, message: events.put(("progress", (fraction, message))),
                 lambda item: events.put(("item", item)))
            events.put(("done", None))
        except BaseException as error:   # handed to the handler's thread, which raises it
            events.put(("error", error))

    threading.Thread(target=run, name=name, daemon=True).start()
    show(0.0, "starting")
    while True:
        kind, payload = events.get()
        if kind == "progress":
            show(*payload)
        elif kind == "item":
            yield payload
        elif kind == "error":
            raise payload
        else:
            return
