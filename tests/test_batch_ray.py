"""`launch.py batch` on a real local Ray with two workers on loopback: the items' files are the command line's,
byte for byte; a killed worker costs nothing; a rerun skips what is finished; a failing item stops no other;
Ray listens on loopback only; a wrong cluster address is refused quickly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from lantern_testkit import ROOT
from lantern_studio.engines.atomic import is_partial
from lantern_studio.engines.batch.plan import load_plan
from lantern_studio.engines.batch.ray_run import MARKER_NAME, BatchConnectError, RaySession, run_batch
from lantern_studio.engines.settings import Settings

EPOCH = 1767225600          # the date stamped into PDFs and CBZs, the same for the batch and the command line
SCRIPTS = {
    "ep1.txt": "第一场 内景 客厅 夜\n【全景】一家人围坐。\n奶奶：吃饺子！\n【近景】小明笑了。\n",
    "ep2.txt": "第一场 外景 街道 日\n【远景】舞狮队走来。\n小明：好热闹！\n【特写】锣鼓响起。\n",
}
# stand-in voices: the spoken ones are not byte-reproducible from run to run, even on the command line
PLAN = """[defaults]
format = "1:1"
voices = "placeholder"

[[music]]
name = "boat"
preset = "dragon-boat"
seeds = [5, 6]
duration_s = 8

[[animatic]]
script = "ep1.txt"

[[animatic]]
script = "ep2.txt"
music_preset = "dragon-boat"
music_seed = 9
music_duration_s = 8
"""
# what a take's recipe records about the run that made it, rather than about the music
PROVENANCE = ("created", "generation_s", "id")


@pytest.fixture(scope="module")
def ray_session():
    # Ray lowers its workers' priority; on a test machine shared with other jobs they would barely run
    niceness = os.environ.get("RAY_worker_niceness")
    os.environ["RAY_worker_niceness"] = "0"
    session = RaySession(num_workers=2)
    session.__enter__()
    yield session
    session.__exit__(None, None, None)
    if niceness is None:
        os.environ.pop("RAY_worker_niceness", None)
    else:
        os.environ["RAY_worker_niceness"] = niceness


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path_factory.mktemp("home"))})


@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    for name, text in SCRIPTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "plan.toml").write_text(PLAN, encoding="utf-8")
    return folder


def cli(*args: str, home: Path) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH), "LANTERN_HOME": str(home)}
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def cli_outputs(plan_folder, tmp_path_factory):
    """The four items made by four sequential command-line runs (five: the second animatic's music first)."""
    out = tmp_path_factory.mktemp("cli")
    home = tmp_path_factory.mktemp("cli-home")
    for seed in (5, 6):
        cli("compose", "--preset", "dragon-boat", "--seed", str(seed), "--duration", "8", "--out",
            str(out / f"boat-s{seed}"), home=home)
    cli("storyboard", str(plan_folder / "ep1.txt"), "--format", "1:1", "--voices", "placeholder", "--out",
        str(out / "ep1"), home=home)
    music = tmp_path_factory.mktemp("music")
    cli("compose", "--preset", "dragon-boat", "--seed", "9", "--duration", "8", "--out", str(music), home=home)
    [mix] = music.glob("*_mix.wav")
    cli("storyboard", str(plan_folder / "ep2.txt"), "--format", "1:1", "--voices", "placeholder", "--music",
        str(mix), "--out", str(out / "ep2"), home=home)
    return out


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MARKER_NAME}


def assert_same_files(made: Path, expected: Path) -> None:
    got, want = tree(made), tree(expected)
    assert sorted(got) == sorted(want)
    for name, data in want.items():
        if name.endswith("_recipe.json"):
            strip = lambda raw: {k: v for k, v in json.loads(raw)["take"].items() if k not in PROVENANCE}  # noqa: E731
            assert strip(got[name]) == strip(data), name
            assert {k: v for k, v in json.loads(got[name]).items() if k != "take"} == \
                   {k: v for k, v in json.loads(data).items() if k != "take"}, name
        else:
            assert got[name] == data, f"{made.name}/{name} differs from the command line's"


