"""Kill tests: a subprocess saves takes (and autosaves the manifest, streams "renders", deletes takes) in a loop
and is killed with SIGKILL at random points. After every kill the project opens, every take the writer reported finished is
intact (checked against the generator that made it, not only against the store's own checksums), and no
partial file sits under a final name.

CI runs ``KILLS_CI`` kills; ``LANTERN_STRESS=1`` runs ``LANTERN_KILLS`` (default 200) and prints the figures.
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
import numpy as np
import pytest
import soundfile as sf

from lantern_studio.engines.atomic import TEMP_PREFIX
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project

ROOT = Path(__file__).resolve().parent.parent
KILLS_CI = 20
STRESS = os.environ.get("LANTERN_STRESS", "") in ("1", "true", "yes")
KILLS = int(os.environ.get("LANTERN_KILLS", "200")) if STRESS else KILLS_CI

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX-only")

# The writer: the same generator as below decides every take's audio from its number.
WRITER = r"""
import sys
import numpy as np
from lantern_studio.engines.atomic import atomic_output_path
from lantern_studio.engines.music.base import Take
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project

def audio_for(n):
    rng = np.random.default_rng(n)
    frames = int(rng.integers(4_800, 48_000))
    return rng.uniform(-0.9, 0.9, (frames, 2)).astype(np.float32)

def render_chunk(n, chunk):
    return np.random.default_rng([n, chunk]).bytes(32_768)

MIDI = bytes.fromhex("4d546864000000060001000101e04d54726b0000000d00903c5a8360803c0000ff2f00")
root, start = sys.argv[1], int(sys.argv[2])
project = Project.open(root)
store = TakeStore(project)
print("ready", flush=True)
n = start
while True:
    audio = audio_for(n)
    take = Take(engine="composer", seed=n, sample_rate=48_000, audio=audio, id=f"take-{n:06d}",
                stems={"melody": audio[:, 0].copy(), "drums": audio[:, 1] * 0.5}, midi=MIDI, prompt=f"run {n}")
    store.save(take)
    print(f"done {take.id}", flush=True)
    project.update_manifest(last_take=take.id, counter=n)
    print(f"manifest {n}", flush=True)
    if n % 3 == 0:
        store.update(take.id, starred=True, rating=n % 6, notes="x" * (n % 50))
        print(f"updated {take.id}", flush=True)
    if n % 2 == 0:   # a "render": an encoder streaming chunks into renders/ through atomic_output_path
        with atomic_output_path(project.renders_dir / f"render-{n:06d}.bin") as temp:
            with open(temp, "wb") as stream:
                for chunk in range(8):
                    stream.write(render_chunk(n, chunk))
                    stream.flush()
        print(f"rendered {n}", flush=True)
    if n % 7 == 0 and f"take-{n - 2:06d}" in store:
        store.delete(f"take-{n - 2:06d}")
        print(f"deleted take-{n - 2:06d}", flush=True)
    n += 1
"""


def expected_audio(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    frames = int(rng.integers(4_800, 48_000))
    return rng.uniform(-0.9, 0.9, (frames, 2)).astype(np.float32)


def expected_render(n: int) -> bytes:
    return b"".join(np.random.default_rng([n, chunk]).bytes(32_768) for chunk in range(8))


def delete_target(n: int) -> bool:
    """Take n is deleted by the writer when take n + 2 finishes and n + 2 is a multiple of 7."""
    return (n + 2) % 7 == 0


def run_writer_and_kill(root: Path, start: int, rng: random.Random) -> tuple[list[str], float]:
    """Start a writer, kill it with SIGKILL at a random moment, return its complete output lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(start)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            if line.endswith("\n"):     # a line cut by the kill is not a report
                lines.append(line.strip())
                if line.startswith("ready"):
                    ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(60):
        process.kill()
        raise AssertionError("the writer did not start: " + process.stderr.read())
    delay = rng.uniform(0.0, 0.6)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    reader.join(10)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    process.stderr.close()
    return lines, delay


def check_take_files(store: TakeStore, take_id: str, folder: Path) -> None:
    n = int(take_id.split("-")[1])
    meta = json.loads((folder / "take.json").read_text(encoding="utf-8"))
    assert meta["id"] == take_id and meta["seed"] == n
    audio, rate = sf.read(str(folder / "audio.wav"), dtype="float32")
    assert rate == 48_000
    np.testing.assert_array_equal(audio, expected_audio(n))
    melody, _ = sf.read(str(folder / "stems" / "melody.wav"), dtype="float32")
    np.testing.assert_array_equal(melody, expected_audio(n)[:, 0])
    assert [m.note for m in mido.MidiFile(str(folder / "take.mid")).tracks[0] if m.type == "note_on"][:1] == [60]


