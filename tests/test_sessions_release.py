"""A closed browser window's state is given back: after sessions that load the page and go away, the studio holds
no state for them (Gradio alone would keep every window's SessionState until 10,000 newer ones push it out).

The studio runs in this process (``build_app`` + ``launch``) so its state holder can be read; the sessions are
real HTTP clients on 127.0.0.1 doing what a page load does (see ``measure_session_memory.one_session``)."""

from __future__ import annotations

import time

import httpx
import pytest

from lantern_testkit import free_port
from measure_session_memory import one_session


@pytest.fixture
def running_studio(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    from lantern_studio.engines.settings import Settings
    from lantern_studio.studio.app import build_app

    settings = Settings.resolve(None, environ={"LANTERN_HOME": str(tmp_path)})
    demo, _ctx = build_app(settings)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


def _load_ids(url: str) -> list[int]:
    config = httpx.get(url + "config", timeout=60).json()
    return [d["id"] for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"]) and not d["inputs"]]


def _wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_closed_windows_leave_no_session_state(running_studio):
    demo, url = running_studio
    load_ids = _load_ids(url)
    assert load_ids, "the studio has no load events to run"
    for _ in range(5):
        one_session(url, load_ids)
    holder = demo.state_holder
    assert _wait_until(lambda: len(holder.session_data) == 0, 30), f"{len(holder.session_data)} sessions kept"
