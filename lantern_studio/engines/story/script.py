"""Scripts in, typed elements out: Fountain screenplays and plain Chinese/English scripts.

Two formats are read:

- **Fountain** (https://fountain.io). Each paragraph is classified by screenplain's Fountain parser
  (``screenplain.parsers.fountain``, MIT, maintained): title page, scene headings (including forced
  ``.HEADING``), action, character cues with extensions and dual dialogue ``^``, parentheticals, transitions,
  centered text, sections, synopses, page breaks and emphasis. Around it this module adds what real, messy
  files need and screenplain does not do: notes ``[[...]]`` are kept (screenplain drops them), a scene heading
  or a forced transition typed without the blank line after it is split off before classification (otherwise
  screenplain reads ``EXT. PATIO - DAY`` followed by action as a character speaking), and nothing is dropped:
  a line that is not valid Fountain stays as action.
- **Plain text**, the way creators type Chinese comic-drama scripts: ``第一场 外景 老街 夜`` scene lines,
  ``角色：台词`` dialogue (full- or half-width colon), ``（情绪）`` parentheticals, ``【特写】``/``【推镜头】``
  shot hints, ``标题：`` title lines; the English equivalents (``Scene 1 ...``, ``NAME: line``, ``[CLOSE UP]``)
  work the same way.

:func:`parse_script` is the entry point; :func:`read_script_file` and :func:`check_script_text` refuse files
that are too large, empty or binary with a message that says what to do.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lantern_studio.engines.story.vocabulary import (is_term, parse_scene_line, split_leading_terms,
                                                     strip_shot_prefix)

MAX_SCRIPT_BYTES = 1_000_000
FORMATS = ("auto", "fountain", "plain", "prose")
ELEMENT_KINDS = ("scene", "action", "dialogue", "transition", "centered", "section", "synopsis", "page_break",
                 "sfx")


class ScriptError(ValueError):
    """A script that cannot be read; the message says what is wrong and what to do."""


@dataclass
class Element:
    """One typed piece of a script.

    ``kind`` is one of ELEMENT_KINDS. ``text`` is the plain text (emphasis markers removed; for dialogue the
    spoken words). ``speaker``/``extension``/``parenthetical``/``dual`` are set for dialogue; ``hints`` holds
    shot hints found on the line (``特写``, ``CLOSE UP``, ``推镜头``); ``notes`` holds Fountain ``[[notes]]``;
    ``emphasis`` lists the emphasised spans as written; ``line`` is the 1-based source line.
    """

    kind: str
    text: str = ""
    speaker: str = ""
    extension: str = ""
    parenthetical: str = ""
    dual: bool = False
    hints: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    emphasis: list[str] = field(default_factory=list)
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Script:
    """A parsed script: ``format`` is ``"fountain"``, ``"plain"`` or ``"prose"``, ``language`` ``"zh"`` or ``"en"``;
    ``warnings`` says where the parser had to guess (an unclosed quote, a line kept as action)."""

    title_page: dict[str, list[str]]
    elements: list[Element]
    format: str
    language: str
    warnings: list[str] = field(default_factory=list)     # what was guessed, in words a user can act on

    @property
    def title(self) -> str:
        for key in ("Title", "标题", "片名", "剧名"):
            if self.title_page.get(key):
                return " ".join(self.title_page[key])
        return ""

    def of_kind(self, kind: str) -> list[Element]:
        return [e for e in self.elements if e.kind == kind]

    @property
    def scenes(self) -> list[Element]:
        return self.of_kind("scene")

    def dialogue_counts(self) -> dict[str, int]:
        """Number of dialogue elements per speaker, in order of first appearance."""
        counts: dict[str, int] = {}
        for element in self.of_kind("dialogue"):
            counts[element.speaker] = counts.get(element.speaker, 0) + 1
        return counts


# ------------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------------


def check_script_text(text: Any, *, max_bytes: int = MAX_SCRIPT_BYTES) -> str:
    """Return ``text`` with normalised line endings, or raise ScriptError saying why it cannot be a script."""
    if isinstance(text, (bytes, bytearray)):
        text = decode_script_bytes(bytes(text), max_bytes=max_bytes)
    if not isinstance(text, str):
        raise ScriptError(f"a script must be text, not {type(text).__name__}")
    size = len(text.encode("utf-8", errors="replace"))
    if size > max_bytes:
        raise ScriptError(f"the script is {size / 1e6:.1f} MB; scripts up to {max_bytes / 1e6:.1f} MB are read. "
                          "Split it into episodes and storyboard one at a time.")
    if "\x00" in text:
        raise ScriptError("the script contains NUL bytes, so it looks like a binary file, not text; save it as "
                          "plain text (.fountain or .txt, UTF-8) and try again")
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 200):
        raise ScriptError("the script is mostly control characters, so it looks like a binary file; save it "
                          "as plain text (.fountain or .txt, UTF-8) and try again")
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if not text.strip():
        raise ScriptError("the script is empty; paste a Fountain screenplay or a plain script "
                          "(scene lines, `角色：台词` dialogue) and try again")
    return text


def decode_script_bytes(data: bytes, *, max_bytes: int = MAX_SCRIPT_BYTES) -> str:
    """Decode a script file's bytes (UTF-8, UTF-16 with BOM, or GB18030 for older Chinese files)."""
    if len(data) > max_bytes:
        raise ScriptError(f"the script is {len(data) / 1e6:.1f} MB; scripts up to {max_bytes / 1e6:.1f} MB are "
                          "read. Split it into episodes and storyboard one at a time.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise ScriptError("the file contains NUL bytes, so it looks like a binary file, not a script; save it "
                          "as plain text (.fountain or .txt, UTF-8) and try again")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ScriptError("the file is not UTF-8 or GB18030 text; save it as UTF-8 plain text and try again")


