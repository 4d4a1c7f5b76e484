"""A batch plan: the items ``launch.py batch`` renders, read from a TOML file or a folder of scripts.

A plan file lists music takes and storyboard/animatic renders; ``[defaults]`` gives any field to every item
that does not set it::

    out = "batch-out"                 # relative to the plan; --out overrides it

    [defaults]
    format = "9:16"
    duration_s = 30

    [[music]]                         # one item per seed: the same as `launch.py compose --seed N`
    name = "lion"
    preset = "lion-dance"             # or prompt = "舞狮，越来越快"
    seeds = [1, 2, 3]

    [[animatic]]                      # the same as `launch.py storyboard SCRIPT`
    script = "scripts/ep01.fountain"
    music = "takes/theme.wav"         # an audio file, or a take id of the project,
    # music_preset = "lion-dance"     # or a composer take made for it first (music_seed, music_duration_s)
    dialogue = ["voices/shot-1.wav"]  # recorded lines named after their shots
    voices = "auto"                   # the other lines spoken in character voices (or placeholder, none)
    no_video = false

A folder instead of a file makes one animatic item per script in it (``.fountain``, ``.txt``), with the
defaults the command line gives. Every check happens here, before any item runs; a mistake raises
:class:`PlanError` naming the plan's line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lantern_studio.engines.safety import sanitize_filename

KINDS = ("music", "animatic")
SCRIPT_SUFFIXES = (".fountain", ".txt")
FORMATS = ("9:16", "16:9", "1:1")
FPS_CHOICES = (24, 25, 30)
VOICE_MODES = ("auto", "placeholder", "none")
ENGINES = ("composer", "musicgen")
MUSIC_FIELDS = ("name", "engine", "preset", "prompt", "seed", "seeds", "duration_s", "model")
ANIMATIC_FIELDS = ("name", "script", "format", "fps", "music", "music_preset", "music_seed", "music_duration_s",
                   "dialogue", "voices", "no_video")
FIELDS = {"music": MUSIC_FIELDS, "animatic": ANIMATIC_FIELDS}
DEFAULT_MUSIC_DURATION_S = 30.0
TOP_LEVEL = ("out", "defaults", *KINDS)


class PlanError(ValueError):
    """A plan that cannot run; the message names the file and line and says what to write instead."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None):
        self.line = line
        where = f"{source} line {line}: " if line else (f"{source}: " if source else "")
        super().__init__(where + message)


@dataclass(frozen=True)
class BatchItem:
    """One unit of work: what ``compose`` or ``storyboard`` would be asked on the command line.

    ``options`` holds the command's options (JSON values); ``inputs`` maps the name a file gets on the worker
    (``script/ep01.fountain``, ``music/theme.wav``, ``dialogue/shot-1.wav``) to the file on this machine, whose
    bytes travel with the task. ``name`` is the item's folder under the batch's output folder.
    """

    name: str
    kind: str
    options: Mapping[str, Any]
    inputs: Mapping[str, Path] = field(default_factory=dict)
    line: int | None = None


@dataclass(frozen=True)
class BatchPlan:
    items: tuple[BatchItem, ...]
    out_dir: Path | None
    source: str


# ------------------------------------------------------------------------------------------------
# where things are in the file: tomllib gives values without line numbers
# ------------------------------------------------------------------------------------------------

