"""Refusals as messages, never as error badges over content, and never as tracebacks in the terminal.

A user's ordinary mistake reaches the studio as a ``gr.Error`` a handler raises or as an engine's
``UserInputError`` (``engines.errors``). Either way the user sees the message (a toast, and a status line where
the handler has one) and the terminal gets one line, ``lantern studio: refused: <message>``; a traceback is
kept for real crashes.

- ``quiet_refusals(demo)`` applies this to every event handler of the built app at once (the studio calls it
  after building its tabs), so no tab has to remember it.
- ``keep_outputs(count)`` also keeps a refused handler's outputs as they were: a ``gr.Error`` would mark every
  output with a red Error badge that hides the takes list, the picker or the shot list until a reload.
  ``bind(ctx, handler, count)`` is ``ctx.bind`` with it, for a tab's module-level handler.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
import sys
from typing import TYPE_CHECKING, Any, Callable

import gradio as gr

from lantern_studio.engines.errors import UserInputError

if TYPE_CHECKING:
    from lantern_studio.studio.context import StudioContext

log = logging.getLogger("lantern_studio.studio")

#: The refusal of every Storyboard step that needs shots before any exist.
NO_SHOTS = "There is no shot list yet: paste a script (or a prose chapter) in the Script step and parse it"

#: What counts as the user's mistake rather than a crash.
MISTAKES = (gr.Error, UserInputError)
_QUIET = "_lantern_quiet"


def _one_line_log() -> None:
    """Refusals go to stderr as one line, whatever logging the host application set up (or did not)."""
    if not any(getattr(h, _QUIET, False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("lantern studio: %(message)s"))
        setattr(handler, _QUIET, True)
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


_one_line_log()


def error_text(error: BaseException) -> str:
    """The message of a ``gr.Error`` or an engine's error, without the quotes ``gr.Error.__str__`` adds."""
    return str(getattr(error, "message", None) or error) if isinstance(error, gr.Error) else str(error)


def log_refusal(error: BaseException) -> str:
    """Log a refusal in one line (its message's first line) and return its whole message."""
    message = error_text(error)
    log.info("refused: %s", (message.strip().splitlines() or [type(error).__name__])[0][:300])
    return message


def as_quiet_error(error: BaseException) -> gr.Error:
    """The same refusal as a ``gr.Error`` that Gradio shows as a toast without printing a traceback."""
    if isinstance(error, gr.Error):
        return gr.Error(error_text(error), duration=error.duration, visible=error.visible, title=error.title,
                        print_exception=False)
    return gr.Error(error_text(error), print_exception=False)


def unchanged_outputs(count: int, *, status_index: int | None = None, message: str = "") -> Any:
    """``count`` outputs left as they are, except a status line at ``status_index`` that gets ``message``."""
    values = [gr.update() for _ in range(count)]
    if status_index is not None:
        values[status_index] = f"⚠️ {html.escape(message)}"
    return values[0] if count == 1 else tuple(values)


def keep_outputs(count: int, *, status_index: int | None = None) -> Callable[[Callable], Callable]:
    """Decorate a handler with ``count`` outputs so a refusal it raises (``gr.Error`` or ``UserInputError``)
    becomes a warning toast (and the message in the status output at ``status_index``) instead of error badges
    on every output.

    Works for plain handlers and for generators (a refusal after some updates keeps those updates). The
    wrapper keeps the handler's signature, so Gradio still passes ``gr.Request``, ``gr.Progress`` and
    ``gr.SelectData``.
    """
    def decorate(handler: Callable) -> Callable:
        def refuse(error: BaseException) -> Any:
            message = log_refusal(error)
            gr.Warning(message)
            return unchanged_outputs(count, status_index=status_index, message=message)

        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def run_generator(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except MISTAKES as error:
                    yield refuse(error)
            return run_generator

        @functools.wraps(handler)
        def run(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except MISTAKES as error:
                return refuse(error)
        return run
    return decorate


def bind(ctx: StudioContext, handler: Callable, outputs: int | None = None, status: int | None = None) -> Callable:
    """``ctx.bind(handler)``; with ``outputs``, a refusal also becomes a toast (and the status output at
    ``status``) and leaves the other outputs as they were (:func:`keep_outputs`)."""
    bound = ctx.bind(handler)
    return keep_outputs(outputs, status_index=status)(bound) if outputs else bound


def quiet(handler: Callable) -> Callable:
    """Wrap a handler so a refusal it raises stays an error toast, but the terminal gets one log line instead
    of Gradio's traceback (a user's ordinary mistake is not a crash). Plain, generator, async and async
    generator handlers keep their kind and signature; wrapping twice changes nothing."""
    if getattr(handler, _QUIET, False):
        return handler

    def convert(error: BaseException) -> gr.Error:
        log_refusal(error)
        return as_quiet_error(error)

    if inspect.isasyncgenfunction(handler):
        @functools.wraps(handler)
        async def wrapped(*args, **kwargs):
            try:
                async for item in handler(*args, **kwargs):
                    yield item
            except MISTAKES as error:
                raise convert(error) from None
    elif inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def wrapped(*args, **kwargs):
            try:
                return await handler(*args, **kwargs)
            except MISTAKES as error:
                raise convert(error) from None
    elif inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def wrapped(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except MISTAKES as error:
                raise convert(error) from None
    else:
        @functools.wraps(handler)
        def wrapped(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except MISTAKES as error:
                raise convert(error) from None
    setattr(wrapped, _QUIET, True)
    return wrapped


def quiet_refusals(demo: gr.Blocks) -> int:
    """Make every event handler of ``demo`` (built, not yet launched) refuse quietly (see :func:`quiet`).
    Returns how many handlers were wrapped."""
    wrapped = 0
    for block_fn in demo.fns.values():
        if block_fn.fn is not None and not getattr(block_fn.fn, _QUIET, False):
            block_fn.fn = quiet(block_fn.fn)
            wrapped += 1
    return wrapped
