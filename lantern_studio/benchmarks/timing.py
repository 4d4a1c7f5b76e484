"""Timing and row-building helpers shared by every benchmark family.

A row is the stable JSON shape documented in the README::

    {"family": "mix", "scenario": "16 stereo stems x 180 s", "metric": "realtime_factor",
     "value": 1234.5, "spread": [min, max], "peers": {"pydub": 27.1}, "ratios": {"pydub": 45.6},
     "roofline_fraction": 0.52, "device": "cpu", "realtime": true}

``metric`` is ``"realtime_factor"`` (seconds of media per second of work), ``"fps"`` or ``"seconds"``
(wall time, smaller is better). Ratios are oriented so that larger is better for this project.
A peer that is not installed is reported in ``skipped`` (peer name -> reason), never as a failure.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

METRICS = ("realtime_factor", "fps", "seconds", "items_per_minute")


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated runs of one piece of work."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.seconds), max(self.seconds)


def cpu_body_peer() -> str:
    """The peer name of this project's CPU body, timed beside the CUDA body on ``--device cuda`` runs to
    show whether the GPU is worth using on that machine."""
    return f"this project's CPU body ({os.cpu_count()} cores)"


def measure(work: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> Timing:
    """Run ``work`` ``warmup`` times untimed (compilation, caches), then ``repeats`` times timed."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        work()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return Timing(tuple(seconds))


def figure(timing: Timing, metric: str, *, amount: float = 1.0) -> tuple[float, tuple[float, float]]:
    """Turn a timing into (value, (min, max)) for a metric.

    ``amount`` is the media seconds processed per run (``realtime_factor``) or frames per run (``fps``);
    it is ignored for ``seconds``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}")
    if metric == "seconds":
        return timing.median, timing.spread
    fastest, slowest = timing.spread
    return amount / timing.median, (amount / slowest, amount / fastest)


def ratio(value: float, peer_value: float, metric: str) -> float | None:
    """This project's figure over the peer's, oriented so that larger is better for this project."""
    if not (value > 0 and peer_value > 0):
        return None                  # a scenario that did not run has no ratio (JSON null)
    if metric == "seconds":
        return peer_value / value
    return value / peer_value


def make_row(*, family: str, scenario: str, metric: str, value: float, spread: tuple[float, float],
             peers: dict[str, float], device: str, skipped: dict[str, str] | None = None,
             roofline_fraction: float | None = None, realtime: bool | None = None) -> dict:
    """A benchmark row in the documented JSON shape."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}")
    row = {
        "family": family,
        "scenario": scenario,
        "metric": metric,
        "value": float(value),
        "spread": [float(spread[0]), float(spread[1])],
        "peers": {name: float(v) for name, v in peers.items()},
        "ratios": {name: ratio(value, v, metric) for name, v in peers.items()},
        "roofline_fraction": None if roofline_fraction is None else float(roofline_fraction),
        "device": device,
        "realtime": realtime,
    }
    if skipped:
        row["skipped"] = dict(skipped)
    return row
