"""The studio started as a user starts it stops cleanly on SIGTERM and deletes only the temp folder it made."""

from __future__ import annotations

from lantern_testkit import StudioServer


def test_sigterm_stops_the_studio_cleanly_and_empties_its_temp_folder(tmp_path):
    server = StudioServer(tmp_path)
    run_folders = list((tmp_path / "tmp").glob("run-*"))
    assert [folder.name for folder in run_folders] == [f"run-{server.process.pid}"]
    server.stop()                                 # SIGTERM, as a service manager or `kill` sends
    assert server.process.returncode == 0
    assert not (tmp_path / "tmp").exists()        # nothing else was in it, so it goes too


def test_a_users_file_in_the_studio_tmp_folder_survives_a_studio_run(tmp_path):
    notes = tmp_path / "tmp" / "mywork" / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("灯笼 lyrics, draft 3")
    loose = tmp_path / "tmp" / "scratch.wav"
    loose.write_bytes(b"RIFF")
    server = StudioServer(tmp_path)
    run_folder = tmp_path / "tmp" / f"run-{server.process.pid}"
    assert run_folder.is_dir()
    server.stop()
    assert server.process.returncode == 0
    assert not run_folder.exists()
    assert notes.read_text() == "灯笼 lyrics, draft 3" and loose.read_bytes() == b"RIFF"
