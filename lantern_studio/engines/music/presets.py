"""Presets: festival recipes stored as JSON data files in ``assets/presets/``.

A preset names the mode, key, tempo, meter, form, parts (instrument, role, pan, gain, reverb send) and the
锣鼓经 percussion patterns. ``keywords`` (word -> weight) let the prompt mapper pick it from text.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

from lantern_studio.engines.music.score import FORMS
from lantern_studio.engines.music.synth import INSTRUMENTS
from lantern_studio.engines.music.theory import METERS, MODES, pitch_class

PRESETS_DIR = Path(__file__).resolve().parents[3] / "assets" / "presets"
DEFAULT_PRESET = "spring-festival"
ROLES = ("melody", "heterophony", "ostinato", "harmony", "drone", "drum", "gong", "cymbal", "firecrackers")
REQUIRED = ("id", "name", "name_zh", "mode", "key", "tempo_bpm", "meter", "form", "phrase_bars", "intro_bars",
            "parts", "percussion")


def _check(preset: dict, source: str) -> dict:
    missing = [k for k in REQUIRED if k not in preset]
    if missing:
        raise ValueError(f"preset file {source} lacks {', '.join(missing)}")
    if preset["mode"] not in MODES or preset["form"] not in FORMS or preset["meter"] not in METERS:
        raise ValueError(f"preset file {source}: mode, form or meter is not one the composer knows")
    pitch_class(preset["key"])
    roles = [p["role"] for p in preset["parts"]]
    if roles.count("melody") != 1:
        raise ValueError(f"preset file {source} must have exactly one melody part")
    for part in preset["parts"]:
        if part["role"] not in ROLES or part["instrument"] not in INSTRUMENTS:
            raise ValueError(f"preset file {source}: part {part.get('name')!r} has an unknown role or instrument")
    return preset


@lru_cache(maxsize=4)
def _load_all(directory: str) -> dict[str, dict]:
    presets = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = _check(json.loads(path.read_text(encoding="utf-8")), path.name)
        presets[data["id"]] = data
    if not presets:
        raise ValueError(f"no presets found in {directory}; the studio's assets/presets folder is missing")
    return presets


def all_presets(directory: str | Path | None = None) -> dict[str, dict]:
    """Preset id -> preset dict (copies; safe to change)."""
    return copy.deepcopy(_load_all(str(directory or PRESETS_DIR)))


def preset_ids(directory: str | Path | None = None) -> list[str]:
    return list(_load_all(str(directory or PRESETS_DIR)))


def normalise_name(name: str) -> str:
    return "-".join(str(name).strip().lower().replace("_", " ").split())


def load_preset(name: str, directory: str | Path | None = None) -> dict:
    """The preset called ``name`` (its id such as ``"lion-dance"``, its English or Chinese name).

    Raises
    ------
    ValueError
        When no preset has that name; the message lists the ones there are.
    """
    presets = _load_all(str(directory or PRESETS_DIR))
    wanted = normalise_name(name)
    for pid, preset in presets.items():
        if wanted in (pid, normalise_name(preset["name"]), preset["name_zh"]):
            return copy.deepcopy(preset)
    choices = ", ".join(f"{pid} ({p['name_zh']})" for pid, p in presets.items())
    raise ValueError(f"unknown preset {name!r}; choose one of: {choices}")
