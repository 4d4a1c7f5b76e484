"""Script parsing: both shared samples parse sensibly (counts read off the files by hand, and re-derived with
simple independent regexes), valid Fountain matches screenplain's own classification, nothing is dropped,
and bad input is refused with a clear message."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from lantern_studio.engines.story.script import (MAX_SCRIPT_BYTES, ScriptError, check_script_text, decode_script_bytes,
                                  detect_format, extract_hints, parse_script, read_script_file)

from lantern_testkit import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
FOUNTAIN = SAMPLES / "brick-and-steel.fountain"
CHINESE = SAMPLES / "nianyefan.txt"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# the Chinese sample
# ------------------------------------------------------------------------------------------------


def test_chinese_sample_counts():
    text = _read(CHINESE)
    script = parse_script(text)
    assert script.format == "plain" and script.language == "zh"
    assert script.title == "年夜饭" and script.title_page["Author"] == ["小鹅"]
    # read off the file: three 第N场 lines; 小雨 and 奶奶 speak four times each, 爸爸 once
    assert [s.text for s in script.scenes] == ["第一场 外景 老街 夜", "第二场 内景 奶奶家厨房 夜", "第三场 内景 客厅 夜"]
    assert script.dialogue_counts() == {"小雨": 4, "奶奶": 4, "爸爸": 1}
    # the same, re-derived with a plain regex over the lines (an independent count)
    speakers = re.findall(r"^([^\s：【]{1,4})：", text, flags=re.MULTILINE)
    speakers = [s for s in speakers if s not in ("标题", "作者")]
    assert sum(script.dialogue_counts().values()) == len(speakers)
    hints = [h for e in script.elements for h in e.hints]
    assert hints == re.findall(r"【([^】]+)】", text)
    parentheticals = [e.parenthetical for e in script.of_kind("dialogue") if e.parenthetical]
    assert parentheticals == re.findall(r"：（([^）]+)）", text)
    dialogue = script.of_kind("dialogue")[0]
    assert (dialogue.speaker, dialogue.parenthetical, dialogue.text) == ("小雨", "小声", "三年没回来了……")


def test_plain_half_width_colon_english_and_hint_lines():
    text = ("Title: Night Market\n\nScene 1 EXT. NIGHT MARKET - NIGHT\n[WIDE] Stalls glow under lanterns.\n"
            "Mia: (whispering) Is he here?\nLEO:  Right behind you.\n【特写】\n阿明：好吃！\n音效：砰！\n"
            "[[a note for the director]]\nCUT TO:\nScene 2 INT. KITCHEN - DAY\nJust a line of action.\n")
    script = parse_script(text, format="plain")
    kinds = [e.kind for e in script.elements]
    assert kinds == ["scene", "action", "dialogue", "dialogue", "dialogue", "sfx", "transition", "scene", "action"]
    mia = script.elements[2]
    assert (mia.speaker, mia.parenthetical, mia.text) == ("Mia", "whispering", "Is he here?")
    assert script.elements[1].hints == ["WIDE"]
    assert script.elements[4].hints == ["特写"]            # a hint line on its own goes to the next beat
    assert script.elements[5].notes == ["a note for the director"]
    assert script.title == "Night Market"


def test_extract_hints_strips_brackets():
    assert extract_hints("【特写】【推镜头】她笑了") == (["特写", "推镜头"], "她笑了")
    assert extract_hints("[CLOSE UP] He waits.") == (["CLOSE UP"], "He waits.")
    assert extract_hints("nothing here") == ([], "nothing here")


# ------------------------------------------------------------------------------------------------
# the messy Fountain sample
# ------------------------------------------------------------------------------------------------


def test_fountain_sample_counts():
    script = parse_script(_read(FOUNTAIN))
    assert script.format == "fountain" and script.language == "en"
    assert script.title == "BRICK & STEEL FULL RETIRED"                 # emphasis markers removed
    assert script.title_page["Author"] == ["Stu Maschwitz"]
    assert script.title_page["Contact"] == ["Next Level Productions", "1588 Mission Dr.", "Solvang, CA 93463"]
    # six INT./EXT. headings (the first typed without its blank line) and two forced .HEADINGs
    assert [s.text for s in script.scenes] == [
        "EXT. BRICK'S PATIO - DAY", "INT. TRAILER HOME - DAY", "EXT. BRICK'S POOL - DAY", "SNIPER SCOPE POV",
        "OPENING TITLES", "EXT. WOODEN SHACK - DAY", "INT. GARAGE - DAY", "EXT. PALATIAL MANSION - DAY"]
    # "> TEST" and "> BURN TO PINK." are forced transitions; six more end in TO:
    assert [t.text for t in script.of_kind("transition")] == [
        "TEST", "SMASH CUT TO:", "CUT TO:", "CUT TO:", "SMASH CUT TO:", "CUT TO:", "CUT TO:", "BURN TO PINK."]
    counts = script.dialogue_counts()
    # STEEL has 8 cues; the phone call's three lines are split by (pause) into three beats: 10 in all
    assert counts == {"BRICK": 5, "STEEL": 10, "JACK": 1, "DAN": 1, "MR. STEEL": 1, "COGNITO": 3, "STEGEME": 1,
                      "MINION": 1, "HANDSOME MAN": 1, "character": 1, "I LIKE CHEESE": 1}
    assert [c.text for c in script.of_kind("centered")] == ["BRICK BRADDOCK\n& DICK STEEL IN",
                                                           "BRICK & STEEL\nFULL RETIRED", "the end"]


def test_fountain_sample_keeps_notes_dual_dialogue_extensions_and_invalid_lines():
    script = parse_script(_read(FOUNTAIN))
    notes = [n for e in script.elements for n in e.notes]
    assert notes == ["the day was supposed to be gorgeous right?"]
    duals = [e for e in script.of_kind("dialogue") if e.dual]
    assert [(e.speaker, e.text) for e in duals] == [("BRICK", "Screw retirement.")]
    cheese = [e for e in script.of_kind("dialogue") if e.speaker == "I LIKE CHEESE"][0]
    assert cheese.extension == "cont."
    jack = [e for e in script.of_kind("dialogue") if e.speaker == "JACK"][0]
    assert jack.parenthetical == "in Vietnamese, subtitled"
    assert jack.emphasis == ["Did you know Brick and Steel are retired?"]
    # "tegme / God Stgeme go vroom!" is not a valid cue (lowercase): it stays, as action
    assert any(e.kind == "action" and "God Stgeme go vroom!" in e.text for e in script.elements)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+|[\u4e00-\u9fff]", text)


@pytest.mark.parametrize("sample", [FOUNTAIN, CHINESE])
def test_no_line_is_dropped(sample):
    text = _read(sample)
    script = parse_script(text)
    kept = " ".join(
        " ".join([e.text, e.speaker, e.extension, e.parenthetical, " ".join(e.notes), " ".join(e.hints)])
        for e in script.elements)
    kept += " " + " ".join(" ".join([k] + v) for k, v in script.title_page.items())
    kept_words = set(_words(kept))
    title_block = text.split("\n\n", 1)[0].splitlines()
    for line in text.splitlines():
        if line in title_block:          # title keys are normalised (标题 -> Title); their values must stay
            line = re.sub(r"^[^:：]+[:：]", "", line)
        for word in _words(line):
            assert word in kept_words, f"{word!r} from {line!r} was dropped"


# ------------------------------------------------------------------------------------------------
# peer behaviour: on valid Fountain the wrapper classifies exactly as screenplain does
# ------------------------------------------------------------------------------------------------

VALID_FOUNTAIN = """Title: Peer Check
Author: Test

