#!/usr/bin/env python3
"""Lantern Studio: set-up, start-up and command line in one file.

``python launch.py`` on a fresh machine creates ``.venv`` beside this file (unless it already runs
inside a virtual environment), installs the project into it, installs audiocraft without its stale
pins, and starts the studio at http://127.0.0.1:7860. Later runs find everything installed and start
in seconds. ``python launch.py test`` does the same set-up and runs the test suite.

Only the standard library is used until set-up is done: this file must run on a bare Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV_DIR = ROOT / ".venv"
STAMP_NAME = "lantern-bootstrap.json"
# audiocraft 1.3.0's metadata pins torch 2.1.0, which cannot run on current GPUs: install it without
# its dependencies; pyproject.toml declares the ones it really needs.
AUDIOCRAFT_SPEC = "audiocraft==1.3.0"
SUBCOMMANDS = ("studio", "test", "doctor", "compose", "storyboard", "bench")
# the extras each subcommand needs on top of the base install
EXTRAS_FOR = {"test": ("dev",), "bench": ("dev",)}


# --------------------------------------------------------------------------------------------
# command line (stdlib only, so `--help` works before set-up)
# --------------------------------------------------------------------------------------------


def _add_studio_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("studio options (the default command)")
    group.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; others need --auth)")
    group.add_argument("--port", type=int, default=None, help="port to serve on (default 7860)")
    group.add_argument("--share", action="store_true", help="open a public Gradio link (refused without --auth)")
    group.add_argument("--auth", default=None, metavar="USER:PASSWORD", help="require this login")
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

    bench = sub.add_parser("bench", help="measure real-time factors and fps against the usual tools")
    bench.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    bench.add_argument("--only", default=None, help="comma list: mix,dsp,composite,composer,musicgen,animatic")
    bench.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    bench.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON")
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


def wanted_stamp(pyproject_text: str, extras: tuple[str, ...]) -> dict:
    """What an up-to-date environment must have been installed from."""
    digest = hashlib.sha256(pyproject_text.encode("utf-8")).hexdigest()
    return {"pyproject_sha256": digest, "audiocraft": AUDIOCRAFT_SPEC, "extras": sorted(extras)}


def stamp_satisfies(found: dict | None, wanted: dict) -> bool:
    if not found:
        return False
    return (
        found.get("pyproject_sha256") == wanted["pyproject_sha256"]
        and found.get("audiocraft") == wanted["audiocraft"]
        and set(wanted["extras"]) <= set(found.get("extras", []))
    )


@dataclass(frozen=True)
class Step:
    title: str
    command: tuple[str, ...]
    hint: str


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
    extras = wanted["extras"]
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    return [
        Step("upgrade pip", (python, "-m", "pip", "install", "--upgrade", "pip"),
             "check your network connection or package index settings"),
        Step("install Lantern Studio and its dependencies", (python, "-m", "pip", "install", "-e", target),
             "read pip's message above; a missing compiler or an unreachable index are the usual causes"),
        Step(f"install {AUDIOCRAFT_SPEC} without its stale pins",
             (python, "-m", "pip", "install", "--no-deps", AUDIOCRAFT_SPEC),
             "audiocraft is needed only for MusicGen; the embedded composer works without it"),
    ]


def read_stamp(prefix: Path) -> dict | None:
    try:
        return json.loads((prefix / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_stamp(prefix: Path, stamp: dict) -> None:
    tmp = prefix / (STAMP_NAME + ".tmp")
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(tmp, prefix / STAMP_NAME)


def run_steps(steps: list[Step]) -> None:
    for number, step in enumerate(steps, 1):
        print(f"[set-up {number}/{len(steps)}] {step.title}", flush=True)
        result = subprocess.run(step.command)
        if result.returncode != 0:
            print(f"\nSet-up failed while trying to {step.title}.\n  command: {' '.join(step.command)}\n"
                  f"  exit status: {result.returncode}\n  what to try: {step.hint}", file=sys.stderr)
            sys.exit(result.returncode or 1)


def ensure_environment(args: argparse.Namespace, argv: list[str]) -> None:
    """Make sure the running interpreter has everything; re-exec into .venv when needed."""
    extras = EXTRAS_FOR.get(args.command, ())
    wanted = wanted_stamp((ROOT / "pyproject.toml").read_text(encoding="utf-8"), extras)
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
    sys.path.insert(0, str(ROOT))
    if args.command == "test":
        return run_tests(args.pytest_args)
    from engines.settings import Settings, SettingsError, apply_process_environment

    try:
        settings = Settings.resolve(args)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    apply_process_environment(settings)
    if args.command == "studio":
        from studio.app import serve

        return serve(settings)
    if args.command == "doctor":
        from engines.doctor import print_report

        return print_report(settings)
    if args.command == "compose":
        from engines.cli.compose import run

        return run(args, settings)
    if args.command == "storyboard":
        from engines.cli.storyboard import run

        return run(args, settings)
    if args.command == "bench":
        from benchmarks.runner import main

        return main(args, settings)
    raise AssertionError(args.command)


def run_tests(pytest_args: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", *pytest_args]
    print("[test] " + " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    ensure_environment(args, argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
