"""The bootstrap's decisions (inside/outside a venv, what is installed from which lock) and the command line,
without pip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lantern_testkit import load_launcher

launch = load_launcher()
WANTED = launch.wanted_stamp("[project]\nname='x'\n", ("dev",), "torch==2.14.1 \\\n    --hash=sha256:00\n")


def test_outside_a_venv_without_one_creates_it_then_reexecs(tmp_path):
    action, steps = launch.plan_setup(inside_venv=False, venv_exists=False, found_stamp=None, wanted=WANTED,
                                      python="/usr/bin/python3", venv_dir=tmp_path / ".venv")
    assert action == "reexec"
    assert [s.command[1:3] for s in steps] == [("-m", "venv")]
    assert steps[0].command[-1] == str(tmp_path / ".venv")


def test_outside_a_venv_that_exists_just_reexecs(tmp_path):
    action, steps = launch.plan_setup(inside_venv=False, venv_exists=True, found_stamp=None, wanted=WANTED,
                                      python="/usr/bin/python3", venv_dir=tmp_path / ".venv")
    assert (action, steps) == ("reexec", [])


def test_inside_a_fresh_venv_installs_the_lock_with_hashes_then_the_project_without_resolving():
    action, steps = launch.plan_setup(inside_venv=True, venv_exists=True, found_stamp=None, wanted=WANTED,
                                      python="/venv/bin/python", venv_dir=Path("/unused"))
    assert action == "run"
    commands = [s.command for s in steps]
    lock, project = commands
    assert lock[-2:] == ("-r", str(launch.ROOT / "requirements-dev.lock"))
    assert "--require-hashes" in lock and "--no-deps" in lock
    # the project itself adds no package: its dependencies all came from the lock
    assert "--no-deps" in project and project[-2:] == ("-e", str(launch.ROOT))
    assert all(c[0] == "/venv/bin/python" for c in commands)


def test_inside_an_up_to_date_venv_installs_nothing():
    action, steps = launch.plan_setup(inside_venv=True, venv_exists=True, found_stamp=dict(WANTED), wanted=WANTED,
                                      python="/venv/bin/python", venv_dir=Path("/unused"))
    assert (action, steps) == ("run", [])


@pytest.mark.parametrize("change", [
    {"pyproject_sha256": "0" * 64},              # pyproject.toml changed
    {"lock_sha256": "0" * 64},                   # the lock changed (refreshed, or edited by a pull)
    {"audiocraft": "audiocraft==1.2.0"},         # a different audiocraft
    {"extras": []},                              # installed without the dev extra the tests need
])
def test_a_stale_stamp_reinstalls(change):
    found = {**WANTED, **change}
    assert not launch.stamp_satisfies(found, WANTED)
    _, steps = launch.plan_setup(inside_venv=True, venv_exists=True, found_stamp=found, wanted=WANTED,
                                 python="python", venv_dir=Path("/unused"))
    assert steps


def test_a_stamp_with_more_extras_than_needed_is_enough():
    plain = launch.wanted_stamp("[project]\nname='x'\n", (), "another lock")
    assert launch.stamp_satisfies(WANTED, plain)
    assert not launch.stamp_satisfies(plain, WANTED)


def test_stamp_round_trip(tmp_path):
    assert launch.read_stamp(tmp_path) is None
    launch.write_stamp(tmp_path, WANTED)
    assert launch.read_stamp(tmp_path) == WANTED
    (tmp_path / launch.STAMP_NAME).write_text("{not json")
    assert launch.read_stamp(tmp_path) is None


def test_failed_step_names_the_command_and_what_to_try(capsys):
    step = launch.Step("do the impossible", (sys.executable, "-c", "raise SystemExit(3)"), "try something else")
    with pytest.raises(SystemExit) as exit_info:
        launch.run_steps([step])
    assert exit_info.value.code == 3
    err = capsys.readouterr().err
    assert "do the impossible" in err and "raise SystemExit(3)" in err and "try something else" in err


def test_no_command_means_studio_and_options_parse():
    args = launch.parse_args(["--port", "8000", "--project", "/tmp/p"])
    assert (args.command, args.port, args.project) == ("studio", 8000, "/tmp/p")
    args = launch.parse_args(["test", "-k", "mix", "-x"])
    assert args.command == "test" and args.pytest_args == ["-k", "mix", "-x"]
    args = launch.parse_args(["compose", "--preset", "lion-dance", "--seed", "7", "--duration", "60", "--out", "o"])
    assert (args.preset, args.seed, args.duration, args.out) == ("lion-dance", 7, 60.0, "o")
    args = launch.parse_args(["compose", "--engine", "musicgen", "--extend-to", "45", "--out", "o"])
    assert (args.engine, args.extend_to) == ("musicgen", 45.0)


def test_help_lists_subcommands_and_studio_options_on_a_bare_python():
    # the system interpreter, outside any venv: --help must not need set-up
    result = subprocess.run([sys.executable, str(launch.ROOT / "launch.py"), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for word in ("studio", "test", "doctor", "compose", "storyboard", "bench", "lock", "--host", "--port", "--share",
                 "--auth", "--project", "--device"):
        assert word in result.stdout, word


def test_pins_parse_from_a_lock_and_from_pip_freeze_alike():
    lock = ("# header\nPyYAML==6.0.4 \\\n    --hash=sha256:ab \\\n    --hash=sha256:cd\n    # via x\n"
            "hydra_colorlog==1.2.0 ; python_version >= '3.8' \\\n    --hash=sha256:ef\n")
    freeze = "pyyaml==6.0.4\nhydra-colorlog==1.2.0\n-e git+https://example/x#egg=lantern_studio\n"
    assert launch.parse_pins(lock) == launch.parse_pins(freeze) == {"pyyaml": "6.0.4", "hydra-colorlog": "1.2.0"}


def test_pin_differences_name_every_kind_of_drift():
    lines = launch.pin_differences({"a": "1", "b": "2", "c": "3", "me": "0"}, {"a": "1", "b": "2.1", "d": "4"},
                                   ignore=("me",))
    assert lines == ["~ b: locked 2, installed 2.1", "- c==3 is locked but not installed",
                     "+ d==4 is installed but not in the lock"]


def test_a_step_short_of_disk_warns_before_and_says_so_when_it_fails(tmp_path, capsys):
    free = launch.shutil.disk_usage(tmp_path).free
    short = launch.Step("fill the disk", (sys.executable, "-c", "raise SystemExit(1)"), "read pip's message",
                        space_at=tmp_path / "not-made-yet" / ".venv", free_bytes=free * 4)
    with pytest.raises(SystemExit):
        launch.run_steps([short])
    err = capsys.readouterr().err
    # the folder named is the one asked about, though only a parent exists; the numbers come from the disk
    assert err.count(f"the disk holding {short.space_at} has") == 2, err
    assert f"needs about {short.free_bytes / 2**30:.0f} GiB" in err and "read pip's message" in err
    roomy = launch.Step("fit", (sys.executable, "-c", "raise SystemExit(1)"), "read pip's message",
                        space_at=tmp_path, free_bytes=1)
    with pytest.raises(SystemExit):
        launch.run_steps([roomy])
    assert "GiB free" not in capsys.readouterr().err


def test_the_locked_install_checks_the_environment_disk_and_keeps_no_wheel_cache():
    _, steps = launch.plan_setup(inside_venv=True, venv_exists=True, found_stamp=None, wanted=WANTED,
                                 python="/venv/bin/python", venv_dir=Path("/unused"))
    lock_step = steps[0]
    assert "--no-cache-dir" in lock_step.command
    assert lock_step.space_at == Path("/venv/bin") and lock_step.free_bytes >= 8 * 2**30
