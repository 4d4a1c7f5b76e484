"""Kill test of ``compose --out DIR --project P``: a subprocess composes takes in a loop (exporting them into DIR and
saving them into the project) and is killed with SIGKILL at random moments. After every kill the project opens
with nothing left behind, every take it holds verifies, every file under a final name in DIR is whole, every take
the writer reported is in both places, and what is left in DIR is only the studio's own temporaries, which the
next run's clean-up removes by name.

CI runs ``KILLS_CI`` kills; ``LANTERN_STRESS=1`` runs ``LANTERN_KILLS`` (default 100) and prints the figures.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import pytest
import soundfile as sf

from lantern_studio.engines.atomic import TEMP_PREFIX, is_own_partial, remove_stale_partials
from lantern_studio.engines.audio.integrity import check_wav_complete, read_complete_audio
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project

ROOT = Path(__file__).resolve().parent.parent
KILLS_CI = 3
STRESS = os.environ.get("LANTERN_STRESS", "") in ("1", "true", "yes")
KILLS = int(os.environ.get("LANTERN_KILLS", "100")) if STRESS else KILLS_CI

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")

WRITER = r"""
import argparse, sys
from lantern_studio.engines.cli import compose
out, project, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
seed = start
while True:
    args = argparse.Namespace(engine="composer", preset="lion-dance", prompt=None, seed=seed, duration=11.0, takes=1,
                              model=None, melody=None, out=out, project=project, extend_to=None)
    code = compose.run(args, None)
    print(f"done {seed} {code}", flush=True)
    seed += 1
"""


def run_and_kill(out: Path, project: Path, start: int, rng: random.Random) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(project), str(start)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            if line.endswith("\n"):
                lines.append(line.strip())
                if line.startswith("ready"):
                    ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(120):
        process.kill()
        raise AssertionError("the writer did not start")
    time.sleep(rng.uniform(0.0, 14.0))      # the first take of a process takes ~7 s, later ones ~2 s
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    reader.join(10)
    assert process.returncode == -signal.SIGKILL
    return lines


def check_whole(path: Path) -> None:
    """A file under a final name must be complete: decoded in full, or parsed, by an independent reader."""
    if path.suffix == ".wav":
        check_wav_complete(path)
        assert sf.info(str(path)).frames > 0
    elif path.suffix == ".flac":
        read_complete_audio(path)
    elif path.suffix == ".mid":
        assert mido.MidiFile(str(path)).tracks
    elif path.suffix == ".json":
        assert json.loads(path.read_text(encoding="utf-8"))["seed"] >= 0
    elif path.suffix == ".mp3":
        assert path.stat().st_size > 0


def test_compose_into_out_and_a_project_survives_sigkill(tmp_path):
    out, root = tmp_path / "out", tmp_path / "project"
    rng = random.Random(20261206)
    reported: set[int] = set()
    figures = {"kills": 0, "takes_reported": 0, "out_partials_left": 0, "project_partials_removed": 0,
               "unfinished_takes_trashed": 0, "files_checked": 0}
    start = 0
    out.mkdir()                                   # a kill before the first export may leave no folder yet
    for _ in range(KILLS):
        lines = run_and_kill(out, root, start, rng)
        figures["kills"] += 1
        for line in lines:
            if line.startswith("done "):
                _, seed, code = line.split()
                assert code == "0"
                reported.add(int(seed))
        project = Project.open(root)          # a kill before the first save may leave no project yet
        report = project.recovery
        assert not report.kept and not report.left_alone
        figures["project_partials_removed"] += len(report.removed)
        figures["unfinished_takes_trashed"] += len(report.incomplete)
        assert not [p for p in root.rglob(f"{TEMP_PREFIX}*") if ".trash" not in p.parts]
        store = TakeStore(project)
        for folder in project.takes_dir.iterdir():
            assert (folder / "take.json").is_file()
        seeds = {store.metadata(i)["seed"]: i for i in store.ids()}
        for take_id in store.ids():
            assert store.verify(take_id) == []
        for seed in reported:
            assert seed in seeds, f"take of seed {seed} was reported and is not in the project"
            assert list(out.glob(f"*s{seed}_recipe.json")) or list(out.glob(f"*seed{seed}_recipe.json"))
        for path in out.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                assert is_own_partial(path.name), path.name
                figures["out_partials_left"] += 1
            else:
                check_whole(path)
                figures["files_checked"] += 1
        remove_stale_partials(out, older_than_s=0)      # what the next run does once they are an hour old
        assert not [p for p in out.iterdir() if p.name.startswith(TEMP_PREFIX)]
        start = max([*seeds, *reported, start - 1]) + 1
        project.close()
    figures["takes_reported"] = len(reported)
    print("\ncompose kill-test figures: " + json.dumps(figures), flush=True)
    assert figures["kills"] == KILLS