_ARRAY_HEADER = re.compile(r"^\[\[\s*([^\]\s]+)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\[\s*([^\]\s]+)\s*\]")
_KEY = re.compile(r"""^("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


class _Lines:
    """Line numbers of table headers and keys: ``table(kind, index)`` and ``key(kind, index, key)``."""

    def __init__(self, text: str):
        self.tables: dict[tuple[str | None, int | None], int] = {}
        self.keys: dict[tuple[str | None, int | None, str], int] = {}
        counters: dict[str, int] = {}
        current: tuple[str | None, int | None] = (None, None)
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if match := _ARRAY_HEADER.match(line):
                kind = match.group(1)
                current = (kind, counters.get(kind, 0))
                counters[kind] = current[1] + 1
                self.tables[current] = number
            elif match := _TABLE_HEADER.match(line):
                current = (match.group(1), None)
                self.tables[current] = number
            elif match := _KEY.match(line):
                self.keys.setdefault((*current, match.group(1).strip("\"'")), number)

    def table(self, kind: str | None, index: int | None) -> int | None:
        return self.tables.get((kind, index))

    def key(self, kind: str | None, index: int | None, key: str) -> int | None:
        return self.keys.get((kind, index, key)) or self.table(kind, index)


# ------------------------------------------------------------------------------------------------
# reading a plan
# ------------------------------------------------------------------------------------------------


def load_plan(path: str | Path, *, defaults: Mapping[str, Any] | None = None,
              project_dir: str | Path | None = None) -> BatchPlan:
    """Read and check a plan file, or make one from a folder of scripts.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` plan, or a folder whose ``.fountain``/``.txt`` scripts each become an animatic item.
    defaults : mapping, optional
        Fields for every item that neither it nor the plan's ``[defaults]`` sets (the command line's options).
    project_dir : str or Path, optional
        The project whose takes ``music = "<take id>"`` may name.

    Raises
    ------
    PlanError
        The plan cannot run: the message names its line and what to write instead.
    """
    path = Path(path).expanduser()
    cli_defaults = {k: v for k, v in dict(defaults or {}).items() if v is not None}
    if path.is_dir():
        scripts = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SCRIPT_SUFFIXES)
        if not scripts:
            raise PlanError(f"{path} holds no script ({', '.join(SCRIPT_SUFFIXES)}); put the episodes' scripts in it "
                            "or pass a .toml plan", source=str(path))
        entries = [{"script": p.name} for p in scripts]
        data = {"animatic": entries}
        return _check_plan(data, _Lines(""), base=path, source=str(path), cli_defaults=cli_defaults,
                           project_dir=project_dir)
    if not path.is_file():
        raise PlanError(f"{path} does not exist; pass a .toml plan or a folder of scripts")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise PlanError(f"the plan is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8",
                        source=path.name) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None) or _line_from_message(str(error))
        if line is None and "end of document" in str(error):
            line = max(1, len(text.rstrip().splitlines()))
        message = getattr(error, "msg", None) or re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)$", "",
                                                        str(error))
        raise PlanError(f"this is not valid TOML: {message}; see https://toml.io for the syntax",
                        source=path.name, line=line) from None
    return _check_plan(data, _Lines(text), base=path.parent, source=path.name, cli_defaults=cli_defaults,
                       project_dir=project_dir)


def plan_from_data(data: Mapping[str, Any], *, base: str | Path, source: str = "batch",
                   project_dir: str | Path | None = None) -> BatchPlan:
    """Check a plan given as the dictionary a TOML file would hold (the studio's Batch section builds one).
    Paths are relative to ``base``; mistakes raise :class:`PlanError` naming the item."""
    return _check_plan(dict(data), _Lines(""), base=Path(base), source=source, cli_defaults={},
                       project_dir=project_dir)


def _line_from_message(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


def _check_plan(data: dict, lines: _Lines, *, base: Path, source: str, cli_defaults: dict,
                project_dir: str | Path | None) -> BatchPlan:
    def fail(message: str, line: int | None) -> PlanError:
        return PlanError(message, source=source, line=line)

    for key in data:
        if key not in TOP_LEVEL:
            raise fail(f"unknown entry {key!r}; a plan has {', '.join(TOP_LEVEL[:2])}, [[music]] and [[animatic]]",
                       lines.key(None, None, key) or lines.table(key, 0) or lines.table(key, None))
    out_dir = None
    if "out" in data:
        if not isinstance(data["out"], str) or not data["out"].strip():
            raise fail("out must be a folder name in quotes, e.g. out = \"batch-out\"", lines.key(None, None, "out"))
        out_dir = (base / Path(data["out"]).expanduser())
    plan_defaults = data.get("defaults", {})
    if not isinstance(plan_defaults, dict):
        raise fail("defaults must be a table: [defaults] with one field per line", lines.key(None, None, "defaults"))
    every_field = set(MUSIC_FIELDS) | set(ANIMATIC_FIELDS)
    for key in plan_defaults:
        if key not in every_field or key == "name":
            raise fail(f"[defaults] has an unknown field {key!r}; fields are {', '.join(sorted(every_field - {'name'}))}",
                       lines.key("defaults", None, key))

    items: list[BatchItem] = []
    for kind in KINDS:
        entries = data.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise fail(f"write each {kind} item as its own [[{kind}]] table", lines.key(None, None, kind))
        for index, entry in enumerate(entries):
            def line_of(key: str | None = None, _index=index, _kind=kind) -> int | None:
                return lines.key(_kind, _index, key) if key else lines.table(_kind, _index)

            for key in entry:
                if key not in FIELDS[kind]:
                    raise fail(f"[[{kind}]] has no field {key!r}; its fields are {', '.join(FIELDS[kind])}",
                               line_of(key))
            merged = {**{k: v for k, v in cli_defaults.items() if k in FIELDS[kind]},
                      **{k: v for k, v in plan_defaults.items() if k in FIELDS[kind]}, **entry}

            def where(key: str, _entry=entry, _line_of=line_of) -> int | None:
                # a value from [defaults] is wrong where [defaults] says it
                if key in _entry:
                    return _line_of(key)
                return lines.key("defaults", None, key) if key in plan_defaults else _line_of()

            if kind == "music":
                items += _music_items(merged, where, fail)
            else:
                items.append(_animatic_item(merged, where, fail, base=base, project_dir=project_dir))
    if not items:
        raise fail("the plan lists no item; add a [[music]] or an [[animatic]] table", None)
    seen: dict[str, BatchItem] = {}
    for item in items:
        if item.name in seen:
            raise fail(f"two items are called {item.name!r} (the other is at line {seen[item.name].line}); "
                       "give one a different name = \"...\"", item.line)
        seen[item.name] = item
    return BatchPlan(items=tuple(items), out_dir=out_dir, source=source)


def _text(merged: dict, key: str, where, fail, *, required: bool = False) -> str | None:
    value = merged.get(key)
    if value is None:
        if required:
            raise fail(f"{key} is missing", where(key))
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{key} must be non-empty text in quotes", where(key))
    return value.strip()


def _number(merged: dict, key: str, where, fail, default: float | None) -> float | None:
    value = merged.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise fail(f"{key} must be a number of seconds above 0, e.g. {key} = 30", where(key))
    return float(value)


def _seed(value: Any, key: str, where, fail) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 32:
        raise fail(f"{key} must be a whole number from 0 to 4294967295, not {value!r}", where(key))
    return value


def _item_name(merged: dict, default: str, where, fail) -> str:
    raw = _text(merged, "name", where, fail) or default
    name = sanitize_filename(raw, default="")
    if not name:
        raise fail(f"name {raw!r} leaves nothing usable as a folder name; use letters or digits", where("name"))
    return name


def _music_items(merged: dict, where, fail) -> list[BatchItem]:
    from lantern_studio.engines.music.presets import preset_ids

    engine = _text(merged, "engine", where, fail) or "composer"
    if engine not in ENGINES:
        raise fail(f"engine {engine!r} is not one of {', '.join(ENGINES)}", where("engine"))
    preset = _text(merged, "preset", where, fail)
    prompt = _text(merged, "prompt", where, fail)
    if engine == "composer" and preset is not None and preset not in preset_ids():
        raise fail(f"preset {preset!r} is not one of {', '.join(preset_ids())}", where("preset"))
    if preset is None and prompt is None:
        raise fail("a music item needs a preset = \"...\" or a prompt = \"...\"", where("preset"))
    if "seed" in merged and "seeds" in merged:
        raise fail("give seed = N or seeds = [N, ...], not both", where("seeds"))
    if "seeds" in merged:
        seeds = merged["seeds"]
        if not isinstance(seeds, list) or not seeds:
            raise fail("seeds must be a list of whole numbers, e.g. seeds = [1, 2, 3]", where("seeds"))
        seeds = [_seed(s, "seeds", where, fail) for s in seeds]
        if len(set(seeds)) != len(seeds):
            raise fail("seeds lists a seed twice; each seed makes the same take", where("seeds"))
    elif "seed" in merged:
        seeds = [_seed(merged["seed"], "seed", where, fail)]
    else:
        raise fail("a music item needs seed = N or seeds = [N, ...], so a rerun makes the same takes",
                   where("seeds"))
    duration_s = _number(merged, "duration_s", where, fail, DEFAULT_MUSIC_DURATION_S)
    model = _text(merged, "model", where, fail)
    if model is not None and engine != "musicgen":
        raise fail("model is for engine = \"musicgen\"; leave it out for the composer", where("model"))
    base_name = _item_name(merged, preset or "prompt", where, fail)
    return [BatchItem(name=f"{base_name}-s{seed}", kind="music", line=where("name") if "name" in merged else where("seeds"),
                      options={"engine": engine, "preset": preset, "prompt": prompt, "seed": seed,
                               "duration_s": duration_s, "model": model})
            for seed in seeds]


def _input_file(value: str, key: str, base: Path, where, fail) -> Path:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise fail(f"{key}: no such file {str(path)!r} (paths are relative to the plan's folder)", where(key))
    return path


def _animatic_item(merged: dict, where, fail, *, base: Path, project_dir: str | Path | None) -> BatchItem:
    from lantern_studio.engines.story.script import ScriptError, parse_script, read_script_file
    from lantern_studio.engines.story.shots import plan_shots

    script_value = _text(merged, "script", where, fail, required=True)
    script = _input_file(script_value, "script", base, where, fail)
    try:
        board = plan_shots(parse_script(read_script_file(script)))
    except (ScriptError, ValueError) as error:
        raise fail(f"script {script.name}: {error}", where("script")) from None
    fmt = merged.get("format", "9:16")
    if fmt not in FORMATS:
        raise fail(f"format {fmt!r} is not one of {', '.join(FORMATS)}", where("format"))
    fps = merged.get("fps", 24)
    if isinstance(fps, bool) or fps not in FPS_CHOICES:
        raise fail(f"fps {fps!r} is not one of {', '.join(map(str, FPS_CHOICES))}", where("fps"))
    no_video = merged.get("no_video", False)
    if not isinstance(no_video, bool):
        raise fail("no_video must be true or false", where("no_video"))
    voices = merged.get("voices")
    if voices is not None and voices not in VOICE_MODES:
        raise fail(f"voices {voices!r} is not one of {', '.join(VOICE_MODES)}", where("voices"))
    inputs = {f"script/{script.name}": script}
    options: dict[str, Any] = {"format": fmt, "fps": fps, "no_video": no_video, "script": f"script/{script.name}",
                               "music": None, "music_preset": None, "dialogue": []}
    if voices is not None:
        options["voices"] = voices
    music = _text(merged, "music", where, fail)
    music_preset = _text(merged, "music_preset", where, fail)
    if music and music_preset:
        raise fail("give music (a file or take) or music_preset (a take made for this item), not both",
                   where("music_preset"))
    if music:
        path = _music_path(music, base, project_dir)
        if path is None:
            raise fail(f"music {music!r} is neither an audio file (relative to the plan) nor a take id of the "
                       f"project {project_dir}; pass an audio file, a take id with --project, or music_preset",
                       where("music"))
        options["music"] = f"music/{path.name}"
        inputs[options["music"]] = path
    if music_preset:
        from lantern_studio.engines.music.presets import preset_ids

        if music_preset not in preset_ids():
            raise fail(f"music_preset {music_preset!r} is not one of {', '.join(preset_ids())}",
                       where("music_preset"))
        options["music_preset"] = music_preset
        options["music_seed"] = _seed(merged.get("music_seed", 0), "music_seed", where, fail)
        options["music_duration_s"] = _number(merged, "music_duration_s", where, fail, max(board.duration_s, 11.0))
    dialogue = merged.get("dialogue", [])
    if not isinstance(dialogue, list) or not all(isinstance(d, str) for d in dialogue):
        raise fail("dialogue must be a list of files, e.g. dialogue = [\"voices/shot-1.wav\"]", where("dialogue"))
    for value in dialogue:
        path = _input_file(value, "dialogue", base, where, fail)
        key = f"dialogue/{path.name}"
        if key in inputs:
            raise fail(f"dialogue names two files called {path.name}; each line's file name says its shot",
                       where("dialogue"))
        inputs[key] = path
        options["dialogue"].append(key)
    name = _item_name(merged, script.stem, where, fail)
    return BatchItem(name=name, kind="animatic", options=options, inputs=inputs,
                     line=where("name") if "name" in merged else where("script"))


def _music_path(music: str, base: Path, project_dir: str | Path | None) -> Path | None:
    path = Path(music).expanduser()
    path = path if path.is_absolute() else base / path
    if path.is_file():
        return path
    if project_dir is None:
        return None
    from lantern_studio.engines.music.takes import TakeStore
    from lantern_studio.engines.project import Project, ProjectError

    try:
        found = TakeStore(Project.open(Path(project_dir), create=False)).audio_path(music)
    except (ProjectError, KeyError, ValueError, OSError):
        return None
    return Path(found) if found is not None and Path(found).is_file() else None
