"""Shot tables pasted into a script: Markdown tables (``| 镜号 | 景别 | 运镜 | 画面 | 台词 |``) and tab-separated
rows copied from a spreadsheet, Chinese or English headers.

:func:`find_tables` finds each table (a header row that names a shot-size or camera-move column, then its rows)
and reads every row into a :class:`TableRow`; the script parser turns those into elements. No cell is dropped:
columns this module does not know go into the row's notes as ``header: value``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# column roles, by header words (checked in order: the first role whose word the header contains wins)
_ROLES = (
    ("size", ("景别", "shot size", "size", "framing")),
    ("move", ("运镜", "镜头运动", "拍摄方式", "运动", "拍法", "camera move", "movement", "move", "camera")),
    ("number", ("镜号", "序号", "编号", "镜头号", "shot #", "shot no", "shot", "no.", "no", "#")),
    ("scene", ("场景", "场次", "地点", "scene", "location")),
    ("speaker", ("角色", "人物", "说话人", "character", "speaker", "who")),
    ("dialogue", ("台词", "对白", "旁白", "dialogue", "lines", "line", "voice")),
    ("sfx", ("音效", "声音", "sfx", "sound")),
    ("duration", ("时长", "秒数", "duration", "time", "secs", "seconds")),
    ("action", ("画面", "内容", "描述", "动作", "镜头内容", "action", "description", "visual", "picture", "shot")),
    ("notes", ("备注", "说明", "notes", "note", "remarks")),
)
_NARRATION_HEADERS = ("旁白", "画外音", "narration", "voice over", "vo")


@dataclass
class TableRow:
    """One row of a shot table: the parts the parser needs, and ``line`` (1-based) where it was."""

    line: int
    scene: str = ""
    hints: list[str] = field(default_factory=list)
    action: str = ""
    speaker: str = ""
    dialogue: str = ""
    narration: bool = False
    sfx: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Table:
    start: int          # 0-based index of the header line
    end: int            # 0-based index one past the last row
    rows: list[TableRow]


def _cells(line: str) -> list[str] | None:
    """The cells of a Markdown (``| a | b |``) or tab-separated line, or None when it is neither."""
    stripped = line.strip()
    if "\t" in stripped and stripped.count("\t") >= 1 and "|" not in stripped:
        return [c.strip() for c in stripped.split("\t")]
    if stripped.count("|") >= 2 or (stripped.startswith("|") and stripped.count("|") >= 1):
        body = stripped.strip("|")
        return [c.strip() for c in body.split("|")]
    return None


def _is_rule(cells: list[str]) -> bool:
    return all(re.fullmatch(r":?-{2,}:?", c.strip()) for c in cells if c.strip()) and any(c.strip() for c in cells)


def _role(header: str) -> str | None:
    low = header.strip().lower()
    if not low:
        return None
    for role, words in _ROLES:
        for word in words:
            if role == "number":
                if low == word or (not re.search(r"[a-z#]", word) and word in low):
                    return role
                continue
            if re.search(r"[a-z#]", word):
                if low == word or re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", low):
                    return role
            elif word in low:
                return role
    return None


def _header_roles(cells: list[str]) -> list[str | None] | None:
    roles = [_role(c) for c in cells]
    if "size" not in roles and "move" not in roles:
        return None
    return roles


def find_tables(lines: list[str]) -> list[Table]:
    """Every shot table in ``lines``: a header with a size (景别/Size) or move (运镜/Camera) column, then rows
    with the same separator, until a line that is not a row."""
    tables: list[Table] = []
    index = 0
    while index < len(lines):
        cells = _cells(lines[index])
        roles = _header_roles(cells) if cells else None
        if not roles:
            index += 1
            continue
        headers = cells
        tab = "\t" in lines[index] and "|" not in lines[index]
        rows: list[TableRow] = []
        end = index + 1
        while end < len(lines):
            line = lines[end]
            if not line.strip():
                break
            row_cells = _cells(line)
            if row_cells is None or (("\t" in line and "|" not in line) != tab):
                break
            end += 1
            if _is_rule(row_cells):
                continue
            rows.append(_read_row(row_cells, headers, roles, end))
        tables.append(Table(start=index, end=end, rows=rows))
        index = end
    return tables


def _read_row(cells: list[str], headers: list[str], roles: list[str | None], line: int) -> TableRow:
    row = TableRow(line=line)
    for position, value in enumerate(cells):
        value = value.strip()
        if not value:
            continue
        role = roles[position] if position < len(roles) else None
        header = headers[position] if position < len(headers) else f"column {position + 1}"
        if role in ("size", "move"):
            row.hints += [h for h in re.split(r"[,，、/;；]\s*|\s{2,}", value) if h.strip()] or [value]
        elif role == "scene":
            row.scene = value
        elif role == "action":
            row.action = f"{row.action} {value}".strip() if row.action else value
        elif role == "speaker":
            row.speaker = value
        elif role == "dialogue":
            row.dialogue = value
            row.narration = row.narration or header.strip().lower() in _NARRATION_HEADERS
        elif role == "sfx":
            row.sfx = value
        elif role == "number":
            continue              # shots are renumbered; the number says nothing else
        else:                     # duration, notes and columns of unknown use: kept as notes
            row.notes.append(f"{header.strip()}: {value}" if header.strip() else value)
    return row