def read_script_file(path: str | Path, *, max_bytes: int = MAX_SCRIPT_BYTES) -> str:
    """Read and check a script file; see :func:`check_script_text`."""
    path = Path(path)
    if not path.is_file():
        raise ScriptError(f"{path} does not exist or is not a file; pass the path of a .fountain or .txt script")
    size = path.stat().st_size
    if size > max_bytes:
        raise ScriptError(f"{path.name} is {size / 1e6:.1f} MB; scripts up to {max_bytes / 1e6:.1f} MB are read. "
                          "Split it into episodes and storyboard one at a time.")
    return check_script_text(decode_script_bytes(path.read_bytes(), max_bytes=max_bytes), max_bytes=max_bytes)


# ------------------------------------------------------------------------------------------------
# shared vocabulary
# ------------------------------------------------------------------------------------------------

_CJK_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_HINT_RE = re.compile(r"【([^】]{1,20})】|\[(?!\[)([^\[\]]{1,24})\](?!\])")
_TRANSITION_WORDS_ZH = ("切至", "切到", "转场", "淡入", "淡出", "叠化", "化入", "化出", "黑场", "闪回", "闪白",
                        "划入", "划出", "硬切")
# what a plain script calls a sound effect line
_SFX_SPEAKERS = {"音效", "声效", "SFX", "Sfx", "sfx", "SOUND", "Sound"}


