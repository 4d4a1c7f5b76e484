"""Refusals as messages, never as error badges over content.

A handler that raises ``gr.Error`` marks every one of its output components with a red Error badge that hides
the takes list, the picker or the shot list until the page is reloaded. ``keep_outputs`` turns such a refusal
into a warning toast (and, where the handler has one, a status line) and leaves every other output as it was.
Ordinary user mistakes are logged in one line, without a traceback.
"""

from __future__ import annotations

import functools
import html
import inspect
import logging
from typing import Any, Callable

import gradio as gr

log = logging.getLogger("lantern_studio.studio")


def error_text(error: gr.Error) -> str:
    return str(getattr(error, "message", None) or error)


def unchanged_outputs(count: int, *, status_index: int | None = None, message: str = "") -> Any:
    """``count`` outputs left as they are, except a status line at ``status_index`` that gets ``message``."""
    values = [gr.update() for _ in range(count)]
    if status_index is not None:
        values[status_index] = f"⚠️ {html.escape(message)}"
    return values[0] if count == 1 else tuple(values)


def keep_outputs(count: int, *, status_index: int | None = None) -> Callable[[Callable], Callable]:
    """Decorate a handler with ``count`` outputs so a ``gr.Error`` it raises becomes a warning toast (and the
    message in the status output at ``status_index``) instead of error badges on every output.

    Works for plain handlers and for generators (a refusal after some updates keeps those updates). The
    wrapper keeps the handler's signature, so Gradio still passes ``gr.Request``, ``gr.Progress`` and
    ``gr.SelectData``.
    """
    def decorate(handler: Callable) -> Callable:
        def refuse(error: gr.Error) -> Any:
            message = error_text(error)
            log.info("refused: %s", message)
            gr.Warning(message)
            return unchanged_outputs(count, status_index=status_index, message=message)

        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def run_generator(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except gr.Error as error:
                    yield refuse(error)
            return run_generator

        @functools.wraps(handler)
        def run(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except gr.Error as error:
                return refuse(error)
        return run
    return decorate


def quiet(check: Callable) -> Callable:
    """Wrap a check that has no outputs: its refusal stays the same error toast, but the terminal gets one log
    line instead of Gradio's traceback (a user's ordinary mistake is not a crash)."""
    @functools.wraps(check)
    def run(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except gr.Error as error:
            message = error_text(error)
            log.info("refused: %s", message)
            raise gr.Error(message, print_exception=False) from None
    return run
