"""The studio's mapping of the job protocol to gr.Progress and per-window Stop flags (studio/job_progress.py)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from lantern_studio.engines.jobs import Cancelled, check_cancel
from lantern_studio.studio.job_progress import StopFlags, gr_progress, stream_job


class Recorder:
    """Stands in for gr.Progress's call signature: (fraction, desc=...)."""

    def __init__(self):
        self.calls = []
        self.threads = set()

    def __call__(self, fraction, desc=None):
        self.calls.append((fraction, desc))
        self.threads.add(threading.get_ident())


def window(name):
    return SimpleNamespace(session_hash=name)


def test_gr_progress_clamps_and_passes_the_message():
    bar = Recorder()
    report = gr_progress(bar)
    report(-0.5, "a")
    report(0.25, "b")
    report(3, "c")
    assert bar.calls == [(0.0, "a"), (0.25, "b"), (1.0, "c")]
    gr_progress(None)(0.5, "nobody watches")     # no bar: nothing happens, nothing fails


def test_stop_in_one_window_stops_only_that_windows_job():
    stops = StopFlags()
    with stops.running(window("a")) as flag_a, stops.running(window("b")) as flag_b:
        assert stops.stop(window("a"))
        assert flag_a.is_set() and not flag_b.is_set()
        handler = stops.stop_handler("Stopping.", "Idle.")
        assert handler(window("b")) == "Stopping."
        assert flag_b.is_set()
    assert not stops.is_running(window("a"))
    assert not stops.stop(window("a"))
    assert stops.stop_handler("Stopping.", "Idle.")(window("a")) == "Idle."


def test_stream_job_yields_items_in_the_callers_thread_with_progress():
    bar = Recorder()

    def work(report, emit):
        for index in range(3):
            report(index / 3, f"item {index}")
            emit(index * index)

    items = list(stream_job(work, bar))
    assert items == [0, 1, 4]
    assert [desc for _, desc in bar.calls] == ["starting", "item 0", "item 1", "item 2"]
    assert bar.threads == {threading.get_ident()}


def test_stream_job_raises_the_jobs_error_after_the_finished_items():
    stops = StopFlags()
    received = []
    with stops.running(window("w")) as cancel:
        def work(report, emit):
            done = []
            for index in range(100):
                check_cancel(cancel, "stopped", done)
                done.append(index)
                emit(index)
                if index == 1:
                    stops.stop(window("w"))

        with pytest.raises(Cancelled) as stopped:
            for item in stream_job(work):
                received.append(item)
    assert received == [0, 1]
    assert stopped.value.partial == [0, 1]

    def broken(report, emit):
        emit("first")
        raise ValueError("bad input")

    got = []
    with pytest.raises(ValueError, match="bad input"):
        for item in stream_job(broken):
            got.append(item)
    assert got == ["first"]