def detect_language(text: str) -> str:
    """``"zh"`` when CJK characters make up a fair share of the letters, else ``"en"``."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 2 >= latin * 0.5 else "en"


_PAREN_HINT_RE = re.compile(r"[（(]([^（）()]{1,24})[）)]")


def extract_hints(line: str) -> tuple[list[str], str]:
    """Shot hints in ``【】`` or single ``[]`` brackets, or in ``（）``/``()`` when everything inside is shot
    vocabulary (``（近景，推）``; ``（小声）`` stays a parenthetical), and the line without them."""
    hints = [(a or b).strip() for a, b in _HINT_RE.findall(line)]
    rest = _HINT_RE.sub("", line).strip()

    def paren(match: re.Match) -> str:
        parts = [p for p in re.split(r"[,，、/;；\s]+", match.group(1)) if p]
        if parts and all(is_term(p) for p in parts):
            hints.append(match.group(1).strip())
            return ""
        return match.group(0)

    rest = _PAREN_HINT_RE.sub(paren, rest).strip()
    return [h for h in hints if h], rest


# ------------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------------


def parse_script(text: str, *, format: str = "auto") -> Script:
    """Parse a script into typed elements.

    Parameters
    ----------
    text : str
        The whole script. Checked with :func:`check_script_text` (size, binary content, emptiness).
    format : {"auto", "fountain", "plain"}
        ``"auto"`` picks Fountain when the text has Fountain scene headings (``INT.``/``EXT.``/forced
        ``.HEADING``) or uppercase character cues and no ``名字：台词`` lines; otherwise plain.

    Returns
    -------
    Script
        Title page, elements in script order, the format used and the language (``"zh"``/``"en"``).
    """
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    text = check_script_text(text)
    chosen = detect_format(text) if format == "auto" else format
    if chosen == "prose":
        from lantern_studio.engines.story.prose import parse_prose

        script = parse_prose(text)
    else:
        script = _parse_fountain(text) if chosen == "fountain" else _parse_plain(text)
        _mark_supers(script.elements)
    if not script.elements:
        raise ScriptError("no scenes, action or dialogue were found in the script; check that it is a screenplay "
                          "(Fountain) or a plain script with `角色：台词` lines")
    return script


_FOUNTAIN_SLUG_RE = re.compile(r"^(INT|EXT|EST|INT\.?/EXT|I/E)[ .]", re.IGNORECASE)
_PLAIN_DIALOGUE_RE = re.compile(r"^\s*([^\s：:，。,.!?！？【】\[\]（）()]{1,16}(?:\s?[（(][^）)]{1,12}[）)])?)\s*[：:](.*)$")


def detect_format(text: str) -> str:
    """``"fountain"``, ``"plain"`` or ``"prose"``: a best guess from the shape of the lines."""
    lines = [line.strip() for line in text.split("\n")]
    slugs = sum(1 for line in lines if _FOUNTAIN_SLUG_RE.match(line))
    colon_lines = sum(1 for line in lines if "：" in line or (_PLAIN_DIALOGUE_RE.match(line) and _CJK_RE.search(line)))
    plain_scenes = sum(1 for line in lines[:2000] if (_PLAIN_SCENE_RE.match(line) or parse_scene_line(line))
                       and not _FOUNTAIN_SLUG_RE.match(line))
    if plain_scenes:
        return "plain"
    from lantern_studio.engines.story.prose import looks_like_prose

    if not slugs and looks_like_prose(text):
        return "prose"
    if colon_lines > slugs and detect_language(text) == "zh":
        return "plain"
    cues = 0
    for previous, line, following in zip([""] + lines, lines, lines[1:] + [""]):
        if previous == "" and line and following and line.split("(")[0].strip().isupper() and len(line) < 40:
            cues += 1
    if slugs or cues >= 2:
        return "fountain"
    return "plain"


# ------------------------------------------------------------------------------------------------
# Fountain (screenplain classifies; this module keeps notes and splits messy paragraphs)
# ------------------------------------------------------------------------------------------------

_NOTE_RE = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_BONEYARD_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
_EXTENSION_RE = re.compile(r"^(.*?)\s*\(([^)]*)\)\s*$")
_EMPHASIS_RE = re.compile(r"(\*{1,3}|_)(?=\S)(.+?)(?<=\S)\1")


def _is_forced_slug(line: str) -> bool:
    return line.startswith(".") and len(line) > 1 and line[1] not in ". "


def _split_messy_paragraph(lines: list[str]) -> list[list[str]]:
    """Split a paragraph where a scene heading or a forced transition was typed without a blank line after it.

    Valid Fountain never needs this (a heading is always followed by a blank line), so valid input passes
    through unchanged.
    """
    out: list[list[str]] = []
    current: list[str] = []
    for index, raw in enumerate(lines):
        line = raw.strip()
        is_slug = index == 0 and len(lines) > 1 and (_FOUNTAIN_SLUG_RE.match(line) or _is_forced_slug(line))
        is_forced_transition = line.startswith(">") and not line.endswith("<")
        if is_slug or is_forced_transition:
            if current:
                out.append(current)
            out.append([raw])
            current = []
        else:
            current.append(raw)
    if current:
        out.append(current)
    return out


def _paragraphs(body_lines: list[str]) -> list[tuple[int, list[str]]]:
    """Group lines into blank-separated paragraphs: ``(first line number, lines)``."""
    out = []
    for blank, group in itertools.groupby(enumerate(body_lines), key=lambda item: item[1] in ("", " ")):
        group = list(group)
        if not blank:
            out.append((group[0][0], [line for _, line in group]))
    return out


def _emphasis(text: str) -> list[str]:
    return [m.group(2) for m in _EMPHASIS_RE.finditer(text)]


def _parse_fountain(text: str) -> Script:
    try:
        from screenplain.parsers import fountain as sp
        from screenplain import types as spt
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ScriptError("the Fountain parser `screenplain` is not installed; run `pip install screenplain`") \
            from error

    # boneyard (/* ... */) is commented out: remove it but keep line numbers by keeping its newlines
    text = _BONEYARD_RE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    raw_lines = [line.expandtabs(4) for line in text.split("\n")]
    title_page, offset, body = _fountain_title_page(sp, raw_lines)

    elements: list[Element] = []
    pending_notes: list[str] = []
    sp_items: list[Any] = []              # screenplain's own list: dual dialogue looks back at it
    spans: list[tuple[int, int]] = []      # elements[start:end] made from sp_items[i]
    for start, lines in _paragraphs(body):
        line_number = offset + start + 1
        joined = "\n".join(lines)
        notes = [n.strip() for n in _NOTE_RE.findall(joined) if n.strip()]
        cleaned = _NOTE_RE.sub("", joined)
        cleaned_lines = [line for line in cleaned.split("\n") if line.strip() != ""]
        if not cleaned_lines:          # a paragraph of notes only: they belong to the next element
            pending_notes += notes
            continue
        first_new = len(elements)
        for part in _split_messy_paragraph(cleaned_lines):
            first_new = min(first_new, _add_fountain_part(part, sp, spt, sp_items, spans, elements, line_number))
        new = elements[first_new:]
        if new:
            _annotate_paragraph(new, pending_notes + notes, _emphasis(cleaned))
            pending_notes = []
    if pending_notes and elements:
        elements[-1].notes += pending_notes
    elements = _split_directed_action(elements)
    return Script(title_page=title_page, elements=elements, format="fountain",
                  language=detect_language(" ".join(e.text for e in elements)))


def _fountain_title_page(sp: Any, raw_lines: list[str]) -> tuple[dict[str, list[str]], int, list[str]]:
    """The title page (the key: value lines before the first blank line, when screenplain reads them as
    one), the number of lines it takes, and the body's lines after it."""
    title_lines = list(itertools.takewhile(lambda line: line != "", raw_lines))
    title_page = sp.parse_title_page(title_lines) if title_lines else None
    if not title_page:
        return {}, 0, raw_lines
    offset = len(title_lines)
    return ({key: [_strip_emphasis(v) for v in values] for key, values in title_page.items()}, offset,
            raw_lines[offset:])


