"""The job protocol: what counts as a stop request, and what a stop carries."""

from __future__ import annotations

import threading

import pytest

from lantern_studio.engines.jobs import Cancelled, cancel_requested, check_cancel


def test_an_event_a_callable_and_none_say_whether_to_stop():
    event = threading.Event()
    assert not cancel_requested(None) and not cancel_requested(event) and not cancel_requested(lambda: False)
    event.set()
    assert cancel_requested(event) and cancel_requested(lambda: True)


def test_anything_else_is_refused_with_what_to_pass():
    with pytest.raises(ValueError, match="threading.Event or a callable"):
        cancel_requested("stop")


def test_a_stop_carries_the_finished_work_and_no_stop_raises_nothing():
    check_cancel(lambda: False, "unused", [1, 2])
    with pytest.raises(Cancelled, match="after 2 of 5") as caught:
        check_cancel(lambda: True, "after 2 of 5", iter(["a", "b"]))
    assert caught.value.partial == ["a", "b"]
    with pytest.raises(Cancelled) as caught:
        check_cancel(lambda: True, "lines", {3: "clip"})
    assert caught.value.partial == {3: "clip"}
