"""The 分镜 vocabulary: shot sizes, camera moves, numbered-shot prefixes and scene lines, Chinese and English.

Writers put this vocabulary in many places; this module only recognises it, the parser decides where to look:

- :func:`size_of` / :func:`move_of` name the shot size or camera move a term or bracketed hint means
  (``"特写" -> "CU"``, ``"推镜头" -> "push_in"``, ``"PULL OUT" -> "pull_out"``);
- :func:`split_leading_terms` takes the terms a line starts with (``"近景 推 小雨抬头"``,
  ``"CU / PUSH IN — Mia looks up"``) off the line, so plain words outside brackets count as hints;
- :func:`strip_shot_prefix` removes a numbered-shot prefix (``镜头3``, ``第3镜``, ``S03``, ``#3``, ``Shot 3``);
- :func:`parse_scene_line` reads a scene line whose parts come in any order (``外 老街 夜``,
  ``1-2 夜 内 奶奶家``, ``EXT. STREET - NIGHT``, ``黄昏·江边·外景``) into interior/exterior, time of day and place.

The moves are mapped onto the renderer's eight moves (``model.CAMERA_MOVES``): a tracking or following move
(``移``, ``跟``, ``TRACK``) draws as a pan, a crane (``升``/``降``) as a tilt, a whip pan (``甩``) as a pan and
a handheld wobble (``晃``) as shake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

# checked in order: longer, more specific terms first
SIZE_TERMS = (
    ("大远景", "EWS"), ("极远景", "EWS"), ("大全景", "EWS"), ("远景", "EWS"), ("中全景", "WS"), ("全景", "WS"),
    ("中近景", "MCU"), ("近景", "MCU"), ("大特写", "ECU"), ("极特写", "ECU"), ("特写", "CU"), ("中景", "MS"),
    ("extreme wide", "EWS"), ("extreme long", "EWS"), ("establishing", "EWS"), ("ews", "EWS"), ("els", "EWS"),
    ("xls", "EWS"), ("extreme close", "ECU"), ("ecu", "ECU"), ("xcu", "ECU"), ("bcu", "ECU"), ("insert", "ECU"),
    ("medium close", "MCU"), ("mcu", "MCU"), ("close", "CU"), ("cu", "CU"), ("medium wide", "WS"),
    ("mws", "WS"), ("mls", "WS"), ("wide", "WS"), ("long shot", "WS"), ("full shot", "WS"), ("ws", "WS"),
    ("ls", "WS"), ("medium", "MS"), ("mid shot", "MS"), ("ms", "MS"),
)
MOVE_TERMS = (
    ("推镜头", "push_in"), ("推近", "push_in"), ("推镜", "push_in"), ("推", "push_in"),
    ("拉镜头", "pull_out"), ("拉远", "pull_out"), ("拉镜", "pull_out"), ("拉", "pull_out"),
    ("左摇", "pan_left"), ("右摇", "pan_right"), ("上摇", "tilt_up"), ("下摇", "tilt_down"),
    ("左移", "pan_left"), ("右移", "pan_right"), ("横移", "pan_right"), ("移镜头", "pan_right"), ("移", "pan_right"),
    ("跟镜头", "pan_right"), ("跟拍", "pan_right"), ("跟", "pan_right"),
    ("升镜头", "tilt_up"), ("升", "tilt_up"), ("降镜头", "tilt_down"), ("降", "tilt_down"),
    ("甩镜头", "pan_right"), ("甩", "pan_right"),
    ("摇镜头", "pan_right"), ("横摇", "pan_right"), ("摇", "pan_right"),
    ("晃镜头", "shake"), ("晃动", "shake"), ("抖动", "shake"), ("震动", "shake"), ("手持", "shake"), ("晃", "shake"),
    ("固定镜头", "static"), ("固定", "static"),
    ("push in", "push_in"), ("push-in", "push_in"), ("dolly in", "push_in"), ("zoom in", "push_in"),
    ("pull out", "pull_out"), ("pull back", "pull_out"), ("pull-out", "pull_out"), ("dolly out", "pull_out"),
    ("zoom out", "pull_out"), ("dolly", "push_in"),
    ("pan left", "pan_left"), ("pan right", "pan_right"), ("whip pan", "pan_right"), ("pan", "pan_right"),
    ("truck left", "pan_left"), ("track left", "pan_left"), ("tracking", "pan_right"), ("track", "pan_right"),
    ("truck", "pan_right"), ("crane up", "tilt_up"), ("crane down", "tilt_down"), ("boom up", "tilt_up"),
    ("boom down", "tilt_down"), ("tilt up", "tilt_up"), ("tilt down", "tilt_down"), ("tilt", "tilt_up"),
    ("shake", "shake"), ("handheld", "shake"), ("static", "static"), ("locked off", "static"),
    ("locked", "static"),
)
# what a Chinese term may carry that adds nothing: 镜头 (lens)
_FILLERS_ZH = ("镜头", "镜")


def _match(hint: str, terms) -> str | None:
    low = hint.lower()
    for term, value in terms:
        if re.search(r"[a-z]", term):
            if re.search(rf"(?<![a-z]){re.escape(term)}(?![a-z])", low):
                return value
        elif term in hint:
            return value
    return None


def size_of(hints: Iterable[str]) -> str | None:
    """The shot size the first hint that names one means (``"特写" -> "CU"``, ``"CLOSE UP" -> "CU"``), or None."""
    for hint in hints:
        value = _match(hint, SIZE_TERMS)
        if value:
            return value
    return None


def move_of(hints: Iterable[str]) -> str | None:
    """The camera move the first hint that names one means (``"推镜头" -> "push_in"``), or None."""
    for hint in hints:
        value = _match(hint, MOVE_TERMS)
        if value:
            return value
    return None


def _exact_terms() -> set[str]:
    out = set()
    for term, _ in SIZE_TERMS + MOVE_TERMS:
        out.add(term.lower())
    return out


_EXACT = _exact_terms()
# English terms may be followed by "shot", "up" (CLOSE UP), written with a hyphen (CLOSE-UP)
_EN_TERM_RE = re.compile(
    r"(?:extreme\s+close(?:[\s-]+up)?|extreme\s+(?:wide|long)(?:\s+shot)?|medium\s+close(?:[\s-]+up)?|"
    r"medium\s+wide(?:\s+shot)?|close(?:[\s-]+up)?|wide(?:\s+shot)?|long\s+shot|full\s+shot|mid\s+shot|"
    r"medium(?:\s+shot)?|establishing(?:\s+shot)?|push[\s-]+in|pull[\s-]+(?:out|back)|dolly(?:\s+(?:in|out))?|"
    r"zoom\s+(?:in|out)|whip\s+pan|pan(?:\s+(?:left|right))?|tilt(?:\s+(?:up|down))?|"
    r"(?:truck|track)(?:ing)?(?:\s+(?:left|right))?|crane\s+(?:up|down)|boom\s+(?:up|down)|handheld|shake|"
    r"static|locked(?:\s+off)?|ews|els|xls|ecu|xcu|bcu|mcu|mws|mls|cu|ws|ls|ms|insert)(?![a-z])",
    re.IGNORECASE)


def is_term(token: str) -> bool:
    """Whether ``token`` (one word or phrase, nothing else) is a size or a move: ``推``, ``推镜头``, ``CU``."""
    token = token.strip()
    if not token:
        return False
    if re.search(r"[A-Za-z]", token):
        match = _EN_TERM_RE.fullmatch(token)
        return bool(match)
    bare = token
    for filler in _FILLERS_ZH:
        if bare.endswith(filler) and len(bare) > len(filler):
            bare = bare[: -len(filler)]
            break
    return token in _EXACT or bare in _EXACT


_SEP = r"[\s,，、/|·•:：\-–—]+"
_ZH_TOKEN_RE = re.compile(r"[^\s,，、/|·•:：\-–—A-Za-z]+")


def split_leading_terms(line: str) -> tuple[list[str], str]:
    """Take the size and move terms a line starts with off it: ``"近景 推 小雨抬头" -> (["近景", "推"], "小雨抬头")``.

    A term counts only as a whole word followed by a separator (space, comma, ``/``, ``·``, a colon or a
    dash), so ``推开门`` keeps its ``推``. The line is returned unchanged when it starts with no term, or when
    nothing but terms is left (a bare ``特写`` line is a hint line, handled by the caller).
    """
    rest = line.lstrip()
    terms: list[str] = []
    while rest:
        match = _EN_TERM_RE.match(rest) if re.match(r"[A-Za-z]", rest) else _ZH_TOKEN_RE.match(rest)
        if not match:
            break
        token = match.group(0)
        after = rest[match.end():]
        separator = re.match(_SEP, after)
        if not is_term(token) or (after and not separator):
            break
        if re.match(r"[A-Za-z]", token) and not token.isupper() and (not separator or not separator.group(0).strip()
                                                                    or separator.group(0) == "-"):
            break           # "Static crackles", "Wide-eyed": an English word, not a direction, unless set off
        if separator and separator.group(0) == "-":
            break
        terms.append(token.strip())
        rest = after[separator.end():] if separator else ""
    if not terms:
        return [], line.strip()
    return terms, rest.strip()


_NUM = "零一二三四五六七八九十百〇两0-9０-９"
_SHOT_PREFIX_RE = re.compile(
    rf"^\s*(?:镜头\s*[{_NUM}]+|第\s*[{_NUM}]+\s*(?:镜头|镜)|分镜\s*[{_NUM}]+|[Ss]\s*\d{{1,4}}(?![\d.])|"
    rf"#\s*\d{{1,4}}|[Ss]hot\s*\d{{1,4}}|SHOT\s*\d{{1,4}})\s*(?:[.、:：)\]】）\-–—]\s*)?")


def strip_shot_prefix(line: str) -> tuple[bool, str]:
    """``"镜头3：特写 ..." -> (True, "特写 ...")``: whether a numbered-shot prefix was there, and the rest."""
    match = _SHOT_PREFIX_RE.match(line)
    if not match or match.end() == 0:
        return False, line
    rest = line[match.end():]
    # "S03" must not eat an English word that happens to start with S and digits ("S3CRET")
    if rest and re.match(r"[A-Za-z0-9]", rest) and not re.match(r"\s", line[match.end() - 1:match.end()]) \
            and not re.search(r"[.、:：)\]】）\-–—]\s*$", line[:match.end()]):
        return False, line
    return True, rest.strip()


# ------------------------------------------------------------------------------------------------
# scene lines
# ------------------------------------------------------------------------------------------------

_INT_EXT = {"内外景": "INT/EXT", "内外": "INT/EXT", "INTEXT": "INT/EXT", "I/E": "INT/EXT",
            "内景": "INT", "内": "INT", "室内": "INT", "INT": "INT", "INTERIOR": "INT",
            "外景": "EXT", "外": "EXT", "室外": "EXT", "EXT": "EXT", "EXTERIOR": "EXT", "EST": "EXT"}
_TIMES = {"日": "day", "白天": "day", "白日": "day", "午": "day", "中午": "day", "下午": "day", "上午": "day",
          "DAY": "day", "NOON": "day", "AFTERNOON": "day",
          "夜": "night", "晚": "night", "夜晚": "night", "晚上": "night", "深夜": "night", "午夜": "night",
          "NIGHT": "night", "MIDNIGHT": "night", "EVENING": "night",
          "晨": "dawn", "清晨": "dawn", "早晨": "dawn", "黎明": "dawn", "早": "dawn", "拂晓": "dawn",
          "DAWN": "dawn", "MORNING": "dawn", "SUNRISE": "dawn",
          "黄昏": "dusk", "傍晚": "dusk", "日落": "dusk", "夕阳": "dusk", "DUSK": "dusk", "SUNSET": "dusk",
          "TWILIGHT": "dusk"}
_NO_TIME = {"CONTINUOUS", "LATER", "SAME", "MOMENTS", "MOMENTS LATER", "CONT", "续", "同"}
_SCENE_NUMBER_RE = re.compile(
    rf"^\s*(?:第\s*[{_NUM}]+\s*[集](?:\s*第\s*[{_NUM}]+\s*[场幕节])?|第\s*[{_NUM}]+\s*[场幕节]|"
    rf"场景\s*[{_NUM}]*|场次\s*[{_NUM}]*|[Ss]cene\s*\d+|SCENE\s*\d+|\d{{1,3}}\s*[-–.]\s*\d{{1,3}}(?!\d)|"
    rf"\d{{1,3}}(?=\s))\s*[.、:：]?\s*")
_IE_COMPOUND_RE = re.compile(r"(?i)(?<![A-Za-z])(?:INT\.?\s*/\s*EXT\.?|I\s*/\s*E\.?|EXT\.?\s*/\s*INT\.?)(?![A-Za-z])"
                             r"|内\s*/\s*外景?|外\s*/\s*内景?")
_SENTENCE_RE = re.compile(r"[。！？!?；;“”\"「」『』…]")


@dataclass(frozen=True)
class SceneLine:
    """A scene line read apart: ``int_ext`` is ``"INT"``, ``"EXT"``, ``"INT/EXT"`` or ``""``; ``time_of_day``
    ``"day"``, ``"night"``, ``"dawn"``, ``"dusk"`` or ``""``; ``place`` the rest (``"老街"``); ``number`` the
    scene number as written (``"第一场"``, ``"1-2"``) or ``""``."""

    int_ext: str
    time_of_day: str
    place: str
    number: str = ""


def _classify(token: str) -> tuple[str, str]:
    bare = token.strip(".。 ").upper()
    if bare in _INT_EXT:
        return "ie", _INT_EXT[bare]
    if bare in _TIMES:
        return "time", _TIMES[bare]
    if bare in _NO_TIME:
        return "skip", ""
    return "place", token.strip(" .")


def parse_scene_line(line: str) -> SceneLine | None:
    """Read a scene line, or return None when ``line`` is not one.

    A scene line has a scene number (``第一场``, ``场景2``, ``1-2``, ``Scene 3``), an interior/exterior word
    (``内景``/``外景``/``内``/``外``/``INT.``/``EXT.``) or both, plus time of day and place in any order,
    separated by spaces, ``·``, ``/``, commas or dashes. A lone ``内``/``外`` also needs a time of day or a
    scene number, so ``门 外 有人`` stays action. Lines with sentence punctuation are never scene lines.
    """
    text = line.strip()
    if not text or len(text) > 80 or _SENTENCE_RE.search(text):
        return None
    number_match = _SCENE_NUMBER_RE.match(text)
    number = number_match.group(0).strip(" .、:：") if number_match and number_match.end() else ""
    rest = text[number_match.end():] if number else text
    rest = _IE_COMPOUND_RE.sub(" INTEXT ", rest)
    # "INT.KITCHEN" and "外景老街" are typed without a space after the marker
    rest = re.sub(r"(?i)^(INT|EXT|EST)\.(?=\S)", r"\1 ", rest.strip())
    rest = re.sub(r"(内外景|内景|外景)(?=\S)", r"\1 ", rest)
    english = re.match(r"(?i)^(INTEXT|INT|EXT|EST)\.?\s+(.*)$", rest)
    if english and re.search(r"[A-Za-z]", english.group(2)):
        # Fountain order: INT. PLACE - TIME, where the place may hold any word ("NIGHT MARKET")
        int_ext = _INT_EXT[english.group(1).upper()]
        parts = re.split(r"\s+[-–—]+\s+", english.group(2).strip())
        time_of_day = ""
        if len(parts) > 1:
            kind, value = _classify(re.sub(r"\s*\(.*\)$", "", parts[-1]))
            if kind in ("time", "skip"):
                time_of_day, parts = value, parts[:-1]
        place_text = " - ".join(parts).strip(" .-")
        return SceneLine(int_ext=int_ext, time_of_day=time_of_day, place=place_text, number=number)
    tokens = [t for t in re.split(r"[\s·•/,，、|]+|\s[-–—]+\s|[-–—]{2,}|(?<=[^\x00-\x7f])[-–—](?=[^\x00-\x7f])",
                                  rest) if t.strip(" -–—.")]
    int_ext, time_of_day, place, markers = "", "", [], 0
    single_char_marker = False
    for token in tokens:
        token = token.strip(" -–—")
        kind, value = _classify(token)
        if kind == "ie" and not int_ext:
            int_ext, markers = value, markers + 1
            single_char_marker = single_char_marker or token in ("内", "外")
        elif kind == "time" and not time_of_day:
            time_of_day, markers = value, markers + 1
        elif kind == "skip":
            continue
        else:
            place.append(value)
    if int_ext and not time_of_day and place and len(place[-1]) >= 3 and place[-1][-1] in "日夜晨":
        # "外景老街夜": the time typed onto the place
        time_of_day, place[-1] = _TIMES[place[-1][-1]], place[-1][:-1]
    place_text = " ".join(place).strip()
    if len(place_text) > 40 or len(place) > 4:
        return None
    if number and number_match.group(0).strip()[:1].isdigit() and not (int_ext or time_of_day):
        return None         # "3 people" or "1. 远景 ..." is not a scene line
    if not number:
        if not int_ext:
            return None
        if single_char_marker and not time_of_day:
            return None
        if not place_text and not time_of_day:
            return None
    return SceneLine(int_ext=int_ext, time_of_day=time_of_day, place=place_text, number=number)