def _add_fountain_part(part: list[str], sp: Any, spt: Any, sp_items: list[Any], spans: list[tuple[int, int]],
                       elements: list[Element], line_number: int) -> int:
    """Feed one paragraph part to screenplain and append what it made to ``elements``; returns the index of
    the first element made or remade (dual dialogue remakes the dialogue before it)."""
    before = len(sp_items)
    last = sp_items[-1] if sp_items else None
    sp.InputParagraph(part).update_list(sp_items)
    if len(sp_items) == before and sp_items and sp_items[-1] is not last:
        return _remake_as_dual(sp_items[-1], spt, spans, elements, line_number)
    first = len(elements)
    if len(sp_items) == before:
        # nothing new: a synopsis (= ...) attached to the heading before it; never drop the text
        synopsis = getattr(last, "synopsis", None)
        kind, value = ("synopsis", synopsis) if synopsis else ("action", "\n".join(part).strip())
        if synopsis:
            last.synopsis = None
        elements.append(Element(kind, text=str(value).lstrip("= ").strip(), line=line_number))
        return first
    for item in sp_items[before:]:
        made = _from_screenplain(item, spt, line_number)
        spans.append((len(elements), len(elements) + len(made)))
        elements.extend(made)
    return first


def _remake_as_dual(dual: Any, spt: Any, spans: list[tuple[int, int]], elements: list[Element],
                    line_number: int) -> int:
    """Screenplain replaced the previous dialogue with a DualDialog holding both: drop the elements made
    from that dialogue and make both sides from ``dual``, keeping the first side's line and notes. Returns
    where the remade elements start."""
    old_start, _ = spans.pop()
    kept_notes = elements[old_start].notes if old_start < len(elements) else []
    old_line = elements[old_start].line if old_start < len(elements) else line_number
    del elements[old_start:]
    made = _from_screenplain(dual, spt, line_number)
    for element in made:
        if not element.dual:
            element.line = old_line
    if made:
        made[0].notes = kept_notes + made[0].notes
    spans.append((len(elements), len(elements) + len(made)))
    elements.extend(made)
    return old_start


