"""The command line checks every output path and input file before any work or write: a file as ``--out``, a
truncated or undecodable ``--music``, a damaged or foreign ``--project``, a script over the line or shot cap.
Each is refused with exit status 2 and a one-line message, nothing is written, and there is no traceback.
``compose --project`` saves its takes into the project."""

from __future__ import annotations

import tempfile

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lantern_studio.engines.atomic import TEMP_PREFIX
from lantern_studio.engines.audio.integrity import check_wav_complete, read_complete_audio
from lantern_studio.engines.audio.io import AudioFileError, read_audio
from lantern_studio.engines.cli import compose, storyboard
from lantern_studio.engines.music.takes import TakeStore
from lantern_studio.engines.project import Project
from lantern_studio.engines.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import launch  # noqa: E402  (launch.py is a script beside the package, not an installed module)

SCRIPT = "第一场 客厅 夜\n奶奶：团圆饭做好了。\n小明：我回来了！\n"


def parse(*argv: str):
    return launch.parse_args(list(argv))


def settings_for(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", project_dir=tmp_path / "home" / "projects" / "default",
                    models_dir=tmp_path / "models")


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.fixture()
def script(tmp_path) -> Path:
    path = tmp_path / "episode.txt"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def tone(seconds: float = 2.0, rate: int = 48_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1).astype(np.float32)


# ---- integrity of --music --------------------------------------------------------------------------------------


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_a_truncated_wav_is_named_truncated_and_a_whole_one_reads_back(tmp_path, subtype):
    whole = tmp_path / "whole.wav"
    sf.write(whole, tone(), 48_000, subtype=subtype)
    audio, rate = read_complete_audio(whole)
    reference, _ = sf.read(whole, dtype="float32", always_2d=True)       # the oracle: libsndfile itself
    assert rate == 48_000 and np.array_equal(audio, reference)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    assert sf.read(cut)[0].shape[0] > 0                # libsndfile reads it without a word: that is the trap
    with pytest.raises(AudioFileError, match=r"cut.wav is truncated.*\(60%\).*again"):
        check_wav_complete(cut)
    with pytest.raises(AudioFileError, match="cut.wav is truncated"):    # every reader of the studio refuses it
        read_audio(cut)


def test_a_fifo_music_file_is_refused_without_being_opened(tmp_path):
    fifo = tmp_path / "music.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioFileError, match="FIFO.*not opened"):
        read_complete_audio(fifo)