INT. LIGHTHOUSE - NIGHT

The lamp turns. *Slowly.*

KEEPER (V.O.)
(tired)
Another night.

MAYA
Who's there?

KEEPER ^
Nobody.

# Act One

= the storm arrives

> THE STORM <

DISSOLVE TO:

EXT. CLIFF - DAWN

Waves hit the rocks.

===

.FLASHBACK

Rain.
"""


def test_valid_fountain_matches_screenplain():
    from screenplain.parsers import fountain as sp
    from screenplain import types as spt
    import io

    peer = sp.parse(io.StringIO(VALID_FOUNTAIN))
    expected: list[tuple[str, str]] = []
    for item in peer.paragraphs:
        if isinstance(item, spt.Slug):
            expected.append(("scene", str(item.line)))
        elif isinstance(item, spt.DualDialog):
            for dialog in (item.left, item.right):
                expected.append(("dialogue", str(dialog.character).rstrip(" ^").split(" (")[0]))
        elif isinstance(item, spt.Dialog):
            expected.append(("dialogue", str(item.character).split(" (")[0]))
        elif isinstance(item, spt.Transition):
            expected.append(("transition", str(item.line)))
        elif isinstance(item, spt.Action):
            expected.append(("centered" if item.centered else "action", "\n".join(str(x) for x in item.lines)))
        elif isinstance(item, spt.Section):
            expected.append(("section", str(item.text)))
            if item.synopsis:
                expected.append(("synopsis", item.synopsis))
        elif isinstance(item, spt.PageBreak):
            expected.append(("page_break", ""))
    ours = parse_script(VALID_FOUNTAIN, format="fountain")
    got = [(e.kind, e.speaker if e.kind == "dialogue" else e.text) for e in ours.elements]
    assert got == expected
    assert ours.title_page == {k: v for k, v in peer.title_page.items()}
    keeper = ours.of_kind("dialogue")[0]
    assert (keeper.extension, keeper.parenthetical) == ("V.O.", "tired")


def test_detect_format():
    assert detect_format(_read(FOUNTAIN)) == "fountain"
    assert detect_format(_read(CHINESE)) == "plain"
    assert detect_format("INT. HOUSE - DAY\n\nA door opens.\n") == "fountain"


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\n\t  "])
def test_empty_script_is_refused(text):
    with pytest.raises(ScriptError, match="empty"):
        parse_script(text)


def test_five_megabyte_script_is_refused(tmp_path):
    big = ("小雨：过年好！\n" * (5 * 1024 * 1024 // 22 + 1))
    assert len(big.encode("utf-8")) > 5_000_000
    with pytest.raises(ScriptError, match=r"MB.*Split it"):
        parse_script(big)
    path = tmp_path / "huge.txt"
    path.write_text(big, encoding="utf-8")
    with pytest.raises(ScriptError, match=r"MB"):
        read_script_file(path)


def test_binary_garbage_is_refused(tmp_path):
    garbage = os.urandom(4096) + b"\x00" * 16
    path = tmp_path / "image.fountain"
    path.write_bytes(garbage)
    with pytest.raises(ScriptError, match="binary"):
        read_script_file(path)
    with pytest.raises(ScriptError, match="binary|NUL"):
        parse_script("INT. A\x00B")
    controls = "".join(chr(c) for c in range(1, 9)) * 50
    with pytest.raises(ScriptError, match="binary"):
        check_script_text(controls)


def test_missing_file_and_encodings(tmp_path):
    with pytest.raises(ScriptError, match="does not exist"):
        read_script_file(tmp_path / "nope.fountain")
    text = "小雨：新年快乐！\n"
    assert decode_script_bytes(text.encode("gb18030")) == text
    assert decode_script_bytes(text.encode("utf-16")) == text
    assert decode_script_bytes(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    with pytest.raises(ValueError, match="format"):
        parse_script("x", format="docx")
    assert MAX_SCRIPT_BYTES == 1_000_000