def _annotate_paragraph(new: list[Element], notes: list[str], emphasis: list[str]) -> None:
    """Give a paragraph's elements its notes (and the shot hints in them) and the emphasised words each
    element contains."""
    # a note belongs to the beat it sits in, not to the scene heading typed above it
    holder = next((e for e in new if e.kind != "scene"), new[0])
    holder.notes = holder.notes + notes
    for element in new:
        element.emphasis = [e for e in emphasis if e in element.text or e in element.parenthetical]
        hints, _ = extract_hints(" ".join(element.notes))
        element.hints = list(dict.fromkeys(element.hints + hints))


def _split_directed_action(elements: list[Element]) -> list[Element]:
    """An action line that starts with a shot number or a size/move (``S03 CU PUSH IN Mia looks up``,
    ``CLOSE UP: the ring``) starts a new beat with those hints, even inside a paragraph."""
    out: list[Element] = []
    for element in elements:
        if element.kind != "action":
            out.append(element)
            continue
        current: Element | None = None
        for offset, line in enumerate(element.text.split("\n")):
            numbered, rest = strip_shot_prefix(line)
            terms, rest = split_leading_terms(rest)
            if current is None or numbered or terms:
                if current is not None:
                    out.append(current)
                first = offset == 0         # the paragraph's own hints and notes stay with its first beat
                current = Element("action", text=rest if (numbered or terms) else line,
                                  hints=list(dict.fromkeys((element.hints if first else []) + terms)),
                                  notes=element.notes if first else [], emphasis=element.emphasis,
                                  line=element.line + offset)
            else:
                current.text = current.text + "\n" + line
        if current is not None:
            out.append(current)
    return out


def _strip_emphasis(text: str) -> str:
    from screenplain.richstring import parse_emphasis

    return str(parse_emphasis(text))


def _split_cue(cue: str) -> tuple[str, str]:
    """``'BRICK (V.O.)' -> ('BRICK', 'V.O.')``; a trailing ``^`` is removed by the caller."""
    match = _EXTENSION_RE.match(cue)
    if match:
        return match.group(1).strip(), match.group(2).strip()
    return cue.strip(), ""


