#!/usr/bin/env python3
"""Lantern Studio: set-up, start-up and command line in one file.

``python launch.py`` on a fresh machine creates ``.venv`` beside this file (unless it already runs
inside a virtual environment), installs the exact versions of ``requirements.lock`` into it (audiocraft
included, without its stale pins), then the project itself, and starts the studio at
http://127.0.0.1:7860. Later runs find everything installed and start in seconds. ``python launch.py test``
does the same set-up from ``requirements-dev.lock`` and runs the test suite. ``python launch.py lock``
regenerates both locks from ``pyproject.toml`` with ``uv pip compile``.

Only the standard library is used until set-up is done: this file must run on a bare Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_DIR = ROOT / ".venv"
STAMP_NAME = "lantern-bootstrap.json"
# audiocraft 1.3.0's metadata pins torch 2.1.0, which cannot run on current GPUs. It is locked and
# installed without its dependencies; pyproject.toml declares the ones it really needs. pip is locked
# beside it so the installer itself cannot move either.
NO_DEPS_PINS = ("audiocraft==1.3.0", "pip==26.3")
AUDIOCRAFT_SPEC = NO_DEPS_PINS[0]
SUBCOMMANDS = ("studio", "test", "doctor", "compose", "storyboard", "bench", "batch", "lock")
# the extras each subcommand needs on top of the base install
EXTRAS_FOR = {"test": ("dev",), "bench": ("dev",), "lock": ("dev",), "batch": ("scale",)}
# extras whose packages another extra's lock already holds (dev lists ray so the tests run real Ray)
EXTRAS_WITHIN = {"dev": ("scale",)}
# one lock file per set of extras: every package of that environment at an exact version, with hashes
# (dev first: it holds the most packages, so the others are resolved within its versions)
LOCK_FILES = {(): "requirements.lock", ("dev",): "requirements-dev.lock", ("scale",): "requirements-scale.lock"}
# the platform the locks are resolved for (the studio's supported one: CPython 3.11 on Linux x86_64)
LOCK_PLATFORM = ("--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28")
# free disk the locked install needs where the environment lives: the CUDA build of torch with its NVIDIA
# libraries and triton make up most of an environment of about 8 GiB, and pip holds the downloaded wheels
# beside what it has unpacked until the install ends
INSTALL_FREE_BYTES = 10 * 2**30


# --------------------------------------------------------------------------------------------
# command line (stdlib only, so `--help` works before set-up)
# --------------------------------------------------------------------------------------------


def _add_studio_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("studio options (the default command)")
    group.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; others need --auth)")
    group.add_argument("--port", type=int, default=None, help="port to serve on (default 7860)")
    group.add_argument("--share", action="store_true", help="open a public Gradio link (refused without --auth)")
    group.add_argument("--auth", default=None, metavar="USER:PASSWORD",
                       help="require this login; other users of this machine can read it in `ps`, so prefer "
                            "--auth-file or the LANTERN_AUTH variable")
    group.add_argument("--auth-file", default=None, metavar="FILE",
                       help="require the login USER:PASSWORD written in FILE (chmod 600); kept out of `ps`")
    group.add_argument("--allowed-host", action="append", default=None, metavar="NAME",
                       help="a host name browsers may use to reach the studio besides its address and localhost "
                            "(repeatable); requests naming any other host are refused")
    group.add_argument("--no-browser", action="store_true", help="do not open a browser window")


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", default=None, metavar="DIR", help="project folder to open (created if missing)")
    parser.add_argument("--models-dir", default=None, metavar="DIR", help="where local model weights live")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda", "mps"), help="compute device")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python launch.py",
        description="Lantern Studio: festival music, variations, comic-drama storyboards and benchmarks, offline.",
        epilog="With no command, `studio` runs. Set-up (a .venv beside launch.py) happens on first use.",
    )
    _add_common_options(parser)
    _add_studio_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    studio = sub.add_parser("studio", help="start the studio in the browser (default)")
    _add_common_options(studio)
    _add_studio_options(studio)

    test = sub.add_parser("test", help="run the test suite (extra arguments go to pytest)")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments passed to pytest")

    doctor = sub.add_parser("doctor", help="print what the studio found on this machine")
    _add_common_options(doctor)

    compose = sub.add_parser("compose", help="make a festival tune and write its files")
    _add_common_options(compose)
    compose.add_argument("--engine", default="composer", choices=("composer", "musicgen"))
    compose.add_argument("--preset", default=None, help="preset name, e.g. lion-dance")
    compose.add_argument("--prompt", default=None, help="text prompt (Chinese or English)")
    compose.add_argument("--seed", type=int, default=None)
    compose.add_argument("--duration", type=float, default=None, help="seconds")
    compose.add_argument("--takes", type=int, default=1, help="number of takes (1-8)")
    compose.add_argument("--model", default=None, help="MusicGen model name or directory")
    compose.add_argument("--melody", default=None, help="audio file to use as the melody (melody models)")
    compose.add_argument("--extend-to", dest="extend_to", type=float, default=None, metavar="SECONDS",
                         help="MusicGen: also extend each take to this many seconds (long form)")
    compose.add_argument("--out", required=True, metavar="DIR", help="output folder")

    storyboard = sub.add_parser("storyboard", help="turn a script into a shot list, pages and an animatic")
    _add_common_options(storyboard)
    storyboard.add_argument("script", help="Fountain or plain-text script file")
    storyboard.add_argument("--out", required=True, metavar="DIR", help="output folder")
    storyboard.add_argument("--music", default=None, help="music take or audio file for the animatic")
    storyboard.add_argument("--dialogue", nargs="+", default=None, metavar="FILE",
                            help="recorded lines for the animatic, one per shot, named after it (shot-3.wav)")
    storyboard.add_argument("--format", default="9:16", choices=("9:16", "16:9", "1:1"))
    storyboard.add_argument("--fps", type=int, default=24, choices=(24, 25, 30))
    storyboard.add_argument("--no-video", action="store_true", help="write pages only")
    storyboard.add_argument("--voices", default="auto", choices=("auto", "placeholder", "none"),
                            help="speak lines without a --dialogue file in each character's voice (auto, into "
                                 "OUT/voices/), use stand-in tones (placeholder) or leave them silent (none)")
    storyboard.add_argument("--max-script-lines", type=int, default=None, metavar="N",
                            help="refuse scripts longer than N lines (default 10000, or LANTERN_MAX_SCRIPT_LINES)")
    storyboard.add_argument("--max-shots", type=int, default=None, metavar="N",
                            help="refuse scripts that plan more than N shots (default 1000, or LANTERN_MAX_SHOTS)")
    storyboard.add_argument("--from-prose", "--prose", dest="from_prose", action="store_true",
                            help="the file is a novel chapter (小说推文): quotes become dialogue, the rest narration")
    storyboard.add_argument("--llm", default=None, metavar="MODEL",
                            help="with --from-prose (implied): let a local GGUF language model (a file, or its name "
                                 "in the models folder) regroup the shots and name the speakers")
    storyboard.add_argument("--timeline", default=None, metavar="FORMATS",
                            help="also write the animatic as editable timelines into DIR/timeline/: a comma list of "
                                 "jianying (a 剪映 draft folder), fcpxml (FCP 7 XML), otio, edl")

    bench = sub.add_parser("bench", help="measure real-time factors and fps against the usual tools")
    bench.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    bench.add_argument("--only", default=None, help="comma list: mix,dsp,composite,composer,musicgen,animatic")
    bench.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    bench.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON")

    batch = sub.add_parser("batch", help="render a plan of music takes and animatics as Ray tasks (installs Ray)")
    _add_common_options(batch)
    batch.add_argument("plan", help="a TOML plan, or a folder of scripts (one animatic each)")
    batch.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the plan's out, else "
                                                                  "batch-out beside it)")
    batch.add_argument("--address", default=None, help="a Ray cluster: HOST:PORT, ray://HOST:10001 or auto "
                                                       "(default RAY_ADDRESS, else Ray starts here on 127.0.0.1)")
    batch.add_argument("--workers", type=int, default=None, help="items at once when Ray starts here (default: cores)")
    batch.add_argument("--retries", type=int, default=2, help="further tries of an item that failed (default 2)")
    batch.add_argument("--format", default=None, choices=("9:16", "16:9", "1:1"), help="default animatic format")
    batch.add_argument("--fps", type=int, default=None, choices=(24, 25, 30), help="default animatic frame rate")
    batch.add_argument("--music-preset", default=None, help="default: compose a take with this preset per animatic")
    batch.add_argument("--no-video", action="store_true", help="default: pages only, no animatic video")

    lock = sub.add_parser("lock", help="regenerate requirements*.lock from pyproject.toml (needs the index)")
    lock.add_argument("--check", action="store_true",
                      help="instead, compare this environment (pip freeze) with its lock and fail on any difference")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    if argv[:1] == ["test"]:
        # everything after `test` belongs to pytest, options included (argparse.REMAINDER drops `-k`)
        args = build_parser().parse_args(["test"])
        args.pytest_args = list(argv[1:])
        return args
    args = build_parser().parse_args(argv)
    if args.command is None:
        args.command = "studio"
    return args


# --------------------------------------------------------------------------------------------
# set-up decisions (pure functions, unit-tested) and their execution
# --------------------------------------------------------------------------------------------


def in_virtualenv() -> bool:
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


def venv_python(venv_dir: Path) -> Path:
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def lock_path(extras: tuple[str, ...]) -> Path:
    """The lock file an environment with ``extras`` installs from."""
    return ROOT / LOCK_FILES[tuple(sorted(extras))]


def wanted_stamp(pyproject_text: str, extras: tuple[str, ...], lock_text: str = "") -> dict:
    """What an up-to-date environment must have been installed from."""
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    return {"pyproject_sha256": digest(pyproject_text), "lock_sha256": digest(lock_text),
            "audiocraft": AUDIOCRAFT_SPEC, "extras": sorted(extras)}


def stamp_satisfies(found: dict | None, wanted: dict) -> bool:
    """Whether an environment stamped ``found`` serves ``wanted``.

    The same pyproject and audiocraft always; the same lock, or a lock with more extras (the dev lock also
    serves the studio, whose pins it shares: both are resolved from one pyproject.toml).
    """
    if not found:
        return False
    same_sources = (found.get("pyproject_sha256") == wanted["pyproject_sha256"]
                    and found.get("audiocraft") == wanted["audiocraft"])
    found_extras = set(found.get("extras", []))
    held = found_extras | {inner for extra in found_extras for inner in EXTRAS_WITHIN.get(extra, ())}
    more_extras = set(wanted["extras"]) <= held and set(wanted["extras"]) != found_extras
    same_lock = found.get("lock_sha256") == wanted["lock_sha256"] and set(wanted["extras"]) == set(found.get("extras", []))
    return same_sources and (same_lock or more_extras)


@dataclass(frozen=True)
class Step:
    title: str
    command: tuple[str, ...]
    hint: str
    # the folder whose disk must have ``free_bytes`` free for this step (checked before and after it runs)
    space_at: Path | None = None
    free_bytes: int = 0


def plan_setup(*, inside_venv: bool, venv_exists: bool, found_stamp: dict | None, wanted: dict,
               python: str, venv_dir: Path) -> tuple[str, list[Step]]:
    """Decide what set-up needs doing.

    Returns ``(action, steps)`` where action is ``"run"`` (this interpreter is ready after ``steps``)
    or ``"reexec"`` (create/fill ``venv_dir`` with ``steps``, then run again with its Python).
    """
    if not inside_venv:
        # the re-executed interpreter, inside the venv, checks its own stamp and installs what is missing
        if venv_exists:
            return "reexec", []
        return "reexec", [Step(f"create the virtual environment {venv_dir}", (python, "-m", "venv", str(venv_dir)),
                               "check that Python's venv module is installed (Debian: apt-get install python3-venv)")]
    if stamp_satisfies(found_stamp, wanted):
        return "run", []
    return "run", _install_steps(python, wanted)


def _install_steps(python: str, wanted: dict) -> list[Step]:
    lock = lock_path(tuple(wanted["extras"]))
    return [
        # --no-deps: the lock already lists every package; resolving again could only disagree with it
        # (audiocraft's metadata would pull torch 2.1.0 back in). --no-cache-dir: a locked install runs once
        # per lock change, so a second copy of every downloaded wheel in pip's cache only costs disk.
        Step(f"install the locked dependencies ({lock.name})",
             (python, "-m", "pip", "install", "--require-hashes", "--no-deps", "--no-cache-dir", "-r", str(lock)),
             "read pip's message above; an unreachable index or a hash mismatch (a corrupted download) are the "
             "usual causes; after editing pyproject.toml, run `python launch.py lock`",
             space_at=Path(python).parent, free_bytes=INSTALL_FREE_BYTES),    # the environment's bin folder
        Step("install Lantern Studio itself (editable)",
             (python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(ROOT)),
             "read pip's message above; setuptools comes from the lock"),
    ]


# --------------------------------------------------------------------------------------------
# the locks: generated from pyproject.toml, compared with what is installed
# --------------------------------------------------------------------------------------------


def _canonical(name: str) -> str:
    """PEP 503 name normalisation (``PyYAML`` and ``pyyaml``, ``hydra_colorlog`` and ``hydra-colorlog``)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a lock or of ``pip freeze`` as ``{canonical name: version}``.

    Hash continuation lines, comments and editable (``-e``) lines are not pins and are left out.
    """
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip().rstrip("\\").strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[_canonical(name.split("[", 1)[0].strip())] = version.split(";", 1)[0].strip()
    return pins


def pin_differences(locked: dict[str, str], installed: dict[str, str], *, ignore: tuple[str, ...] = ()) -> list[str]:
    """Human-readable lines for every package whose installed version differs from the lock."""
    lines = []
    for name in sorted(set(locked) | set(installed)):
        if name in ignore:
            continue
        want, have = locked.get(name), installed.get(name)
        if want == have:
            continue
        if have is None:
            lines.append(f"- {name}=={want} is locked but not installed")
        elif want is None:
            lines.append(f"+ {name}=={have} is installed but not in the lock")
        else:
            lines.append(f"~ {name}: locked {want}, installed {have}")
    return lines


def check_lock(extras: tuple[str, ...]) -> int:
    """Compare ``pip freeze --all`` of this interpreter with its lock; print the differences."""
    lock = lock_path(extras)
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                            check=True).stdout
    differences = pin_differences(parse_pins(lock.read_text(encoding="utf-8")), parse_pins(freeze),
                                  ignore=("lantern-studio",))
    if differences:
        print(f"The environment {sys.prefix} differs from {lock.name}:", *differences, sep="\n")
        print("Run `python launch.py` (or `launch.py test`) to reinstall from the lock, or, if pyproject.toml "
              "changed on purpose, `python launch.py lock`.")
        return 1
    print(f"The environment {sys.prefix} matches {lock.name}: {len(parse_pins(freeze)) - 1} packages.")
    return 0


def write_locks() -> int:
    """Regenerate every lock with ``uv pip compile``: pyproject.toml's dependencies (with each lock's extras)
    resolved for CPython 3.11 on Linux x86_64 with hashes, then the no-deps pins appended with theirs."""
    import shutil
    import tempfile

    uv = (shutil.which("uv", path=str(venv_python(VENV_DIR).parent)) or shutil.which("uv", path=str(Path(sys.executable).parent))
          or shutil.which("uv"))
    if uv is None:
        print("error: uv is not installed; run `python launch.py test` once (the dev lock installs it into .venv), "
              "or `pip install uv`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        no_deps_in = Path(scratch) / "no-deps.in"
        no_deps_in.write_text("\n".join(NO_DEPS_PINS) + "\n", encoding="utf-8")
        no_deps_out = Path(scratch) / "no-deps.txt"
        _run_uv([uv, "pip", "compile", str(no_deps_in), "--no-deps", "--generate-hashes", "--no-header", "--no-annotate", "-q",
                 *LOCK_PLATFORM, "-o", str(no_deps_out)])
        no_deps = no_deps_out.read_text(encoding="utf-8")
        # the lock with the most extras first; every other lock is constrained to its versions, so a package
        # shared by two environments is the same version in both
        constraints = Path(scratch) / "constraints.txt"
        for extras, name in sorted(LOCK_FILES.items(), key=lambda item: -len(item[0])):
            command = [uv, "pip", "compile", "pyproject.toml", "-q", "--generate-hashes", "--no-header", *LOCK_PLATFORM]
            for extra in extras:
                command += ["--extra", extra]
            out = Path(scratch) / name
            constrained = ["-c", str(constraints)] if constraints.exists() else []
            _run_uv([*command, *constrained, "-o", str(out)])
            body = out.read_text(encoding="utf-8").replace(f"-c {constraints}", "the versions of the larger lock")
            if not constrained:
                constraints.write_text("\n".join(f"{n}=={v}" for n, v in parse_pins(out.read_text(encoding="utf-8")).items()),
                                       encoding="utf-8")
            header = (f"# {name}: every package of the {'+'.join(('base', *extras))} environment, exactly.\n"
                      f"# Generated by `python launch.py lock` (uv pip compile {' '.join(command[5:])});\n"
                      "# do not edit by hand. `launch.py` installs it with pip --require-hashes --no-deps.\n")
            tail = ("\n# Installed without their dependencies: audiocraft's metadata pins torch 2.1.0, which cannot\n"
                    "# run on current GPUs (pyproject.toml declares what it really needs); pip is the installer.\n")
            (ROOT / name).write_text(header + body + tail + no_deps, encoding="utf-8")
            print(f"wrote {name}")
    return 0


def _run_uv(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"error: `{' '.join(command)}` failed (exit {result.returncode}); read uv's message above")


def read_stamp(prefix: Path) -> dict | None:
    try:
        return json.loads((prefix / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_stamp(prefix: Path, stamp: dict) -> None:
    tmp = prefix / (STAMP_NAME + ".tmp")
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(tmp, prefix / STAMP_NAME)


def disk_shortage(step: Step) -> str | None:
    """A sentence on how much free disk ``step`` lacks where it installs, or None when it has enough."""
    if step.space_at is None or not step.free_bytes:
        return None
    folder = step.space_at
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent          # the venv may not exist yet: its disk is its nearest existing parent's
    free = shutil.disk_usage(folder).free
    if free >= step.free_bytes:
        return None
    return (f"the disk holding {step.space_at} has {free / 2**30:.1f} GiB free, and this step needs about "
            f"{step.free_bytes / 2**30:.0f} GiB; free some space (or clone the project onto a larger disk) "
            "and run the same command again: what was installed is kept")


def run_steps(steps: list[Step]) -> None:
    for number, step in enumerate(steps, 1):
        print(f"[set-up {number}/{len(steps)}] {step.title}", flush=True)
        if shortage := disk_shortage(step):
            print(f"[set-up] warning: {shortage}", file=sys.stderr, flush=True)
        result = subprocess.run(step.command)
        if result.returncode != 0:
            hint = f"{shortage}; otherwise {step.hint}" if (shortage := disk_shortage(step)) else step.hint
            print(f"\nSet-up failed while trying to {step.title}.\n  command: {' '.join(step.command)}\n"
                  f"  exit status: {result.returncode}\n  what to try: {hint}", file=sys.stderr)
            sys.exit(result.returncode or 1)


def ensure_environment(args: argparse.Namespace, argv: list[str]) -> None:
    """Make sure the running interpreter has everything; re-exec into .venv when needed."""
    extras = EXTRAS_FOR.get(args.command, ())
    wanted = wanted_stamp((ROOT / "pyproject.toml").read_text(encoding="utf-8"), extras,
                          lock_path(extras).read_text(encoding="utf-8"))
    inside = in_virtualenv()
    found = read_stamp(Path(sys.prefix)) if inside else None
    action, steps = plan_setup(inside_venv=inside, venv_exists=venv_python(VENV_DIR).exists(), found_stamp=found,
                               wanted=wanted, python=sys.executable, venv_dir=VENV_DIR)
    if action == "reexec":
        run_steps(steps)
        python = str(venv_python(VENV_DIR))
        print(f"[set-up] continuing in {VENV_DIR}", flush=True)
        command = [python, str(ROOT / "launch.py"), *argv]
        if os.name == "posix":
            os.execv(python, command)      # become the venv's Python: signals reach the studio directly
        sys.exit(subprocess.run(command).returncode)
    if steps:
        run_steps(steps)
        write_stamp(Path(sys.prefix), wanted)
        print("[set-up] done", flush=True)


# --------------------------------------------------------------------------------------------
# commands (imported only after set-up)
# --------------------------------------------------------------------------------------------


def run_command(args: argparse.Namespace) -> int:
    if args.command == "test":
        return run_tests(args.pytest_args)
    if args.command == "lock":
        return check_lock(EXTRAS_FOR["lock"])
    from lantern_studio.engines.settings import Settings, SettingsError, apply_process_environment

    try:
        settings = Settings.resolve(args)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    apply_process_environment(settings)
    from lantern_studio.engines.run_temp import RunTempError, claim

    try:
        claim(settings.temp_dir)          # this run's own temp folder, removed at exit
    except (RunTempError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "studio":
        from lantern_studio.studio.app import serve

        return serve(settings)
    if args.command == "doctor":
        from lantern_studio.engines.doctor import print_report

        return print_report(settings)
    if args.command == "compose":
        from lantern_studio.engines.cli.compose import run

        return run(args, settings)
    if args.command == "storyboard":
        from lantern_studio.engines.cli.storyboard import run

        return run(args, settings)
    if args.command == "batch":
        from lantern_studio.engines.cli.batch import run

        return run(args, settings)
    if args.command == "bench":
        from lantern_studio.benchmarks.runner import main

        return main(args, settings)
    raise AssertionError(args.command)


def run_tests(pytest_args: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", *pytest_args]
    print("[test] " + " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.command == "lock" and not args.check:
        return write_locks()            # needs only uv and the index, never the environment it regenerates
    ensure_environment(args, argv)
    try:
        return run_command(args)
    except _user_errors() as error:    # a damaged or foreign project folder is the user's to fix: no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message says what to do (imported only once set-up has made the package importable)."""
    from lantern_studio.engines.project import ProjectError

    return (ProjectError,)


if __name__ == "__main__":
    sys.exit(main())
