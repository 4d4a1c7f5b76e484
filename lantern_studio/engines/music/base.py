"""The interface every music engine answers, and the take it returns.

An engine is an object with ``name``, ``available()`` and ``generate(request, ...)``. A take is audio plus
everything needed to reproduce it: engine, model, prompt, preset, seed, parameters, parent take and the
time it took.
"""

from __future__ import annotations

import datetime as _dt
import secrets
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from lantern_studio.engines.jobs import Cancel, Progress  # noqa: F401  (the engines' protocol, re-exported)

SAMPLE_RATE = 48_000
MAX_DURATION_S = 600.0
MAX_TAKES = 8
MODES = ("new", "vary", "continue", "extend")



def new_seed() -> int:
    """A fresh random seed, small enough to read out and type back."""
    return secrets.randbelow(2**31 - 1)


def new_take_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class EngineStatus:
    ready: bool
    message: str            # what is available, or why not and how to fix it


@dataclass(frozen=True)
class GenerationRequest:
    """What to make. Shared by all engines; engine-specific knobs go in ``params``.

    ``mode``: ``"new"``; ``"vary"`` (a variation of ``parent`` with ``variation_strength`` in [0, 1]);
    ``"continue"`` (the next section after ``parent`` ends, or after ``region_s`` of it);
    ``"extend"`` (long form: ``duration_s`` beyond the model's window).
    ``seed``: None draws one seed per take; an int gives take ``i`` the seed ``seed + i``.
    """

    prompt: str = ""
    preset: str | None = None
    duration_s: float = 30.0
    seed: int | None = None
    takes: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)
    mode: str = "new"
    parent: "Take | None" = None
    variation_strength: float = 0.3
    region_s: tuple[float, float] | None = None
    melody: np.ndarray | None = field(default=None, repr=False, compare=False)   # (n,) or (n, 2) float32
    melody_sample_rate: int | None = None

    def validate(self, *, max_duration_s: float = MAX_DURATION_S) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not 0 < self.duration_s <= max_duration_s:
            raise ValueError(f"duration {self.duration_s:g} s is outside 0-{max_duration_s:g} s; choose a shorter "
                             "duration (long pieces can be built with 'continue')")
        if not 1 <= self.takes <= MAX_TAKES:
            raise ValueError(f"number of takes {self.takes} is outside 1-{MAX_TAKES}")
        if self.mode in ("vary", "continue") and self.parent is None:
            raise ValueError(f"'{self.mode}' needs a take to start from; pick one in the takes list first")
        if not 0.0 <= self.variation_strength <= 1.0:
            raise ValueError("variation strength must be between 0 and 1")

    def seeds(self) -> list[int]:
        if self.seed is None:
            return [new_seed() for _ in range(self.takes)]
        return [int(self.seed) + i for i in range(self.takes)]


@dataclass
class Take:
    """One generated piece of music and its recipe.

    ``audio``: float32 (n, 2) at ``sample_rate``. ``stems``: part name -> float32 (n,) or (n, 2), when the
    engine makes stems. ``midi``: a Standard MIDI File's bytes, when the engine writes notes.
    """

    engine: str
    seed: int
    sample_rate: int
    audio: np.ndarray = field(repr=False)
    prompt: str = ""
    preset: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    relation: str | None = None          # "vary" | "continue" | "extend" | None
    device: str = "cpu"
    generation_s: float = 0.0
    stems: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    midi: bytes | None = field(default=None, repr=False)
    summary: str = ""                    # what the engine understood / made, for the user
    id: str = field(default_factory=new_take_id)
    name: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now().isoformat(timespec="seconds"))
    starred: bool = False
    rating: int = 0
    notes: str = ""
    loudness_lufs: float | None = None

    @property
    def duration_s(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def recipe(self) -> dict[str, Any]:
        """Everything needed to make this take again (JSON-serialisable)."""
        return {"engine": self.engine, "model": self.model, "prompt": self.prompt, "preset": self.preset,
                "seed": self.seed, "duration_s": round(self.duration_s, 6), "params": dict(self.params),
                "parent_id": self.parent_id, "relation": self.relation}

    def metadata(self) -> dict[str, Any]:
        """The JSON sidecar: recipe plus history fields (no audio)."""
        return {**self.recipe(), "id": self.id, "name": self.name, "created": self.created,
                "sample_rate": self.sample_rate, "device": self.device, "generation_s": self.generation_s,
                "stems": sorted(self.stems), "has_midi": self.midi is not None, "summary": self.summary,
                "starred": self.starred, "rating": self.rating, "notes": self.notes,
                "loudness_lufs": self.loudness_lufs}

    def with_changes(self, **changes: Any) -> "Take":
        return replace(self, **changes)


class MusicEngine(Protocol):
    name: str

    def available(self) -> EngineStatus:
        """Ready, or why not and how to fix it."""

    def generate(self, request: GenerationRequest, *, progress: Progress | None = None,
                 cancel: Cancel | None = None, on_take: Callable[[Take], None] | None = None) -> list[Take]:
        """Make ``request.takes`` takes. ``on_take`` is called as each one finishes (so callers can save it at
        once); when ``cancel()`` turns True the engine stops and returns the takes finished so far."""
