"""The studio's error vocabulary, shared by every engine (the UI and the CLI turn these into messages).

- :class:`UserInputError`: something the user gave (a file, a setting, a script) cannot be used. Like librosa's
  ``ParameterError`` it is a ``ValueError``, and its message names the input and what to do instead.
- :class:`ModelNotFoundError`: a model, or a part one needs, is not on this machine; the message says where it
  was looked for and the command that fetches it. Nothing is downloaded unless the user asked.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Something the user gave cannot be used; the message names it and the fix."""


class ModelNotFoundError(FileNotFoundError):
    """A model (or a part it needs) is not on this machine; the message says where it looked and how to get it."""


def first_line(error: BaseException, *, limit: int = 200) -> str:
    """The first line of an exception's message (at most ``limit`` characters), else its type's name: enough
    to say why a library refused a file without pasting its traceback into the user's message."""
    text = str(error).strip().splitlines()
    return text[0][:limit] if text else type(error).__name__
