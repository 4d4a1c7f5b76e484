"""An engine's readiness as one short line plus details to expand, with every shell command in a code block.

Engines explain themselves in prose (``EngineStatus.message``) and embed the command a user should run.
Shown as Markdown in a narrow column that prose runs to twenty lines, and Markdown reads the ``*`` of a
glob such as ``allow_patterns=['*.bin']`` as emphasis, so the copied command fails. Here the command is cut
out into a fenced block (copied verbatim) and the remaining prose is escaped.
"""

from __future__ import annotations

import re

# a command an engine tells the user to run: `python -c "..."`, or `python launch.py ...` in backticks
_COMMAND = re.compile(r'`?(python -c "[^"]*"|python launch\.py[^`.;]*)`?')
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")
SHORT_LIMIT = 110


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def commands_in(message: str) -> list[str]:
    """The shell commands quoted in an engine's message, in order."""
    return [match.group(1).strip() for match in _COMMAND.finditer(message or "")]


def short_line(name: str, ready: bool, message: str) -> str:
    """One line of Markdown: the engine, ready or not, and the first sentence of why (commands left out)."""
    prose = _COMMAND.sub("(command below)", message or "").strip()
    first = re.split(r"(?<=[.!?])\s", prose, maxsplit=1)[0] if prose else ""
    if not ready and len(first) > SHORT_LIMIT:   # a ready engine's line names its models: keep them all
        first = first[:SHORT_LIMIT - 1].rstrip() + "…"
    state = "ready" if ready else "not ready"
    return f"**{_escape(name)}**: {state}. {_escape(first)}".rstrip()


def details_markdown(message: str) -> str:
    """The whole message as Markdown: escaped prose, and each command in a ```bash block of its own."""
    parts: list[str] = []
    position = 0
    for match in _COMMAND.finditer(message or ""):
        before = message[position:match.start()].strip()
        if before:
            parts.append(_escape(before))
        parts.append(f"```bash\n{match.group(1).strip()}\n```")
        position = match.end()
    rest = (message or "")[position:].strip()
    if rest:
        parts.append(_escape(rest))
    return "\n\n".join(parts)