def _dialogue_elements(dialog: Any, line: int, *, dual: bool = False) -> list[Element]:
    """A Fountain dialogue block becomes one element per spoken run; a parenthetical goes with the run after
    it (``(pause)`` between lines starts a new beat)."""
    speaker, extension = _split_cue(str(dialog.character).rstrip("^ ").strip())
    out: list[Element] = []
    parenthetical = ""
    spoken: list[str] = []

    def flush() -> None:
        nonlocal parenthetical, spoken
        if spoken or parenthetical:
            out.append(Element("dialogue", text=" ".join(spoken).strip(), speaker=speaker, extension=extension,
                               parenthetical=parenthetical, dual=dual, line=line))
        parenthetical, spoken = "", []

    for is_paren, rich in dialog.blocks:
        text = str(rich).strip()
        if not text:
            continue
        if is_paren:
            if spoken:
                flush()
            parenthetical = (parenthetical + " " + text.strip("()")).strip()
        else:
            spoken.append(text)
    flush()
    return out


def _from_screenplain(item: Any, spt: Any, line: int) -> list[Element]:
    if isinstance(item, spt.Slug):
        text = str(item.line)
        if item.scene_number is not None:
            text = f"{text} #{item.scene_number}#"
        return [Element("scene", text=text, line=line)]
    if isinstance(item, spt.DualDialog):
        left = _dialogue_elements(item.left, line)
        right = _dialogue_elements(item.right, line, dual=True)
        return left + right
    if isinstance(item, spt.Dialog):
        return _dialogue_elements(item, line)
    if isinstance(item, spt.Transition):
        return [Element("transition", text=str(item.line).strip(), line=line)]
    if isinstance(item, spt.Action):
        text = "\n".join(str(x).rstrip() for x in item.lines).strip("\n")
        kind = "centered" if item.centered else "action"
        hints, _ = extract_hints(text) if kind == "action" else ([], text)
        return [Element(kind, text=text, hints=hints, line=line)]
    if isinstance(item, spt.Section):
        out = [Element("section", text=str(item.text), line=line)]
        if item.synopsis:
            out.append(Element("synopsis", text=str(item.synopsis), line=line))
        return out
    if isinstance(item, spt.PageBreak):
        return [Element("page_break", line=line)]
    # anything screenplain grows in the future is kept as action, never dropped
    text = " ".join(str(x) for x in getattr(item, "lines", [])) or str(item)
    return [Element("action", text=text, line=line)]


# ------------------------------------------------------------------------------------------------
# plain text (Chinese or English)
# ------------------------------------------------------------------------------------------------

_CN_NUM = "零一二三四五六七八九十百〇两0-9０-９"
_PLAIN_SCENE_RE = re.compile(
    rf"^\s*(?:第\s*[{_CN_NUM}]+\s*[场幕集节]|场景\s*[{_CN_NUM}]+|(?:内景|外景|内外景)[\s：:]|"
    r"(?:scene|SCENE|Scene)\s+\d+\b|(?:INT|EXT|INT\./EXT|I/E)\.?\s)")
_TITLE_KEYS = {"标题": "Title", "片名": "Title", "剧名": "Title", "title": "Title", "作者": "Author",
               "编剧": "Author", "author": "Author", "credit": "Credit", "draft date": "Draft date",
               "日期": "Draft date"}
_PAREN_RE = re.compile(r"^\s*[（(]([^）)]{1,30})[）)]\s*")
_TRANSITION_EN_RE = re.compile(r"^(?:[A-Z ]+ TO:|FADE (?:IN|OUT)[.:]?|FADE TO BLACK\.?|CUT TO BLACK\.?)$")