def test_ray_listens_on_loopback_only(ray_session):
    driver = psutil.Process()
    listening = []
    for process in [driver, *driver.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        listening += [(process.name(), c.laddr.ip) for c in connections if c.status == psutil.CONN_LISTEN]
    names = {name for name, _ in listening}
    assert "gcs_server" in names and "raylet" in names, listening        # Ray's own servers were seen
    outward = [(name, ip) for name, ip in listening if ip not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")]
    assert not outward, f"listening beyond loopback: {outward}"
    assert ray_session.workers() == 2


def test_four_items_match_four_command_line_runs_and_a_rerun_skips_them(ray_session, settings, plan_folder,
                                                                         cli_outputs, tmp_path):
    plan = load_plan(plan_folder / "plan.toml")
    seen = []
    report = run_batch(plan, tmp_path / "out", settings, export_epoch=EPOCH,
                       progress=lambda done, total, message: seen.append((done, total)))
    assert [(r.name, r.status, r.error) for r in report.results] == [
        ("boat-s5", "done", None), ("boat-s6", "done", None), ("ep1", "done", None), ("ep2", "done", None)]
    assert seen[-1] == (4, 4) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    for name in ("boat-s5", "boat-s6", "ep1", "ep2"):
        assert_same_files(tmp_path / "out" / name, cli_outputs / name)
    assert (tmp_path / "out" / "ep1" / "animatic.mp4").stat().st_size > 0

    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()}
    again = run_batch(plan, tmp_path / "out", settings, export_epoch=EPOCH)
    assert [r.status for r in again.results] == ["skipped"] * 4
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*") if p.is_file()} == mtimes

    # a file damaged since, or an item whose recipe changed, is made again; the others stay skipped
    damaged = next((tmp_path / "out" / "boat-s6").glob("*_mix.wav"))
    damaged.write_bytes(b"not audio")
    third = run_batch(plan, tmp_path / "out", settings, export_epoch=EPOCH)
    assert [r.status for r in third.results] == ["skipped", "done", "skipped", "skipped"]
    assert_same_files(tmp_path / "out" / "boat-s6", cli_outputs / "boat-s6")


def test_a_killed_worker_still_completes_every_item_and_a_bad_item_stops_no_other(ray_session, settings,
                                                                                   plan_folder, cli_outputs,
                                                                                   tmp_path):
    text = PLAN + '\n[[music]]\nname = "short"\npreset = "lion-dance"\nseed = 1\nduration_s = 2\n'
    (plan_folder / "plan-kill.toml").write_text(text, encoding="utf-8")
    plan = load_plan(plan_folder / "plan-kill.toml")
    out = tmp_path / "out"
    box = {}
    runner = threading.Thread(target=lambda: box.update(report=run_batch(plan, out, settings, export_epoch=EPOCH)))
    runner.start()
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and runner.is_alive() and time.monotonic() < deadline:
        for process in psutil.Process().children(recursive=True):
            try:
                title = process.cmdline()[:1]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if title and title[0].startswith("ray::lantern-batch:"):
                os.kill(process.pid, signal.SIGKILL)
                killed = title[0]
                break
        time.sleep(0.05)
    runner.join(600)
    assert killed, "no worker was seen running an item"
    report = box["report"]
    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"boat-s5": "done", "boat-s6": "done", "ep1": "done", "ep2": "done", "short-s1": "failed"}
    short = next(r for r in report.results if r.name == "short-s1")
    assert "too short" in short.error                      # the composer's own message, not retried
    for name in ("boat-s5", "boat-s6", "ep1", "ep2"):
        assert_same_files(out / name, cli_outputs / name)
    assert not [p for p in out.rglob("*") if is_partial(p)]
    assert not (out / "short-s1").exists()


