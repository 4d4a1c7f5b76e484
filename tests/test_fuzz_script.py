"""Fuzzing the script parser (engines/story/script.py) under hypothesis.

Property: ``parse_script`` returns typed elements (known kinds, source lines inside the text) or refuses with
``ScriptError``/``ValueError`` — never another exception. The same for the byte decoder. Inputs mix random
text with the fragments real scripts are made of (Fountain headings, cues, Chinese scene lines, ``角色：台词``,
brackets, emphasis, notes), so the parser's branches are reached. ``LANTERN_FUZZ_SCALE`` multiplies the budget.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

script = pytest.importorskip("lantern_studio.engines.story.script")

SCALE = max(1, int(os.environ.get("LANTERN_FUZZ_SCALE", "1")))
FUZZ = settings(max_examples=150 * SCALE, deadline=None, derandomize=not bool(os.environ.get("LANTERN_FUZZ_RANDOM")),
                suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "INT. KITCHEN - NIGHT", "EXT. TEMPLE FAIR - DAY", ".FORCED HEADING", "INT./EXT. CAR", "I/E TRAIN", "MEI",
    "MEI (V.O.)", "GRANDPA ^", "(softly)", "Happy new year!", "CUT TO:", "> FADE OUT.", "> THE END <", "# Act One",
    "= synopsis", "===", "[[a note]]", "[[unclosed note", "*italic*", "**bold**", "_under_", "\\*escaped",
    "Title: 灯笼", "Credit: Written by", "Author: 某人", "第一场 外景 老街 夜", "第二场 内景 奶奶家厨房 日", "场景1",
    "小明：新年快乐！", "奶奶(笑)：好孩子", "小明（哭）: 我不要", "音效：鞭炮声", "【特写】", "【推镜头】红灯笼", "[CLOSE UP]",
    "切至：", "淡出", "标题：团圆饭", "SFX: drums", "Scene 1 Night market", "NAME: line", "~lyric", "!forced action",
    "@McCLANE", "“你好，”他说，“", "「走吧」", "\"Run,\" said Mia", "第一章 回家", "CHAPTER I", "* * *", "镜头3：", "S03 CU",
    "| 景别 | 运镜 | 画面 |", "|---|---|---|", "| 特写 | 推 | 灯笼 |", "近景\t推\t小雨", "外 老街 夜", "《年夜饭》",
    "字幕：三年后", "SUPER: LATER", "VO: hello", "@McCLANE", "", " ", "\t", "：", ":", "（", "）", "【", "】", "[[", "]]", "^", ">", "<", ".", "..", "...", "\ufeff",
]
lines = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30),
                  st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=3).map(" ".join))
scripts = st.lists(lines, max_size=25).map("\n".join) | st.text(max_size=300)
newlines = st.sampled_from(["\n", "\r\n", "\r"])


def _check(parsed, text: str) -> None:
    assert parsed.format in ("fountain", "plain", "prose") and parsed.language in ("zh", "en")
    assert parsed.elements
    line_count = text.count("\n") + text.count("\r") + 1
    for element in parsed.elements:
        assert element.kind in script.ELEMENT_KINDS
        assert isinstance(element.text, str) and isinstance(element.hints, list)
        assert 0 <= element.line <= line_count + 1
    assert isinstance(parsed.title, str)
    parsed.dialogue_counts()


@FUZZ
@given(text=scripts, newline=newlines, fmt=st.sampled_from(script.FORMATS))
def test_parse_script_returns_elements_or_refuses(text, newline, fmt):
    text = text.replace("\n", newline)
    try:
        parsed = script.parse_script(text, format=fmt)
    except (script.ScriptError, ValueError):
        return
    _check(parsed, text)


@FUZZ
@given(data=st.binary(max_size=400) | scripts.map(lambda t: t.encode("utf-8"))
       | scripts.map(lambda t: t.encode("gb18030", errors="ignore")) | scripts.map(lambda t: t.encode("utf-16")))
def test_decode_and_parse_bytes_never_crash(data):
    try:
        text = script.decode_script_bytes(data)
        parsed = script.parse_script(text)
    except (script.ScriptError, ValueError):
        return
    _check(parsed, text)


def test_regression_oversized_script_is_refused_with_advice():
    with pytest.raises(script.ScriptError, match="Split it into episodes"):
        script.parse_script("小明：你好\n" * 100_000)
