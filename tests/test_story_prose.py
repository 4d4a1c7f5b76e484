"""Prose to shots (小说推文): a chapter of a novel, Chinese or English, into scenes, narration and dialogue.

The expected speaker of every quote is read off the excerpts by hand (tests/data/kongyiji.txt, Lu Xun, 1919;
tests/data/mad-tea-party.txt, Lewis Carroll, 1865); quotes are found independently with a plain regex.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys

import pytest

from lantern_studio.engines.story.prose import MAX_BEAT_UNITS, looks_like_prose, parse_prose
from lantern_studio.engines.story.script import ScriptError, detect_format, parse_script
from lantern_studio.engines.story.shots import PlanOptions, dialogue_duration_s, plan_shots, spoken_units
from lantern_testkit import ROOT, sample_path

ZH_SPEAKERS = [  # 有的叫道 / 他…说 / 他们…嚷道 / 孔乙己…说 / (the crowd answers) / 孔乙己…争辩道
    "众人", "孔乙己", "众人", "孔乙己", "众人", "孔乙己",
    # 旁人…问道 / 他们…说道 / 孔乙己…弯腰下去说道 / 自己摇头说
    "众人", "众人", "孔乙己", "孔乙己"]
EN_SPEAKERS = [  # thought Alice; (her thought goes on); they cried; said Alice; the March Hare said; she remarked
    "Alice", "Alice", "Crowd", "Alice", "March Hare", "Alice",
    # said the March Hare; said Alice angrily; said the March Hare; said Alice; (she goes on)
    "March Hare", "Alice", "March Hare", "Alice", "Alice",
    # said the Hatter; Alice said; (she goes on); all he SAID was
    "Hatter", "Alice", "Alice", "Hatter"]


def _text(name: str) -> str:
    return sample_path(name).read_text(encoding="utf-8")


def _spoken(script) -> list:
    return [e for e in script.elements if e.kind == "dialogue" and e.speaker not in ("旁白", "NARRATOR")]


def test_chinese_excerpt_speakers_narration_and_mentions():
    text = _text("kongyiji.txt")
    assert detect_format(text) == "prose"
    script = parse_script(text)
    assert script.format == "prose" and script.language == "zh"
    assert script.title == "孔乙己" and script.title_page["Author"] == ["鲁迅"]
    spoken = _spoken(script)
    # every speech quote, found with an independent regex (a quote that follows a verb or a punctuation mark)
    quotes = [q for q in re.findall(r"(?<=[，,：。！？”…])“([^”]+)”", text)]
    assert [e.text for e in spoken] == quotes
    assert [e.speaker for e in spoken] == ZH_SPEAKERS
    # 什么“君子固穷” is a mention inside a sentence: it stays in the narration, with its quote marks
    narration = [e.text for e in script.elements if e.speaker == "旁白"]
    assert any("什么“君子固穷”" in t for t in narration)
    # the attribution is kept as the line's note
    assert spoken[3].notes == ["孔乙己睁大眼睛说"]
    board = plan_shots(script)
    assert set(board.characters) == {"众人", "孔乙己"}        # 何家 is only mentioned


def test_english_excerpt_speakers_and_only_speakers_in_the_bible():
    text = _text("mad-tea-party.txt")
    assert detect_format(text) == "prose"
    script = parse_script(text)
    assert script.language == "en" and [s.text for s in script.scenes] == ["CHAPTER VII. A Mad Tea-Party"]
    spoken = _spoken(script)
    assert len(spoken) == len(re.findall(r'"[^"]+"', text)) == len(EN_SPEAKERS)
    assert [e.speaker for e in spoken] == EN_SPEAKERS
    board = plan_shots(script)
    assert set(board.characters) == {"Alice", "March Hare", "Hatter", "Crowd"}     # the Dormouse never speaks
    assert not script.warnings


@pytest.mark.parametrize("name", ["kongyiji.txt", "mad-tea-party.txt"])
def test_no_word_of_the_chapter_is_lost(name):
    text = _text(name)
    script = parse_script(text)
    kept = " ".join(" ".join([e.text, e.speaker, " ".join(e.notes)]) for e in script.elements)
    kept += " ".join(v for values in script.title_page.values() for v in values)
    for word in re.findall(r"[A-Za-z']+|[\u4e00-\u9fff]", text):
        assert word in kept, word


HANDWRITTEN = """第一章 回家