def _plain_transition(line: str) -> bool:
    stripped = line.strip().rstrip("：:。.")
    if _TRANSITION_EN_RE.match(line.strip()):
        return True
    return any(stripped == w or stripped.startswith(w + "：") or stripped.startswith(w + ":") or
               (stripped.startswith(w) and len(stripped) <= len(w) + 4) for w in _TRANSITION_WORDS_ZH)


_SUPER_RE = re.compile(r"^\s*(?:SUPER|Super|TITLE CARD|Title card|ON SCREEN|字幕|屏幕字幕|画面字幕|片头字幕)\s*[:：]\s*(.+)$",
                       re.DOTALL)
_SUPER_SPEAKERS = {"SUPER", "Super", "super", "字幕", "屏幕字幕", "画面字幕", "片头字幕", "TITLE CARD", "ON SCREEN"}
_BOOK_TITLE_RE = re.compile(r"^《([^《》]{1,40})》$")


def _mark_supers(elements: list[Element]) -> None:
    """``SUPER: THREE YEARS LATER`` / ``字幕：三年后`` typed as action is on-screen text: a title card."""
    for element in elements:
        if element.kind == "action":
            match = _SUPER_RE.match(element.text)
            if match:
                element.kind, element.text = "centered", match.group(1).strip()


def _parse_plain(text: str) -> Script:
    from lantern_studio.engines.story.tables import find_tables

    lines = text.split("\n")
    title_page, index = _plain_title_page(lines)
    elements: list[Element] = []
    tables = {table.start: table for table in find_tables(lines)}
    skip_to = index
    for number in range(index, len(lines)):
        if number < skip_to:
            continue
        if number in tables:
            table = tables[number]
            elements += _table_elements(table.rows, elements)
            skip_to = table.end
            continue
        raw = lines[number].strip()
        if not raw:
            continue
        if raw.startswith("[[") and raw.endswith("]]"):
            note = raw[2:-2].strip()
            if elements:
                elements[-1].notes.append(note)
            continue
        element = _plain_line(raw, number + 1, title_page)
        if element is not None:
            elements.append(element)
    language = detect_language(text)
    return Script(title_page=title_page, elements=_merge_hint_lines(elements), format="plain", language=language)


def _plain_title_page(lines: list[str]) -> tuple[dict[str, list[str]], int]:
    """The title lines at the top (``标题：年夜饭`` / ``Title: ...``) and the index of the first line after them."""
    title_page: dict[str, list[str]] = {}
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if not line:
            index += 1
            if title_page:
                break
            continue
        match = re.match(r"^([^：:]{1,12})[：:]\s*(.+)$", line)
        key = match.group(1).strip().lower() if match else ""
        if match and key in _TITLE_KEYS:
            title_page.setdefault(_TITLE_KEYS[key], []).append(match.group(2).strip())
            index += 1
            continue
        break
    return title_page, index


def _plain_line(raw: str, line_no: int, title_page: dict[str, list[str]]) -> Element | None:
    """The element one non-blank line makes: a scene heading, a transition, a hint-only line (an empty action)
    or a beat; ``None`` for a title line, which goes into ``title_page`` instead."""
    raw = raw.lstrip("△▲·•").strip()
    book_title = _BOOK_TITLE_RE.match(raw)
    title_key = re.match(r"^(标题|片名|剧名|Title|TITLE)\s*[：:]\s*(.+)$", raw)
    if book_title or title_key:     # a title line sets the title; it is never a shot
        title_page.setdefault("Title", []).append((book_title or title_key).groups()[-1].strip())
        return None
    if _PLAIN_SCENE_RE.match(raw) or parse_scene_line(raw):
        return Element("scene", text=raw, line=line_no)
    if _plain_transition(raw):
        return Element("transition", text=raw.rstrip("：:"), line=line_no)
    _, raw = strip_shot_prefix(raw)
    hints, rest = extract_hints(raw)
    leading, rest = split_leading_terms(rest)
    hints += leading
    if not rest:           # a hint on its own line applies to the next beat
        return Element("action", text="", hints=hints, line=line_no)
    return _plain_beat(rest, hints, line_no)