# ---- storyboard ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated", "undecodable"])
def test_storyboard_refuses_a_bad_music_file_before_writing_anything(tmp_path, script, capsys, damage):
    music = tmp_path / "music.wav"
    sf.write(music, tone(), 48_000, subtype="PCM_16")
    data = music.read_bytes()
    music.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"RIFF" + os.urandom(3000))
    out = tmp_path / "out"
    code = storyboard.run(parse("storyboard", str(script), "--out", str(out), "--music", str(music)),
                          settings_for(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --music: music.wav") and "Traceback" not in err
    assert ("truncated" if damage == "truncated" else "could not be decoded") in err
    assert listing(out) == []


def test_a_20000_line_script_gets_the_caps_message_and_the_cap_can_be_raised(tmp_path, capsys, monkeypatch):
    long_script = tmp_path / "long.txt"
    long_script.write_text("".join(f"甲：第{i}句。\n" for i in range(20_000)), encoding="utf-8")
    out = tmp_path / "out"
    code = storyboard.run(parse("storyboard", str(long_script), "--out", str(out)), settings_for(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "20,000 lines; the cap is 10,000 lines" in err and "--max-script-lines" in err
    assert listing(out) == []
    # raised on the command line, the line cap lets it through to the shot cap
    code = storyboard.run(parse("storyboard", str(long_script), "--out", str(out), "--max-script-lines", "30000",
                                "--max-shots", "50"), settings_for(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "the cap is 50 shots" in err and "--max-shots" in err and listing(out) == []
    # and as a setting
    monkeypatch.setenv("LANTERN_MAX_SCRIPT_LINES", "2")
    code = storyboard.run(parse("storyboard", str(tmp_path / "long.txt"), "--out", str(out)), settings_for(tmp_path))
    assert code == 2 and "the cap is 2 lines" in capsys.readouterr().err


def test_storyboard_refuses_a_file_as_out_and_a_damaged_project_without_a_traceback(tmp_path, script, capsys):
    blocker = tmp_path / "out.txt"
    blocker.write_text("my notes")
    for out in (blocker, blocker / "sub"):
        code = storyboard.run(parse("storyboard", str(script), "--out", str(out), "--no-video"),
                              settings_for(tmp_path))
        err = capsys.readouterr().err
        assert code == 2 and "is a file, not a folder" in err and "Traceback" not in err
    assert blocker.read_text() == "my notes"
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "project.json").write_text('{"schema_version": 2, "na')
    code = storyboard.run(parse("storyboard", str(script), "--out", str(tmp_path / "out"), "--no-video",
                                "--project", str(damaged)), settings_for(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "--project" in err and "cannot be read" in err and listing(tmp_path / "out") == []


# ---- compose ---------------------------------------------------------------------------------------------------


def test_compose_checks_out_before_generating(tmp_path, capsys):
    blocker = tmp_path / "out.wav"
    blocker.write_bytes(b"a user's file")
    code = compose.run(parse("compose", "--preset", "lion-dance", "--seed", "3", "--duration", "12",
                             "--out", str(blocker / "takes")), settings_for(tmp_path))
    captured = capsys.readouterr()
    assert code == 2 and "cannot be made" in captured.err and "is a file" in captured.err
    assert "[" not in captured.err          # no generation progress: refused before any work
    assert blocker.read_bytes() == b"a user's file"


def test_compose_project_saves_every_take_into_the_project(tmp_path, capsys):
    out, root = tmp_path / "out", tmp_path / "my-project"
    code = compose.run(parse("compose", "--preset", "lion-dance", "--seed", "5", "--duration", "12", "--takes", "2",
                             "--out", str(out), "--project", str(root)), settings_for(tmp_path))
    assert code == 0, capsys.readouterr().err
    store = TakeStore(Project.open(root, create=False))
    takes = store.list(sort="seed", descending=False, with_audio=True)
    assert len(takes) == 2 and all(store.verify(t.id) == [] for t in takes)
    for take in takes:
        # the oracle: the exported 24-bit WAV, read by libsndfile, holds the same music as the saved take
        exported = sorted(out.glob(f"*s{take.seed}_mix.wav")) or sorted(out.glob(f"*seed{take.seed}_mix.wav"))
        audio, rate = sf.read(exported[0], dtype="float32", always_2d=True)
        assert rate == take.sample_rate and audio.shape == take.audio.shape
        assert np.max(np.abs(audio - take.audio)) < 2 ** -20
    assert str(root / "takes") in capsys.readouterr().out


def test_compose_refuses_a_folder_that_is_not_a_project_before_generating(tmp_path, capsys):
    folder = tmp_path / "Documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("four years")
    code = compose.run(parse("compose", "--preset", "lion-dance", "--duration", "12", "--out", str(tmp_path / "out"),
                             "--project", str(folder)), settings_for(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "not a Lantern Studio project" in err and "Traceback" not in err
    assert listing(folder) == ["thesis.txt"] and listing(tmp_path / "out") == []


def test_compose_cleans_its_own_stale_leftovers_in_out_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh, foreign = (out / f"{TEMP_PREFIX}abcd1234.wav", out / f"{TEMP_PREFIX}abcd5678.wav",
                             out / ".partial-mine")
    for path in (stale, fresh, foreign):
        path.write_bytes(b"x")
    hours_ago = time.time() - 7_200
    for path in (stale, foreign):
        os.utime(path, (hours_ago, hours_ago))
    code = compose.run(parse("compose", "--preset", "lion-dance", "--seed", "1", "--duration", "12",
                             "--out", str(out)), settings_for(tmp_path))
    assert code == 0 and "removed 1 unfinished temporary file" in capsys.readouterr().err
    assert not stale.exists() and fresh.exists() and foreign.exists()


def test_storyboard_refuses_a_truncated_dialogue_line_before_writing_anything(tmp_path, script, capsys):
    line = tmp_path / "shot-2.wav"
    sf.write(line, tone(1.0), 48_000, subtype="PCM_16")
    line.write_bytes(line.read_bytes()[:20_000])
    out = tmp_path / "out"
    code = storyboard.run(parse("storyboard", str(script), "--out", str(out), "--dialogue", str(line)),
                          settings_for(tmp_path))
    err = capsys.readouterr().err
    assert code == 2 and "--dialogue: shot-2.wav is truncated" in err and listing(out) == []


def test_launch_turns_a_damaged_or_foreign_project_into_a_message(tmp_path, capsys, monkeypatch):
    import signal as signal_module

    from lantern_studio.engines import settings as settings_module

    monkeypatch.setattr(launch, "ensure_environment", lambda args, argv: None)     # this venv is set up already
    monkeypatch.setattr(settings_module, "apply_process_environment", lambda settings: None)
    monkeypatch.setattr(signal_module, "signal", lambda *args: None)
    monkeypatch.setenv("LANTERN_HOME", str(tmp_path / "home"))
    # the in-process run claims a temp folder for this interpreter: give tempfile and TMPDIR back afterwards
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    monkeypatch.setenv("TMPDIR", os.environ.get("TMPDIR", tempfile.gettempdir()))
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "project.json").write_bytes(b"{" * 50_000)
    foreign = tmp_path / "Documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("four years")
    for folder, message in ((damaged, "cannot be read"), (foreign, "not a Lantern Studio project")):
        code = launch.main(["studio", "--project", str(folder), "--no-browser"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and message in err and "Traceback" not in err
    assert listing(foreign) == ["thesis.txt"]
