"""Batch plans are checked whole before anything runs, and every mistake names its line in the file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lantern_testkit import ROOT
from lantern_studio.engines.batch.plan import PlanError, load_plan

SCRIPT = "第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n【近景】小明笑了。\n"


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "ep1.txt").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "ep2.fountain").write_text("INT. ROOM - NIGHT\n\nGRANDMA\nEat!\n", encoding="utf-8")
    (tmp_path / "notes.md").write_text("not a script\n", encoding="utf-8")
    return tmp_path


def write_plan(folder, text: str):
    path = folder / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path, **kwargs) -> PlanError:
    with pytest.raises(PlanError) as caught:
        load_plan(path, **kwargs)
    return caught.value


def test_a_good_plan_gives_one_music_item_per_seed_and_one_animatic_per_script(folder):
    plan = load_plan(write_plan(folder, """out = "renders"
[defaults]
format = "1:1"

[[music]]
name = "lion"
preset = "lion-dance"
seeds = [3, 4]
duration_s = 12

[[animatic]]
script = "ep1.txt"
music_preset = "dragon-boat"
"""))
    assert [(i.name, i.kind) for i in plan.items] == [("lion-s3", "music"), ("lion-s4", "music"), ("ep1", "animatic")]
    assert [i.options["seed"] for i in plan.items[:2]] == [3, 4]
    assert plan.items[0].options["duration_s"] == 12.0
    animatic = plan.items[2]
    assert animatic.options["format"] == "1:1" and animatic.options["music_preset"] == "dragon-boat"
    assert animatic.inputs == {"script/ep1.txt": folder / "ep1.txt"}
    assert plan.out_dir == folder / "renders"


@pytest.mark.parametrize("text, line, words", [
    ("[[music]]\npreset = \"lion-dance\"\nseeds = [1,\n", 3, "not valid TOML"),
    ("[[music]]\npreset = lion-dance\nseed = 1\n", 2, "not valid TOML"),
    ("[[music]]\npreset = \"lion-dance\"\nseed = 1\ntempo = 3\n", 4, "no field 'tempo'"),
    ("[[music]]\npreset = \"lion-dance\"\nseed = 1\n\n[[music]]\npreset = \"no-such\"\nseed = 2\n", 6, "preset 'no-such'"),
    ("[[music]]\nname = \"a\"\npreset = \"lion-dance\"\n", 1, "seeds"),
    ("[[music]]\npreset = \"lion-dance\"\nseeds = [1, 1]\n", 3, "twice"),
    ("[[music]]\npreset = \"lion-dance\"\nseed = 1\nduration_s = -4\n", 4, "above 0"),
    ("[defaults]\nformat = \"4:3\"\n\n[[animatic]]\nscript = \"ep1.txt\"\n", 2, "format '4:3'"),
    ("[[animatic]]\nscript = \"ep1.txt\"\n\n[[animatic]]\n\nscript = \"missing.txt\"\n", 6, "no such file"),
    ("[[animatic]]\nscript = \"ep1.txt\"\nmusic = \"nowhere.wav\"\n", 3, "neither an audio file"),
    ("[[animatic]]\nscript = \"ep1.txt\"\n[[animatic]]\nscript = \"ep1.txt\"\n", 4, "two items are called 'ep1'"),
    ("[[animatics]]\nscript = \"ep1.txt\"\n", 1, "unknown entry 'animatics'"),
])
def test_each_mistake_names_its_line(folder, text, line, words):
    error = error_of(write_plan(folder, text), project_dir=folder / "no-project")
    assert error.line == line, str(error)
    assert f"plan.toml line {line}: " in str(error) and words in str(error)


def test_an_unreadable_script_is_refused_at_its_line_before_anything_runs(folder):
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    error = error_of(write_plan(folder, "[[animatic]]\nname = \"x\"\nscript = \"empty.txt\"\n"))
    assert error.line == 3 and "script empty.txt" in str(error)


def test_a_folder_makes_one_animatic_per_script_with_the_command_line_defaults(folder, monkeypatch):
    monkeypatch.chdir(folder.parent)
    plan = load_plan(folder.name, defaults={"format": "16:9", "no_video": True, "fps": None})
    assert [i.name for i in plan.items] == ["ep1", "ep2"]
    assert plan.items[0].inputs == {"script/ep1.txt": Path(folder.name) / "ep1.txt"}
    assert all(i.options["format"] == "16:9" and i.options["no_video"] for i in plan.items)
    assert all(i.options["fps"] == 24 for i in plan.items)


def test_a_folder_without_scripts_says_what_to_put_there(tmp_path):
    error = error_of(tmp_path)
    assert "holds no script" in str(error)


def test_the_command_refuses_a_bad_plan_with_its_line_before_starting_ray(folder):
    plan = write_plan(folder, "[[music]]\npreset = \"lion-dance\"\nseed = \"seven\"\n")
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "batch", str(plan)], capture_output=True,
                            text=True, timeout=300, cwd=folder)
    assert result.returncode == 2, result.stderr
    assert "plan.toml line 3: seed must be a whole number" in result.stderr
    assert "Ray" not in result.stderr and "ray" not in result.stdout       # nothing started
    assert not (folder / "batch-out").exists()


def test_an_address_that_answers_but_is_not_ray_is_refused_with_a_message(folder):
    import socket

    plan = write_plan(folder, "[[music]]\npreset = \"dragon-boat\"\nseed = 1\nduration_s = 8\n")
    with socket.socket() as listener:           # accepts connections and never speaks Ray
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        result = subprocess.run([sys.executable, str(ROOT / "launch.py"), "batch", str(plan), "--address",
                                 f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=300, cwd=folder)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"the Ray cluster at 127.0.0.1:{port} answered but did not accept this driver" in result.stderr
    assert not list((folder / "batch-out").rglob("*.wav"))