def test_ctrl_c_cancels_the_running_items_keeps_the_finished_one_and_a_rerun_makes_the_rest(ray_session, settings,
                                                                                          tmp_path):
    (tmp_path / "plan.toml").write_text('[[music]]\nname = "b"\npreset = "dragon-boat"\nseeds = [21, 22, 23]\n'
                                        'duration_s = 8\n', encoding="utf-8")
    plan = load_plan(tmp_path / "plan.toml")
    finished = []

    def press_ctrl_c() -> bool:
        if finished:
            raise KeyboardInterrupt      # what the terminal's Ctrl+C raises in the driver
        return False

    report = run_batch(plan, tmp_path / "out", settings, cancel=press_ctrl_c,
                       progress=lambda done, total, message: finished.extend([message] if "done" in message else []))
    assert report.interrupted
    statuses = [r.status for r in report.results]
    assert statuses.count("done") == 1 and statuses.count("cancelled") == 2, statuses
    kept = next(r for r in report.results if r.status == "done")
    assert (tmp_path / "out" / kept.name / MARKER_NAME).is_file()
    assert not [p for p in (tmp_path / "out").rglob("*") if is_partial(p)]
    for result in report.results:
        if result.status == "cancelled":
            assert not (tmp_path / "out" / result.name / MARKER_NAME).exists()

    rerun = run_batch(plan, tmp_path / "out", settings)
    assert sorted(r.status for r in rerun.results) == ["done", "done", "skipped"]
    assert next(r for r in rerun.results if r.name == kept.name).status == "skipped"

def test_an_unreachable_cluster_is_refused_with_what_to_do_within_30_s(settings, plan_folder, tmp_path):
    plan = load_plan(plan_folder / "plan.toml")
    started = time.monotonic()
    with pytest.raises(BatchConnectError) as caught:
        run_batch(plan, tmp_path / "out", settings, address="127.0.0.1:1")
    assert time.monotonic() - started < 30
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in str(caught.value)
    assert "leave --address" in str(caught.value)


def test_the_studio_batch_section_builds_and_its_start_handler_renders_into_the_project(ray_session, settings,
                                                                                       tmp_path):
    import gradio as gr

    from lantern_studio.engines.project import Project
    from lantern_studio.studio.batch_panel import build_batch_section, project_scripts, run_batch_job
    from lantern_studio.studio.context import StudioContext

    project = Project.open(tmp_path / "project")
    (project.root / "scripts").mkdir()
    (project.root / "scripts" / "ep1.txt").write_text(SCRIPTS["ep1.txt"], encoding="utf-8")
    ctx = StudioContext(settings=settings, project=project)
    with gr.Blocks() as demo:
        build_batch_section(ctx)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"batch-start", "batch-cancel", "batch-results", "batch-scripts"} <= ids
    assert project_scripts(project.root) == ["scripts/ep1.txt"]

    steps = list(run_batch_job(ctx, str(project.root), ["scripts/ep1.txt"], [], "1:1", "(no music)", True,
                               "dragon-boat", "7", 8))
    token, summary, files = steps[-1]
    assert "2 made" in summary and "0 failed" in summary, summary
    names = {Path(f).name for f in files}
    assert {"pages.pdf", "pages.cbz", "dragon-boat-s7_mix.wav"} <= names
    assert all(Path(f).is_relative_to(project.renders_dir / "batch") for f in files)


def test_the_command_reports_each_item_and_exits_1_when_one_failed(ray_session, settings, tmp_path, capsys):
    import argparse

    from lantern_studio.engines.cli.batch import run

    (tmp_path / "plan.toml").write_text('[[music]]\npreset = "dragon-boat"\nseed = 31\nduration_s = 8\n\n'
                                        '[[music]]\nname = "tiny"\npreset = "lion-dance"\nseed = 1\nduration_s = 2\n',
                                        encoding="utf-8")
    args = argparse.Namespace(plan=str(tmp_path / "plan.toml"), out=None, address=None, workers=None, retries=1,
                              format=None, fps=None, music_preset=None, no_video=False, project=None)
    assert run(args, settings) == 1
    printed = capsys.readouterr().out
    assert "done  dragon-boat-s31" in printed and "failed  tiny-s1" in printed and "too short" in printed
    assert "1 made, 0 already there, 1 failed" in printed
    assert (tmp_path / "batch-out" / "dragon-boat-s31" / "dragon-boat-s31_mix.wav").is_file()
    assert run(args, settings) == 1
    assert "0 made, 1 already there, 1 failed" in capsys.readouterr().out
