"""Shot planning, duration rules, the editable table, the character bible and the project round trip."""

from __future__ import annotations

import csv
import io
import math

import pytest

from lantern_studio.engines.project import Project
from lantern_studio.engines.story import store
from lantern_studio.engines.story.bible import (PALETTE, appearance, apply_bible_rows, bible_rows, build_bible, stable_seed)
from lantern_studio.engines.story.model import Character, Shot, Storyboard
from lantern_studio.engines.story.script import parse_script
from lantern_studio.engines.story.shots import (SHOT_HEADERS, PlanOptions, apply_shot_rows, dialogue_duration_s, move_from_hints,
                                 plan_shots, shots_to_csv, shots_to_rows, size_from_hints, spoken_units)
from lantern_testkit import sample_path


def _sample(name: str) -> str:
    return sample_path(name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def zh_board() -> Storyboard:
    return plan_shots(parse_script(_sample("nianyefan.txt")))


# ------------------------------------------------------------------------------------------------
# planning
# ------------------------------------------------------------------------------------------------


def test_one_shot_per_beat_with_hints_and_characters(zh_board):
    script = parse_script(_sample("nianyefan.txt"))
    beats = [e for e in script.elements if e.kind in ("action", "dialogue")]
    assert len(zh_board.shots) == len(beats) == 18
    assert [s.number for s in zh_board.shots] == list(range(1, 19))
    by_number = {s.number: s for s in zh_board.shots}
    # 【远景】 → EWS, 【中景】 → MS, 【特写】 → CU, 【近景】 → MCU, 【推镜头】 push in, 【拉镜头】 pull out
    assert by_number[1].size == "EWS" and by_number[2].size == "MS" and by_number[4].size == "CU"
    assert by_number[8].size == "MCU" and by_number[10].move == "push_in" and by_number[18].move == "pull_out"
    # 抬头 (looks up) with no hint → tilt up; a dialogue line defaults to MCU and static
    assert by_number[2].move == "tilt_up"
    assert (by_number[3].size, by_number[3].move, by_number[3].speaker) == ("MCU", "static", "小雨")
    # 两人抱在一起: the two people of the kitchen scene are both in the shot
    assert set(by_number[10].characters) == {"小雨", "奶奶"}
    # 大家哄堂大笑 at the dinner: everyone of the scene
    assert set(by_number[17].characters) == {"小雨", "爸爸", "奶奶"}
    assert by_number[5].sfx == "咚咚！"
    assert all(s.scene.startswith("第") for s in zh_board.shots)
    assert list(zh_board.characters) == ["小雨", "奶奶", "爸爸"]


def test_fountain_plan_transitions_dual_dialogue_and_title_cards():
    board = plan_shots(parse_script(_sample("brick-and-steel.fountain")))
    dual = [s for s in board.shots if s.dual_speaker]
    assert [(s.speaker, s.dual_speaker, s.size) for s in dual] == [("STEEL", "BRICK", "MS")]
    titles = [s for s in board.shots if s.kind == "title"]
    assert [t.action for t in titles][-1] == "the end"
    assert titles[-1].transition == "dip"                      # > BURN TO PINK. fades into the end card
    first = board.shots[0]
    assert first.size == "EWS" and first.scene == "EXT. BRICK'S PATIO - DAY"
    assert board.characters["BRICK"].description == "retired police detective"
    for shot in board.shots:
        shot.validate()


def test_hint_vocabulary():
    assert size_from_hints(["大特写"]) == "ECU" and size_from_hints(["中近景"]) == "MCU"
    assert size_from_hints(["EXTREME CLOSE UP"]) == "ECU" and size_from_hints(["Wide"]) == "WS"
    assert size_from_hints(["推镜头"]) is None
    assert move_from_hints(["PAN LEFT"]) == "pan_left" and move_from_hints(["手持晃动"]) == "shake"
    assert move_from_hints(["特写"]) is None


# ------------------------------------------------------------------------------------------------
# durations: reading speed, pad, minimum, maximum
# ------------------------------------------------------------------------------------------------


def test_dialogue_duration_rules():
    options = PlanOptions(chars_per_second_zh=4.0, chars_per_second_en=15.0, dialogue_pad_s=0.5, min_duration_s=1.5)
    # 谁呀？门没锁。: five Chinese characters (punctuation does not count) → 5 / 4 + 0.5 = 1.75 → 1.8 s
    assert spoken_units("谁呀？门没锁。", language="zh") == 5
    assert dialogue_duration_s("谁呀？门没锁。", language="zh", options=options) == pytest.approx(1.8)
    # short lines never go under the minimum
    assert dialogue_duration_s("好！", language="zh", options=options) == 1.5
    # English counts letters, digits and single spaces: "Does a bear crap in the woods?" → 29
    line = "Does a bear crap in the woods?"
    units = sum(1 for ch in " ".join(line.split()) if ch.isalnum() or ch == " ")
    assert spoken_units(line, language="en") == units == 29
    assert dialogue_duration_s(line, language="en", options=options) == pytest.approx(round(29 / 15 + 0.5, 1))
    # a slower reader gets longer shots
    slow = PlanOptions(chars_per_second_zh=2.0)
    assert dialogue_duration_s("面粉是福气，过年沾福气！", language="zh", options=slow) == pytest.approx(
        round(10 / 2.0 + 0.5, 1))
    # the maximum caps a very long speech
    assert dialogue_duration_s("话" * 400, language="zh", options=options) == options.max_duration_s


def test_plan_uses_configured_speeds(zh_board):
    script = parse_script(_sample("nianyefan.txt"))
    slow = plan_shots(script, options=PlanOptions(chars_per_second_zh=2.0))
    for fast_shot, slow_shot in zip(zh_board.shots, slow.shots):
        if fast_shot.dialogue:
            assert slow_shot.duration_s >= fast_shot.duration_s
    assert slow.duration_s > zh_board.duration_s
    with pytest.raises(ValueError, match="chars_per_second_zh"):
        plan_shots(script, options=PlanOptions(chars_per_second_zh=0))
    with pytest.raises(ValueError, match="Script"):
        plan_shots("小雨：你好")


# ------------------------------------------------------------------------------------------------
# the editable table, CSV, and the project round trip
# ------------------------------------------------------------------------------------------------


def test_table_edits_apply_and_validate(zh_board):
    rows = shots_to_rows(zh_board)
    assert len(rows[0]) == len(SHOT_HEADERS)
    rows[2][2] = "cu"                   # sizes are case-insensitive
    rows[2][3] = "push in"
    rows[2][4] = "3.25"
    rows[2][5] = "小雨，奶奶"             # a full-width comma separates names too
    edited = apply_shot_rows(zh_board, rows)
    shot = edited.shots[2]
    assert (shot.size, shot.move, shot.duration_s, shot.characters) == ("CU", "push_in", 3.25, ["小雨", "奶奶"])
    assert shot.kind == "dialogue" and zh_board.shots[2].size == "MCU"          # the original is untouched
    bad = [list(r) for r in rows]
    bad[4][2] = "HUGE"
    with pytest.raises(ValueError, match=r"shot row 5: size 'HUGE'"):
        apply_shot_rows(zh_board, bad)
    bad = [list(r) for r in rows]
    bad[0][4] = "-1"
    with pytest.raises(ValueError, match="duration"):
        apply_shot_rows(zh_board, bad)
    with pytest.raises(ValueError, match="empty"):
        apply_shot_rows(zh_board, [])
    # deleting a row renumbers the rest
    shorter = apply_shot_rows(zh_board, rows[1:])
    assert [s.number for s in shorter.shots] == list(range(1, 18))


def test_csv_export_reads_back_with_the_csv_module(zh_board):
    text = shots_to_csv(zh_board)
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == SHOT_HEADERS
    assert len(table) == len(zh_board.shots) + 1
    assert table[3][7] == zh_board.shots[2].dialogue
    assert math.isclose(float(table[6][4]), zh_board.shots[5].duration_s)


def test_storyboard_round_trips_through_the_project(tmp_path, zh_board):
    project = Project.open(tmp_path / "proj")
    rows = shots_to_rows(zh_board)
    rows[0][2] = "WS"
    edited = apply_shot_rows(zh_board, rows)
    edited.characters["小雨"].description = "二十多岁，红色大衣"
    store.save_storyboard(project, edited)
    store.save_script(project, "小雨：你好")
    reopened = Project.open(tmp_path / "proj")
    loaded = store.load_storyboard(reopened)
    assert loaded.to_dict() == edited.to_dict()
    assert loaded.shots[0].size == "WS"
    assert store.load_script(reopened) == "小雨：你好"
    assert not [p for p in project.story_dir.iterdir() if p.name.startswith(".partial-")]
    # parsing again keeps the bible edits
    again = plan_shots(parse_script(_sample("nianyefan.txt")), existing=loaded)
    assert again.characters["小雨"].description == "二十多岁，红色大衣"


def test_store_refuses_broken_files(tmp_path):
    project = Project.open(tmp_path / "proj")
    assert store.load_storyboard(project) is None and store.load_script(project) == ""
    (project.story_dir / "storyboard.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(store.StoryStoreError, match="parse the script again"):
        store.load_storyboard(project)
    with pytest.raises(ValueError, match="Storyboard"):
        store.save_storyboard(project, {"shots": []})


# ------------------------------------------------------------------------------------------------
# the character bible
# ------------------------------------------------------------------------------------------------


def test_bible_colours_seeds_and_edits():
    bible = build_bible(["A", "B", "C"])
    assert [c.color for c in bible.values()] == list(PALETTE[:3])
    assert bible["A"].seed == stable_seed("A") and stable_seed("A") != stable_seed("B")
    edited = dict(bible)
    edited["B"] = Character("B", "tall, grey hair", "#123456", 42)
    merged = build_bible(["B", "D"], existing=edited)
    assert merged["B"].color == "#123456" and merged["B"].seed == 42
    assert "A" in merged and merged["D"].color not in {c.color for c in edited.values()}
    rows = bible_rows(merged)
    assert apply_bible_rows(rows)["B"].description == "tall, grey hair"
    with pytest.raises(ValueError, match="#rrggbb"):
        apply_bible_rows([["A", "", "red", 1]])
    with pytest.raises(ValueError, match="whole number"):
        apply_bible_rows([["A", "", "#ff0000", "x"]])
    with pytest.raises(ValueError, match="twice"):
        apply_bible_rows([["A", "", "#ff0000", 1], ["A", "", "#00ff00", 2]])


def test_appearance_follows_the_bible():
    grandma = appearance(Character("奶奶", "白发，和蔼", "#2e86ab", 7))
    assert grandma.hair_color == "#c9c9c9" and grandma.body_color == "#2e86ab"
    kid = appearance(Character("Tom", "a small child", "#d1495b", 7))
    assert kid.height < 0.8
    same = Character("X", "", "#000000", 12345)
    assert appearance(same) == appearance(Character("X", "", "#000000", 12345))
    assert appearance(Character("X", "", "#000000", 1)).hair_style != appearance(
        Character("X", "", "#000000", 2)).hair_style


def test_shot_model_keeps_old_lists_loading():
    old = {"number": 1, "scene": "INT. A", "size": "CU", "move": "static", "duration_s": 2.0, "unknown": 1}
    shot = Shot.from_dict(old)
    assert shot.kind == "action" and shot.dual_speaker == ""
    assert Storyboard.from_dict({"shots": [old]}).shots[0].size == "CU"


def test_narration_is_a_voice_without_a_figure():
    script = parse_script("第一场 外景 江边 黄昏\n旁白：那一年，小雨二十岁。\n小雨：奶奶，我走啦！\n")
    board = plan_shots(script)
    narration = board.shots[0]
    assert narration.speaker == "旁白" and narration.characters == ["小雨"]
    assert list(board.characters) == ["小雨"]            # the narrator gets no bible entry and no figure
    from lantern_studio.engines.story.panels import PrevizRenderer

    panel = PrevizRenderer().render(narration, board, size=(270, 480))
    assert set(panel.anchors) == {"小雨"}
