"""The studio started as a user starts it stops cleanly on SIGTERM and empties its temp folder."""

from __future__ import annotations

from lantern_testkit import StudioServer


def test_sigterm_stops_the_studio_cleanly_and_empties_its_temp_folder(tmp_path):
    server = StudioServer(tmp_path)
    temp = tmp_path / "tmp"
    assert temp.is_dir()
    server.stop()                                 # SIGTERM, as a service manager or `kill` sends
    assert server.process.returncode == 0
    assert not temp.exists()