def _plain_beat(rest: str, hints: list[str], line_no: int) -> Element:
    """A ``cue：text`` line as dialogue, a sound effect, a super or a framed action; any other line is action."""
    match = _PLAIN_DIALOGUE_RE.match(rest)
    if match and not rest.startswith(("http", "www")):
        cue, spoken = match.group(1).strip(), match.group(2).strip()
        speaker, extension = _split_cue(cue.replace("（", "(").replace("）", ")"))
        if speaker in _SFX_SPEAKERS:
            return Element("sfx", text=spoken, hints=hints, line=line_no)
        if speaker in _SUPER_SPEAKERS and spoken:
            return Element("centered", text=spoken, hints=hints, line=line_no)
        if all(is_term(part) for part in re.split(r"[\s,，、/]+", speaker) if part):
            # "特写：小雨的眼睛": the cue is a shot size or move, the rest is what we see
            more, spoken = split_leading_terms(spoken)
            return Element("action", text=spoken, hints=hints + [speaker] + more, line=line_no)
        if extension and all(is_term(part) for part in re.split(r"[\s,，、/]+", extension) if part):
            hints, extension = hints + [extension], ""
        if spoken:
            parenthetical = ""
            paren = _PAREN_RE.match(spoken)
            if paren:
                parenthetical, spoken = paren.group(1).strip(), spoken[paren.end():].strip()
            return Element("dialogue", text=spoken, speaker=speaker, extension=extension,
                           parenthetical=parenthetical, hints=hints, line=line_no)
    return Element("action", text=rest, hints=hints, line=line_no)


def _merge_hint_lines(elements: list[Element]) -> list[Element]:
    """Hint-only lines (empty actions) dropped, their hints moved to the next beat (never to a scene heading
    or a transition)."""
    merged: list[Element] = []
    carry: list[str] = []
    for element in elements:
        if element.kind == "action" and not element.text:
            carry += element.hints
            continue
        if carry and element.kind not in ("scene", "transition"):
            element.hints = carry + element.hints
            carry = []
        merged.append(element)
    return merged


def _table_elements(rows: list[Any], before: list[Element]) -> list[Element]:
    """Elements from the rows of a pasted shot table (:mod:`engines.story.tables`): a scene cell that changes
    starts a scene; the picture is action, the line is dialogue (``角色：台词`` in the cell, or the speaker
    column, else narration); both carry the row's size and move."""
    out: list[Element] = []
    current = next((e.text for e in reversed(before) if e.kind == "scene"), "")
    for row in rows:
        if row.scene and row.scene != current:
            out.append(Element("scene", text=row.scene, line=row.line))
            current = row.scene
        made: list[Element] = []
        if row.action:
            made.append(Element("action", text=row.action, hints=list(row.hints), line=row.line))
        if row.dialogue:
            speaker, spoken, extension = row.speaker, row.dialogue, ""
            match = _PLAIN_DIALOGUE_RE.match(spoken)
            if not speaker and match:
                speaker, spoken = match.group(1).strip(), match.group(2).strip()
                speaker, extension = _split_cue(speaker.replace("（", "(").replace("）", ")"))
            if row.narration or not speaker:
                speaker = speaker or "旁白"
            parenthetical = ""
            paren = _PAREN_RE.match(spoken)
            if paren:
                parenthetical, spoken = paren.group(1).strip(), spoken[paren.end():].strip()
            made.append(Element("dialogue", text=spoken, speaker=speaker, extension=extension,
                                parenthetical=parenthetical, hints=list(row.hints), line=row.line))
        if not made:
            made.append(Element("action", text="", hints=list(row.hints), line=row.line))
        made[0].notes += row.notes
        out += made
        if row.sfx:
            out.append(Element("sfx", text=row.sfx, line=row.line))
    return out