def test_takes_survive_sigkill_at_random_points(tmp_path):
    root = tmp_path / "project"
    Project.open(root).close()
    rng = random.Random(20261125)
    reported: set[str] = set()
    rendered: set[int] = set()
    deleted: set[str] = set()
    last_manifest = -1
    figures = {"kills": 0, "takes_reported": 0, "kills_mid_write": 0, "partials_removed": 0,
               "incomplete_takes_trashed": 0, "items_lost": 0}
    start = 0
    for _ in range(KILLS):
        lines, _delay = run_writer_and_kill(root, start, rng)
        figures["kills"] += 1
        for line in lines:
            word, _, value = line.partition(" ")
            if word == "done":
                reported.add(value)
            elif word == "deleted":
                deleted.add(value)
            elif word == "rendered":
                rendered.add(int(value))
            elif word == "manifest":
                last_manifest = max(last_manifest, int(value))

        project = Project.open(root)           # recovery runs here
        report = project.recovery
        figures["partials_removed"] += len(report.removed)
        figures["incomplete_takes_trashed"] += len(report.incomplete)
        figures["kills_mid_write"] += int(not report.clean)
        assert not report.kept, "nobody else has the project open, so nothing may be left behind"
        assert project.manifest["schema_version"] == 2
        if last_manifest >= 0:
            assert project.manifest["counter"] >= last_manifest
        # no partial file anywhere, and every take folder in takes/ is finished
        assert not [p for p in root.rglob("*") if p.name.startswith(TEMP_PREFIX)]
        store = TakeStore(project)
        for folder in project.takes_dir.iterdir():
            assert (folder / "take.json").is_file(), f"{folder.name} has no sidecar after recovery"
        # every take reported in this run is intact wherever it is
        trashed = {item.original.split("/")[1]: item.path for item in project.trash_items()
                   if item.original.startswith("takes/") and (item.path / "take.json").exists()}
        new = {line.split()[1] for line in lines if line.startswith("done ")}
        for take_id in new:
            if take_id in store:
                check_take_files(store, take_id, store.folder(take_id))
            elif take_id in trashed and delete_target(int(take_id.split("-")[1])):
                check_take_files(store, take_id, trashed[take_id])
            else:
                figures["items_lost"] += 1
                pytest.fail(f"{take_id} was reported finished and is gone")
        # every render on disk is whole (finished renders only appear under their final names)
        for path in project.renders_dir.glob("render-*.bin"):
            assert path.read_bytes() == expected_render(int(path.stem.split("-")[1])), f"{path.name} is damaged"
        for n in rendered:
            assert (project.renders_dir / f"render-{n:06d}.bin").is_file(), f"render {n} was reported and is gone"
        highest = max((int(i.split("-")[1]) for i in store.ids() + list(trashed)), default=-1)
        start = highest + 1
        project.close()

    # the full audit at the end: every reported take intact, exactly once, in the store or (deleted) in the trash
    project = Project.open(root)
    store = TakeStore(project)
    trashed = {item.original.split("/")[1]: item.path for item in project.trash_items()
               if item.original.startswith("takes/") and (item.path / "take.json").exists()}
    for take_id in reported:
        in_store, in_trash = take_id in store, take_id in trashed
        assert in_store != in_trash, f"{take_id}: in store {in_store}, in trash {in_trash}"
        if take_id in deleted:
            assert in_trash
        elif not delete_target(int(take_id.split("-")[1])):
            assert in_store
        if in_store:
            assert store.verify(take_id) == []
            check_take_files(store, take_id, store.folder(take_id))
        else:
            check_take_files(store, take_id, trashed[take_id])
    for take_id in store.ids():
        assert store.verify(take_id) == []
    figures["takes_reported"] = len(reported)
    figures["renders_reported"] = len(rendered)
    figures["takes_in_store"] = len(store.ids())
    print("\nkill-test figures: " + json.dumps(figures), flush=True)
    assert figures["kills"] == KILLS and figures["items_lost"] == 0
    assert len(reported) >= KILLS // 2, "the writer should finish takes between kills"