腊月二十八，小雨拖着行李箱走进老街。巷口的灯笼一串串亮起来，远处有人在放烟花。
奶奶正在厨房里包饺子，听见敲门声，头也不抬地问：「谁呀？门没锁。」
「奶奶，是我！」小雨推门进来。
奶奶转过身，手上全是面粉，愣了半天才说：「哎呀，我的乖孙女！」
小雨笑着说：“奶奶，我的新大衣！”
“面粉是福气，过年沾福气！”奶奶道。
爸爸从客厅探出头来：“谁来了？”
"""


def test_corner_brackets_colons_and_a_name_right_after_the_quote():
    script = parse_script(HANDWRITTEN)          # a chapter line and quoted speech: auto-detected as prose
    assert script.format == "prose" and [s.text for s in script.scenes] == ["第一章 回家"]
    spoken = _spoken(script)
    assert [e.text for e in spoken] == re.findall(r"[「“]([^」”]+)[」”]", HANDWRITTEN)
    # 问：「…」 / 「…」小雨推门 / 才说：「…」 / 笑着说：“…” / ”奶奶道 / 探出头来：“…”
    assert [e.speaker for e in spoken] == ["奶奶", "小雨", "奶奶", "小雨", "奶奶", "爸爸"]
    assert not script.warnings
    assert list(plan_shots(script).characters) == ["奶奶", "小雨", "爸爸"]


def test_hard_wrapped_english_with_curly_single_quotes():
    text = _text("rabbit-hole.txt")
    script = parse_script(text)
    spoken = _spoken(script)
    # ‘…’ quotes, found independently: an opening ‘ and the next ’ not followed by a letter (I’ve is no close)
    flat = re.sub(r"\s*\n\s*", " ", text)
    assert [e.text.rstrip(",") for e in spoken] == [q.rstrip(",") for q in re.findall(r"‘(.+?)’(?![A-Za-z])", flat)]
    assert [e.speaker for e in spoken] == ["Alice", "Alice", "Rabbit", "Alice", "Alice"]
    assert not script.warnings
    # the wrapped lines of a paragraph are one beat's text, not one beat per line
    assert any(e.text.startswith("Alice was beginning") and "sister on the bank" in e.text for e in script.elements)


def test_beats_are_split_to_the_longest_shot_and_timed_by_length():
    paragraph = "灯笼一串串亮起来，远处有人在放烟花。" * 12          # 16 characters a sentence, 192 in all
    script = parse_prose("第一章 回家\n" + paragraph + "\n")
    beats = [e for e in script.elements if e.kind == "dialogue"]
    assert len(beats) > 1 and "".join(b.text for b in beats) == paragraph
    assert all(spoken_units(b.text, language="zh") <= MAX_BEAT_UNITS["zh"] for b in beats)
    assert all(b.text.endswith("。") for b in beats)              # split at sentence ends
    board = plan_shots(script)
    for shot, beat in zip(board.shots, beats):
        assert shot.duration_s == dialogue_duration_s(beat.text, language="zh", options=PlanOptions())
    assert board.shots[0].scene == "第一章 回家"
    short = parse_prose("第一章\n" + paragraph, max_beat_units=10)
    assert all(spoken_units(e.text, language="zh") <= 10 for e in short.elements if e.kind == "dialogue")
    with pytest.raises(ValueError, match="max_beat_units"):
        parse_prose(paragraph, max_beat_units=1)


def test_chapters_and_breaks_make_scenes():
    text = ("第一章 回家\n小雨拖着行李箱走进老街，灯笼一串串亮起来，远处有人在放烟花。\n* * *\n"
            "奶奶在厨房里包饺子，擀面杖咚咚作响，锅里的水已经开了。\n第二章 团圆\n一家人围坐在桌前，电视里放着春晚。\n")
    script = parse_script(text, format="prose")
    assert [s.text for s in script.scenes] == ["第一章 回家", "第一章 回家 · 2", "第二章 团圆"]


def test_malformed_prose_keeps_every_line_and_says_what_was_guessed():
    text = "第一章\n小雨说：“奶奶，我回来了\n奶奶愣住了，手上全是面粉，半天没有说话。\n“你是谁？”\n"
    script = parse_script(text, format="prose")
    kept = " ".join(e.text for e in script.elements)
    assert "奶奶，我回来了" in kept and "手上全是面粉" in kept and "你是谁？" in kept
    assert any("not closed" in w and "line 2" in w for w in script.warnings)
    assert any("nobody is named" in w for w in script.warnings)
    with pytest.raises(ScriptError, match="binary"):
        parse_script("第一章\x00\x01\x02", format="prose")


def test_a_megabyte_paste_parses_and_keeps_every_paragraph():
    paragraph = "孔乙己喝过半碗酒，涨红的脸色渐渐复了原，旁人便又问道，“孔乙己，你当真认识字么？”孔乙己看着问他的人。\n"
    count = 990_000 // len(paragraph.encode("utf-8"))
    script = parse_script("第一章\n" + paragraph * count, format="prose")
    lines = {e.line for e in script.elements if e.kind == "dialogue"}
    assert lines == set(range(2, count + 2))
    with pytest.raises(ScriptError, match="Split it"):
        parse_script(paragraph * (count + 200), format="prose")


def test_scripts_are_not_mistaken_for_prose():
    assert not looks_like_prose(_text("nianyefan.txt"))
    assert detect_format(_text("nianyefan.txt")) == "plain"
    assert detect_format(_text("brick-and-steel.fountain")) == "fountain"


def _launch():
    spec = importlib.util.spec_from_file_location("lantern_launch_for_prose", ROOT / "launch.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_cli_from_prose_writes_an_ordinary_shot_list(tmp_path, capsys):
    from lantern_studio.engines.cli.storyboard import run
    from lantern_studio.engines.settings import Settings

    chapter = tmp_path / "chapter.txt"
    chapter.write_text(_text("kongyiji.txt"), encoding="utf-8")
    args = _launch().build_parser().parse_args(["storyboard", str(chapter), "--out", str(tmp_path / "out"),
                                                "--from-prose", "--no-video", "--format", "1:1"])
    assert args.from_prose
    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path / "home")})
    assert run(args, settings) == 0
    data = json.loads((tmp_path / "out" / "shots.json").read_text(encoding="utf-8"))
    shots = data["shots"] if isinstance(data, dict) else data
    speakers = [s["speaker"] for s in shots if s["speaker"] not in ("旁白", "")]
    assert speakers == ZH_SPEAKERS
    assert len(list((tmp_path / "out" / "panels").glob("*.png"))) == len(shots)
    assert "prose script (zh)" in capsys.readouterr().out
