"""`launch.py batch` installs the scale extra (Ray) on first use, and an environment installed from the dev lock,
which holds Ray too, serves it without a reinstall."""

from __future__ import annotations

from lantern_testkit import load_launcher

launch = load_launcher()
PYPROJECT = "[project]\nname='x'\n"


def stamp(extras: tuple[str, ...]) -> dict:
    lock_text = launch.lock_path(extras).read_text(encoding="utf-8")
    return launch.wanted_stamp(PYPROJECT, extras, lock_text)


def test_batch_wants_the_scale_lock_which_holds_ray_and_the_base_lock_does_not():
    assert launch.EXTRAS_FOR["batch"] == ("scale",)
    assert "ray" in launch.parse_pins(launch.lock_path(("scale",)).read_text(encoding="utf-8"))
    assert "ray" in launch.parse_pins(launch.lock_path(("dev",)).read_text(encoding="utf-8"))
    assert "ray" not in launch.parse_pins(launch.lock_path(()).read_text(encoding="utf-8"))


def test_the_dev_environment_serves_batch_and_a_base_one_installs_the_extra():
    assert launch.stamp_satisfies(stamp(("dev",)), stamp(("scale",)))
    assert not launch.stamp_satisfies(stamp(()), stamp(("scale",)))
    # a scale environment serves the studio, but not the tests
    assert launch.stamp_satisfies(stamp(("scale",)), stamp(()))
    assert not launch.stamp_satisfies(stamp(("scale",)), stamp(("dev",)))


def test_a_changed_dev_lock_still_reinstalls():
    found = {**stamp(("dev",)), "lock_sha256": "0" * 64}
    assert not launch.stamp_satisfies(found, stamp(("dev",)))


def test_the_scale_lock_pins_the_shared_packages_at_the_dev_versions():
    dev = launch.parse_pins(launch.lock_path(("dev",)).read_text(encoding="utf-8"))
    scale = launch.parse_pins(launch.lock_path(("scale",)).read_text(encoding="utf-8"))
    assert {name: dev.get(name) for name in scale} == scale


def test_first_batch_in_a_studio_environment_installs_the_scale_lock(tmp_path):
    from pathlib import Path

    args = launch.parse_args(["batch", "plan.toml"])
    assert args.command == "batch" and args.plan == "plan.toml"
    wanted = stamp(launch.EXTRAS_FOR[args.command])
    action, steps = launch.plan_setup(inside_venv=True, venv_exists=True, found_stamp=stamp(()), wanted=wanted,
                                      python="/venv/bin/python", venv_dir=Path("/unused"))
    assert action == "run"
    assert steps[0].command[-2:] == ("-r", str(launch.ROOT / "requirements-scale.lock"))
