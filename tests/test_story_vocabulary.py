"""The 分镜 vocabulary wherever a writer puts it: numbered-shot prefixes, plain words, any brackets, after a
colon, table columns; scene lines in any order; title lines; narration and on-screen text.

Each row of LINES is a short script the way creators type it, with the size, move, scene fields and speaker
its last shot must get, read off the line by hand.
"""

from __future__ import annotations

import csv
import io

import pytest

from lantern_studio.engines.project import Project
from lantern_studio.engines.story import store
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.story.script import parse_script
from lantern_studio.engines.story.shots import SHOT_HEADERS, apply_shot_rows, plan_shots, shots_to_csv, shots_to_rows
from lantern_studio.engines.story.vocabulary import parse_scene_line, split_leading_terms, strip_shot_prefix

ZH_SCENE = "第一场 内景 客厅 日\n"
EN_SCENE = "Scene 1 INT. KITCHEN - DAY\n"
FOUNTAIN_SCENE = "INT. KITCHEN - DAY\n\nMia enters.\n\n"

# (script, size, move, int_ext, time_of_day, speaker)
LINES = [
    # numbered-shot prefixes
    (ZH_SCENE + "小雨进门。\n镜头3：特写 小雨的眼睛", "CU", "static", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n第3镜 近景 推 小雨抬头", "MCU", "push_in", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n镜头12 全景 固定镜头 一家人围坐", "WS", "static", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\nS03 CU PUSH IN Mia looks up", "CU", "push_in", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\n#3 [MCU] Leo waits.", "MCU", "static", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\nShot 7: WS / PAN - the whole kitchen", "WS", "pan_right", "INT", "day", ""),
    # plain words outside brackets, with and without 镜头
    (ZH_SCENE + "小雨进门。\n特写 奶奶的手", "CU", "static", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n大特写，推镜头：饺子", "ECU", "push_in", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n中近景 拉 奶奶转身", "MCU", "pull_out", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n大远景 摇 整条街", "EWS", "pan_right", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n中景 移 小雨走过客厅", "MS", "pan_right", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n近景 跟 小雨穿过人群", "MCU", "pan_right", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n远景 升 烟花升空", "EWS", "tilt_up", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n全景 降镜头 雪落下来", "WS", "tilt_down", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n近景 甩 门被推开", "MCU", "pan_right", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n特写 晃 地在震", "CU", "shake", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n推开门，小雨走进来。", "MS", "static", "INT", "day", ""),
    # brackets of every kind
    (ZH_SCENE + "小雨进门。\n【特写】【推镜头】红包", "CU", "push_in", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n[近景][拉]奶奶笑了", "MCU", "pull_out", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n（中景，固定）爸爸举杯", "MS", "static", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\n(ECU, DOLLY) the dumpling", "ECU", "push_in", "INT", "day", ""),
    # after a colon, and in a dialogue cue
    (ZH_SCENE + "小雨进门。\n特写：窗上的剪纸", "CU", "static", "INT", "day", ""),
    (ZH_SCENE + "小雨进门。\n奶奶（近景）：回来啦？", "MCU", "static", "INT", "day", "奶奶"),
    (ZH_SCENE + "小雨进门。\n近景 推 奶奶：（惊喜）哎呀！", "MCU", "push_in", "INT", "day", "奶奶"),
    (EN_SCENE + "Mia enters.\nCLOSE UP: the lantern", "CU", "static", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\nEWS, TILT DOWN: the skyline", "EWS", "tilt_down", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\nMS TRACK LEFT Mia walks", "MS", "pan_left", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\nPULL OUT - the whole table", "MS", "pull_out", "INT", "day", ""),
    (EN_SCENE + "Mia enters.\nStatic crackles on the radio.", "MS", "static", "INT", "day", ""),
    # Fountain: directions starting an action line, inside a paragraph too; V.O. cues
    (FOUNTAIN_SCENE + "CU PUSH IN Mia looks up.", "CU", "push_in", "INT", "day", ""),
    (FOUNTAIN_SCENE + "She waits.\nS04 EWS PULL OUT the city at night.", "EWS", "pull_out", "INT", "day", ""),
    (FOUNTAIN_SCENE + "MIA (V.O.)\nI waited.", "MCU", "static", "INT", "day", "MIA"),
    # scene lines: parts in any order, any separator
    ("外 老街 夜\n灯笼亮了。", "EWS", "static", "EXT", "night", ""),
    ("1-2 夜 内 奶奶家\n奶奶包饺子。", "WS", "static", "INT", "night", ""),
    ("黄昏·江边·外景\n小雨看江。", "EWS", "static", "EXT", "dusk", ""),
    ("场景：菜市场 / 晨 / 外\n人来人往。", "EWS", "static", "EXT", "dawn", ""),
    ("夜，外，桥上\n两人并肩。", "EWS", "static", "EXT", "night", ""),
    ("第3集第2场 日 外 庙会\n舞狮开始。", "EWS", "static", "EXT", "day", ""),
    ("内景 教室 日\n老师走进来。", "WS", "static", "INT", "day", ""),
    ("EXT. NIGHT MARKET - NIGHT\nStalls glow.", "EWS", "static", "EXT", "night", ""),
    ("INT./EXT. CAR - DAY\nMia drives.", "EWS", "static", "INT/EXT", "day", ""),
    ("Scene 4 EXT. MOUNTAIN ROAD - DUSK\nThe bus climbs.", "EWS", "static", "EXT", "dusk", ""),
    ("EXT. BRICK'S POOL - DAY (CONTINUOUS)\nSteel swims.", "EWS", "static", "EXT", "day", ""),
    # narration and voices
    ("外 老街 夜\n旁白：那一年，小雨二十岁。", "EWS", "static", "EXT", "night", "旁白"),
    ("外 老街 夜\n灯笼亮了。\n画外音：快回家吧。", "MS", "static", "EXT", "night", "画外音"),
    (EN_SCENE + "Mia enters.\nVO: She never came back.", "MS", "static", "INT", "day", "VO"),
    (EN_SCENE + "Mia enters.\nOS: Who's there?", "MS", "static", "INT", "day", "OS"),
    (EN_SCENE + "Mia enters.\nLEO (V.O.): I waited.", "MCU", "static", "INT", "day", "LEO"),
    # a Markdown table and a tab-separated one pasted from a spreadsheet
    ("| 镜号 | 景别 | 运镜 | 画面 | 台词 |\n|---|---|---|---|---|\n| 1 | 远景 | 固定 | 老街灯笼 | |\n"
     "| 2 | 特写 | 推 | 小雨的脸 | 小雨：我回来了 |", "CU", "push_in", "", "", "小雨"),
    ("场景\t景别\t运镜\t画面\n外 江边 黄昏\t全景\t摇\t江面\n外 江边 黄昏\t近景\t拉\t小雨回头", "MCU", "pull_out", "EXT",
     "dusk", ""),
    ("| Shot | Size | Camera | Action | Dialogue |\n| --- | --- | --- | --- | --- |\n"
     "| 1 | WS | PAN LEFT | The square | |\n| 2 | MCU | PUSH IN | Mia turns | MIA: Found you. |", "MCU", "push_in", "",
     "", "MIA"),
]


@pytest.mark.parametrize("text,size,move,int_ext,time_of_day,speaker", LINES, ids=[str(i) for i in range(len(LINES))])
def test_vocabulary_line(text, size, move, int_ext, time_of_day, speaker):
    board = plan_shots(parse_script(text))
    shot = board.shots[-1]
    assert (shot.size, shot.move) == (size, move)
    assert (shot.int_ext, shot.time_of_day) == (int_ext, time_of_day)
    assert shot.speaker == speaker


def test_the_table_has_forty_lines_or_more():
    assert len(LINES) >= 40
    assert sum(1 for row in LINES if any("\u4e00" <= ch <= "\u9fff" for ch in row[0])) >= 20
    assert sum(1 for row in LINES if not any("\u4e00" <= ch <= "\u9fff" for ch in row[0])) >= 15


def test_table_rows_keep_every_cell():
    text = ("| 镜号 | 景别 | 运镜 | 画面 | 台词 | 时长 | 备注 |\n|---|---|---|---|---|---|---|\n"
            "| 1 | 远景 | 固定 | 老街灯笼 | 旁白：春节到了 | 3s | 暖色 |\n| 2 | 特写 | 推 | 小雨的脸 | 小雨：我回来了 | 2s | |\n")
    script = parse_script(text)
    kept = " ".join(e.text + " " + " ".join(e.notes) + " " + " ".join(e.hints) + " " + e.speaker
                    for e in script.elements)
    # every cell (read independently with the csv module) is somewhere in the elements
    rows = list(csv.reader(io.StringIO(text.replace(" | ", "|").replace("| ", "").replace(" |", "")),
                           delimiter="|"))
    for row in rows[2:]:
        for cell in row[1:]:
            for part in cell.split("："):
                assert part.strip() in kept, part
    board = plan_shots(script)
    assert [s.size for s in board.shots] == ["EWS", "EWS", "CU", "CU"]
    assert board.shots[1].speaker == "旁白" and board.shots[3].speaker == "小雨"


def test_title_lines_set_the_title_and_are_never_shots():
    script = parse_script("《年夜饭》\n外 老街 夜\n灯笼亮了。")
    assert script.title == "年夜饭"
    board = plan_shots(script)
    assert [s.action for s in board.shots] == ["灯笼亮了。"] and board.title == "年夜饭"
    script = parse_script("第一场 外景 老街 夜\n灯笼亮了。\n标题：团圆\n小雨：到了")
    assert script.title == "团圆" and all("团圆" not in e.text for e in script.elements)
    fountain = parse_script("Title: Lanterns\nAuthor: Me\n\nEXT. STREET - NIGHT\n\nLanterns glow.\n")
    assert fountain.title == "Lanterns" and plan_shots(fountain).shots[0].action == "Lanterns glow."


def test_on_screen_text_is_a_title_card():
    board = plan_shots(parse_script("外 老街 夜\n灯笼亮了。\n字幕：三年后\n小雨：我回来了"))
    assert [(s.kind, s.action) for s in board.shots[:2]] == [("action", "灯笼亮了。"), ("title", "三年后")]
    fountain = plan_shots(parse_script("EXT. STREET - NIGHT\n\nLanterns glow.\n\nSUPER: THREE YEARS LATER\n\n"
                                       "MIA\nI'm back.\n"))
    assert ("title", "THREE YEARS LATER") in [(s.kind, s.action) for s in fountain.shots]


def test_narrators_get_no_bible_entry():
    board = plan_shots(parse_script("外 老街 夜\nVO：那一年。\nOS：谁？\n小雨：我。"))
    assert list(board.characters) == ["小雨"]


def test_scene_line_reader_and_its_refusals():
    line = parse_scene_line("外景老街夜")
    assert (line.int_ext, line.time_of_day, line.place) == ("EXT", "night", "老街")
    assert parse_scene_line("门 外 有人") is None                # a lone 外 needs a time or a number
    assert parse_scene_line("小雨：外面下雪了。") is None
    assert parse_scene_line("3 people walk in") is None
    assert parse_scene_line("SNIPER SCOPE POV") is None
    assert split_leading_terms("推开门") == ([], "推开门")
    assert split_leading_terms("Wide-eyed, Mia runs.") == ([], "Wide-eyed, Mia runs.")
    assert strip_shot_prefix("S3CRET base") == (False, "S3CRET base")


def test_scene_fields_in_the_table_csv_and_the_project(tmp_path):
    board = plan_shots(parse_script("第一场 外景 老街 夜\n灯笼亮了。\n第二场 内景 厨房 日\n奶奶包饺子。"))
    assert [(s.int_ext, s.time_of_day) for s in board.shots] == [("EXT", "night"), ("INT", "day")]
    table = list(csv.reader(io.StringIO(shots_to_csv(board))))
    assert table[0][-2:] == ["int_ext", "time_of_day"] and table[1][-2:] == ["EXT", "night"]
    rows = shots_to_rows(board)
    rows[1][SHOT_HEADERS.index("time_of_day")] = "night"
    edited = apply_shot_rows(board, rows)
    assert edited.shots[1].time_of_day == "night"
    rows = shots_to_rows(board)
    rows[0][1] = "第一场 内景 老街 日"                        # the scene cell changed: its fields are read again
    assert (apply_shot_rows(board, rows).shots[0].int_ext, apply_shot_rows(board, rows).shots[0].time_of_day) == (
        "INT", "day")
    rows = shots_to_rows(board)
    rows[0][SHOT_HEADERS.index("int_ext")] = "outside"
    with pytest.raises(ValueError, match="shot row 1: int_ext 'outside'"):
        apply_shot_rows(board, rows)
    # a row from a table without the two columns keeps the shot's fields
    short = [row[:13] for row in shots_to_rows(board)]
    assert apply_shot_rows(board, short).shots[0].int_ext == "EXT"
    project = Project.open(tmp_path / "proj")
    store.save_storyboard(project, board)
    assert store.load_storyboard(Project.open(tmp_path / "proj")).shots[0].time_of_day == "night"


def test_old_saved_storyboards_still_load(tmp_path):
    project = Project.open(tmp_path / "proj")
    old = {"schema": 1, "title": "t", "language": "zh", "characters": [],
           "shots": [{"number": 1, "scene": "第一场 外景 老街 夜", "size": "EWS", "move": "static", "duration_s": 2.0}]}
    (project.story_dir).mkdir(parents=True, exist_ok=True)
    (project.story_dir / "storyboard.json").write_text(__import__("json").dumps(old), encoding="utf-8")
    board = store.load_storyboard(project)
    assert board.shots[0].int_ext == "EXT" and board.shots[0].time_of_day == "night"
    with pytest.raises(ValueError, match="time of day"):
        Shot(number=1, time_of_day="noonish").validate()
    assert Storyboard.from_dict({"shots": [{"number": 1}]}).shots[0].int_ext == ""
